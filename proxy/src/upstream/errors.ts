import { errors as undiciErrors } from "undici";
import { ProxyError, upstreamTimeout, upstreamUnavailable } from "../errors";

export type UpstreamFailureKind = "refused" | "reset" | "timeout" | "other";

/** Classifies an undici failure for metrics and picks the client's status. */
export function classifyUpstreamError(error: unknown): { kind: UpstreamFailureKind; answer: ProxyError } {
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
