import { Pool, errors as undiciErrors } from "undici";
import type { ProxyConfig } from "./config";
import { ProxyError, upstreamTimeout, upstreamUnavailable } from "./errors";

/** The keep-alive connection pool to vLLM, and the mapping of its failures to client answers. */
export class Upstream {
  readonly pool: Pool;
  /** vLLM's base path (usually empty), prefixed to every forwarded target. */
  readonly basePath: string;

  constructor(config: ProxyConfig) {
    this.basePath = config.upstreamUrl.pathname.replace(/\/+$/, "");
    this.pool = new Pool(config.upstreamUrl.origin, {
      connections: config.upstreamConnections,
      pipelining: 1,
      connectTimeout: config.upstreamConnectTimeoutMs,
      headersTimeout: config.upstreamHeadersTimeoutMs,
      bodyTimeout: config.upstreamBodyTimeoutMs,
      // Below uvicorn's 5 s keep-alive, so the pool never reuses a socket vLLM is closing.
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 4_000,
    });
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}

export type UpstreamFailureKind = "refused" | "reset" | "timeout" | "other";

/** Classifies an undici failure for metrics and picks the client's status. */
export function classifyUpstreamError(error: unknown): { kind: UpstreamFailureKind; answer: ProxyError } {
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.ConnectTimeoutError) {
    return { kind: "timeout", answer: upstreamTimeout(error) };
  }
  if (error instanceof undiciErrors.BodyTimeoutError) return { kind: "timeout", answer: upstreamTimeout(error) };
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "ECONNREFUSED") return { kind: "refused", answer: upstreamUnavailable(error) };
  if (error instanceof undiciErrors.SocketError || code === "ECONNRESET" || code === "EPIPE") {
    return { kind: "reset", answer: upstreamUnavailable(error) };
  }
  return { kind: "other", answer: upstreamUnavailable(error) };
}
