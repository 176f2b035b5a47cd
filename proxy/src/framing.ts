import type { IncomingMessage } from "node:http";
import { badRequest, expectationFailed, unsupportedTransferCoding, type ProxyError } from "./errors";

/** The body length the client announced, if any (Node has already rejected malformed values). */
export function declaredLength(req: IncomingMessage): number | undefined {
  const value = req.headers["content-length"];
  return value === undefined ? undefined : Number(value);
}

/** True when a body is still on the wire: answering without reading it must close the connection. */
export function hasUnreadBody(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}

/** RFC 9112 6.1: `chunked` alone is the only transfer coding a proxy can undo without decoding the body itself. */
export function isChunkedOnly(coding: string | string[]): boolean {
  return String(coding).trim().toLowerCase() === "chunked";
}

export interface FramingProblem {
  readonly error: ProxyError;
  /** The access log's outcome. */
  readonly outcome: string;
}

/** RFC 3986 uri-host (an IP literal or a reg-name, which covers IPv4) with an optional port; empty is allowed (RFC 9112 3.2). */
const HOST_VALUE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?$/;

/**
 * What Node's parser accepts but a request the proxy forwards must not carry: every check reads
 * `rawHeaders`, where Node keeps each field line (`headers` keeps one Host and joins the rest).
 */
export function framingProblem(req: IncomingMessage): FramingProblem | undefined {
  let hosts = 0;
  let host = "";
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length === 4 && name.toLowerCase() === "host") {
      hosts++;
      host = raw[i + 1];
    }
  }
  // RFC 9112 3.2: one Host, with a valid value, and on HTTP/1.1 always present.
  if (hosts > 1) return { error: badRequest("more than one Host header"), outcome: "duplicate_host" };
  if (hosts === 0 && req.httpVersionMinor === 1) return { error: badRequest("an HTTP/1.1 request needs a Host header"), outcome: "missing_host" };
  if (hosts === 1 && !HOST_VALUE.test(host)) return { error: badRequest("the Host header is not a host name or address with an optional port"), outcome: "bad_host" };
  // A transfer coding the proxy cannot undo would reach vLLM as if it were the body itself.
  const coding = req.headers["transfer-encoding"];
  if (coding !== undefined && !isChunkedOnly(coding)) return { error: unsupportedTransferCoding(), outcome: "bad_transfer_coding" };
  // RFC 9110 10.1.1: 100-continue is the only expectation there is; HTTP/1.0 expectations are ignored.
  const expectation = req.httpVersionMinor === 1 ? req.headers.expect : undefined;
  if (expectation !== undefined && expectation.trim().toLowerCase() !== "100-continue") return { error: expectationFailed(), outcome: "bad_expectation" };
  return undefined;
}
