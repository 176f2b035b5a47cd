import { errors as undiciErrors } from "undici";
import { upstreamBadResponse, upstreamTimeout, upstreamUnavailable, type ProxyError } from "../errors";

/** RFC 9112 6.1: an answer in a transfer coding besides chunked would reach the client as if the coded bytes were the body. */
export class UpstreamCodingError extends Error {
  constructor(readonly coding: string) {
    super(`upstream answered with Transfer-Encoding: ${coding}`);
    this.name = "UpstreamCodingError";
  }
}

export type UpstreamFailureKind = "refused" | "reset" | "timeout" | "other";

/** Classifies an undici failure for metrics and picks the client's status. */
export function classifyUpstreamError(error: unknown): { kind: UpstreamFailureKind; answer: ProxyError } {
  if (error instanceof UpstreamCodingError) {
    return { kind: "other", answer: upstreamBadResponse(error) };
  }
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError) {
    return { kind: "timeout", answer: upstreamTimeout(error) };
  }
  // Nothing was sent when the connection was never made: the request may go to another replica.
  if (error instanceof undiciErrors.ConnectTimeoutError) return { kind: "refused", answer: upstreamUnavailable(error) };
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "ECONNREFUSED" || code === "EHOSTUNREACH" || code === "ENETUNREACH") return { kind: "refused", answer: upstreamUnavailable(error) };
  if (error instanceof undiciErrors.SocketError || code === "ECONNRESET" || code === "EPIPE") {
    return { kind: "reset", answer: upstreamUnavailable(error) };
  }
  return { kind: "other", answer: upstreamUnavailable(error) };
}
