import { STATUS_CODES, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";

/** The seed's exact 401 text; curl users see it verbatim. */
export const AUTH_FAILED_MESSAGE = "Invalid authentication credentials";

/** Every failure the proxy answers itself: a stable code, an HTTP status, an OpenAI-style `type`. */
export class ProxyError extends Error {
  /** Extra response headers: Retry-After, OpenAI's x-ratelimit-*. */
  readonly headers: Readonly<Record<string, string>>;
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly type: string = "invalid_request_error",
    options?: { cause?: unknown; headers?: Readonly<Record<string, string>> },
  ) {
    super(message, options);
    this.headers = options?.headers ?? {};
    this.name = "ProxyError";
  }
}

export const badRequest = (reason: string): ProxyError => new ProxyError("bad_request", 400, reason);
/** The refusals anonymous floods trigger are built once: an Error's stack trace is the costliest part of a 401. */
const NOT_FOUND = new ProxyError("route_not_found", 404, "This endpoint is not served. See GET /v1/models for what is available.");
const UNAUTHORIZED = new ProxyError("invalid_api_key", 401, AUTH_FAILED_MESSAGE, "authentication_error");
export const notFound = (): ProxyError => NOT_FOUND;
export const unsupportedTransferCoding = (): ProxyError =>
  new ProxyError("unsupported_transfer_coding", 501, "Transfer-Encoding other than 'chunked' is not supported; send the body as it is, with Content-Length or chunked.");
export const expectationFailed = (): ProxyError =>
  new ProxyError("expectation_failed", 417, "The only supported Expect value is '100-continue'; remove the Expect header or send that.");
export const unauthorized = (): ProxyError => UNAUTHORIZED;
export const bodyTooLarge = (limit: number): ProxyError =>
  new ProxyError("body_too_large", 413, `The request body is larger than the ${limit}-byte limit.`);
export const upstreamNotReady = (): ProxyError =>
  new ProxyError("model_not_ready", 503, "The model server is not ready yet (the model may still be loading); retry shortly.", "service_unavailable");
export const shuttingDown = (): ProxyError =>
  new ProxyError("shutting_down", 503, "This replica is shutting down; retry.", "service_unavailable");
/** A bound was reached (connections busy and their waiting line full, the anonymous share used up): shed at once. */
const OVERLOADED = new ProxyError("overloaded", 503, "The server is at capacity; retry shortly.", "service_unavailable", {
  headers: { "retry-after": "1" },
});
export const overloaded = (): ProxyError => OVERLOADED;
/** Gateway: no replica became ready within the hold's bounds. */
export const noReplica = (reason: "timeout" | "overflow", retryAfterSeconds: number): ProxyError =>
  new ProxyError(
    reason === "timeout" ? "model_not_ready" : "overloaded",
    503,
    reason === "timeout"
      ? "No model server became ready in time (the endpoint may be starting from zero); retry shortly."
      : "Too many requests are waiting for a model server to start; retry shortly.",
    "service_unavailable",
    { headers: { "retry-after": String(retryAfterSeconds) } },
  );
/** A per-key limit: OpenAI's shape (type `requests` or `tokens`), so SDKs back off by themselves. */
export const rateLimited = (limit: string, message: string, headers: Readonly<Record<string, string>>): ProxyError =>
  new ProxyError("rate_limit_exceeded", 429, message, limit === "tpm" ? "tokens" : "requests", { headers });
/** Metering needs the body's usage options: a body that is not UTF-8 JSON cannot be metered, so it is not forwarded. */
export const unreadableBody = (): ProxyError =>
  new ProxyError("invalid_body", 400, "The request body must be a JSON object encoded as UTF-8.");
export const upstreamUnavailable = (cause: unknown): ProxyError =>
  new ProxyError("upstream_unavailable", 502, "The model server could not be reached or closed the connection.", "upstream_error", { cause });
export const upstreamTimeout = (cause: unknown): ProxyError =>
  new ProxyError("upstream_timeout", 504, "The model server did not answer in time.", "upstream_error", { cause });
export const upstreamBadResponse = (cause: unknown): ProxyError =>
  new ProxyError("upstream_bad_response", 502, "The model server answered in a transfer coding the proxy cannot relay.", "upstream_error", { cause });

/** OpenAI clients send `Accept: application/json`; curl sends `*\/*` and gets the seed's plain text. */
export function wantsJson(accept: string | undefined): boolean {
  return accept !== undefined && accept.toLowerCase().includes("application/json");
}

/** Writes a small, complete answer (no body for HEAD); returns the body bytes sent. */
export function reply(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): number {
  const head = res.req.method === "HEAD";
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body), "cache-control": "no-store", ...extra });
  res.end(head ? undefined : body);
  return head ? 0 : Buffer.byteLength(body);
}

export function errorBody(error: ProxyError): string {
  return JSON.stringify({ error: { message: error.message, type: error.type, param: null, code: error.code } });
}

/** Writes the error unless a response has already started (then the connection is cut instead); returns the body bytes sent. */
export function sendError(res: ServerResponse, error: ProxyError, plainText: boolean, close = false): number {
  if (res.headersSent) {
    res.destroy();
    return 0;
  }
  const headers: Record<string, string> = {};
  if (error.status === 401) headers["www-authenticate"] = "Bearer";
  if (error.status === 503) headers["retry-after"] = "5";
  Object.assign(headers, error.headers);
  if (close) headers["connection"] = "close";
  return plainText
    ? reply(res, error.status, "text/plain; charset=utf-8", error.message, headers)
    : reply(res, error.status, "application/json", errorBody(error), headers);
}

/** An answer written on the socket itself, for what never gets a usable response object; closes the connection. Returns the body bytes sent. */
export function writeRawError(socket: Duplex | null, error: ProxyError): number {
  if (socket === null) return 0;
  if (!socket.writable) {
    socket.destroy();
    return 0;
  }
  const body = errorBody(error);
  socket.end(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ""}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
  return Buffer.byteLength(body);
}
