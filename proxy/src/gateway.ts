import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import { readBearer } from "./auth";
import type { ProxyConfig } from "./config";
import {
  ProxyError,
  badRequest,
  bodyTooLarge,
  notFound,
  reply,
  sendError,
  unauthorized,
  upstreamNotReady,
  wantsJson,
} from "./errors";
import { declaredLength, hasUnreadBody } from "./framing";
import { clientResponseHeaders, isEventStream, upstreamRequestHeaders } from "./headers";
import type { Logger } from "./log";
import type { Metrics } from "./metrics";
import type { UpstreamReadiness } from "./readiness";
import { ResponseRelay } from "./relay";
import { findRoute, type Route } from "./routes";
import { checkTarget } from "./target";
import type { TokenStore } from "./tokens";
import { classifyUpstreamError, type Upstream } from "./upstream";

export interface GatewayDeps {
  readonly config: ProxyConfig;
  readonly tokens: TokenStore;
  readonly upstream: Upstream;
  readonly readiness: UpstreamReadiness;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

/** What one request did, for its access-log line and metrics. */
interface Exchange {
  readonly started: number;
  route: string;
  bytesIn: number;
  bytesOut: number;
  upstreamMs: number | undefined;
  outcome: string;
  clientGone: boolean;
  /** The proxy itself cut a started response (vLLM failed mid-stream). */
  cut: boolean;
  /** Read once: after the client disconnects, `req.socket` may already be detached. */
  readonly client: string | undefined;
}

/** Status logged when the client left before any response was sent (nginx's convention). */
const CLIENT_CLOSED_REQUEST = 499;

/** The API listener's request handler: route, authenticate, forward; one request's whole life. */
export class Gateway {
  private inflight = 0;
  private draining = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly deps: GatewayDeps) {}

  get inflightCount(): number {
    return this.inflight;
  }

  /** Marks the replica unready and asks every later response to close its connection. */
  startDraining(): void {
    this.draining = true;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Resolves once no request is in flight. */
  whenIdle(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse, expectsContinue = false): void => {
    const exchange: Exchange = {
      started: performance.now(),
      route: "-",
      bytesIn: 0,
      bytesOut: 0,
      upstreamMs: undefined,
      outcome: "ok",
      clientGone: false,
      cut: false,
      client: req.socket?.remoteAddress,
    };
    this.inflight++;
    res.once("close", () => this.finish(req, res, exchange));
    req.on("error", () => undefined);
    if (this.draining) res.setHeader("connection", "close");
    try {
      this.route(req, res, exchange, expectsContinue);
    } catch (error) {
      // A bug must cost one request, never the process and every stream on it.
      this.deps.logger.error("handler_failed", { error: error instanceof Error ? error.message : String(error) });
      exchange.outcome = "internal_error";
      sendError(res, new ProxyError("internal_error", 500, "Internal proxy error.", "server_error"), false, true);
    }
  };

  private route(req: IncomingMessage, res: ServerResponse, exchange: Exchange, expectsContinue: boolean): void {
    const checked = checkTarget(req.url);
    if (!checked.ok) return this.refuse(req, res, exchange, badRequest(checked.reason), "bad_target");
    const route = findRoute(req.method, checked.target.path);
    if (route === undefined) return this.refuse(req, res, exchange, notFound(), "no_route");
    exchange.route = route.name;
    if (route.access === "local") {
      exchange.bytesOut = this.health(res);
      return;
    }
    if (route.access === "protected") {
      const credential = readBearer(req.rawHeaders);
      const reason = credential.ok ? (this.deps.tokens.verify(credential.token) ? undefined : "invalid") : credential.reason;
      if (reason !== undefined) {
        this.deps.metrics.authFailures.inc({ reason });
        return this.refuse(req, res, exchange, unauthorized(), `auth_${reason}`);
      }
    }
    const declared = declaredLength(req);
    if (declared !== undefined && declared > this.deps.config.maxBodyBytes) {
      return this.refuse(req, res, exchange, bodyTooLarge(this.deps.config.maxBodyBytes), "body_too_large");
    }
    if (!this.deps.readiness.isReady) return this.refuse(req, res, exchange, upstreamNotReady(), "not_ready");
    if (expectsContinue) res.writeContinue();
    void this.forward(req, res, exchange, route, checked.target.raw);
  }

  private health(res: ServerResponse): number {
    const ready = this.deps.readiness.isReady && !this.draining;
    const reason = this.draining ? "shutting down" : "model server not ready";
    return reply(res, ready ? 200 : 503, "application/json", JSON.stringify(ready ? { status: "ready" } : { status: "unready", reason }));
  }

  /** Answers without forwarding; closes the connection when an unread body would desync it. */
  private refuse(req: IncomingMessage, res: ServerResponse, exchange: Exchange, error: ProxyError, outcome: string): void {
    exchange.outcome = outcome;
    const plain = error.status === 401 && !wantsJson(req.headers.accept);
    exchange.bytesOut = sendError(res, error, plain, hasUnreadBody(req));
  }

  private async forward(req: IncomingMessage, res: ServerResponse, exchange: Exchange, route: Route, target: string): Promise<void> {
    const { config, upstream, metrics } = this.deps;
    let streaming = false;
    const relay = new ResponseRelay(res, {
      responseHeaders: (_statusCode, upstreamHeaders) => {
        exchange.upstreamMs = performance.now() - exchange.started;
        metrics.observeUpstream(route.name, exchange.upstreamMs / 1000);
        const headers = clientResponseHeaders(upstreamHeaders);
        if (this.draining) headers["connection"] = "close";
        streaming = isEventStream(headers);
        if (streaming) metrics.inflightStreams.inc();
        // A stream's client should see the status line before the first token.
        return { headers, flush: streaming };
      },
      onBytes: (count) => {
        exchange.bytesOut += count;
      },
    });
    // The client left: abort at once so vLLM stops generating for nobody.
    res.once("close", () => {
      if (!res.writableFinished) {
        exchange.clientGone = true;
        relay.abort(new Error("client closed the connection"));
      }
    });
    metrics.inflightRequests.inc();
    try {
      upstream.pool.dispatch(
        {
          method: req.method as Dispatcher.HttpMethod,
          path: upstream.basePath + target,
          headers: upstreamRequestHeaders(req.headers, { clientAddress: exchange.client, proto: config.forwardedProto }),
          body: route.hasBody ? await requestBody(req, config.maxBodyBytes, exchange) : null,
        },
        relay,
      );
      await relay.done;
    } catch (error) {
      this.forwardFailed(req, res, exchange, error);
    } finally {
      metrics.inflightRequests.dec();
      if (streaming) metrics.inflightStreams.dec();
    }
  }

  private forwardFailed(req: IncomingMessage, res: ServerResponse, exchange: Exchange, error: unknown): void {
    if (exchange.clientGone) {
      exchange.outcome = "client_aborted";
      return;
    }
    if (error instanceof ProxyError) {
      exchange.outcome = error.code;
      exchange.bytesOut += sendError(res, error, false, true);
      return;
    }
    const { kind, answer } = classifyUpstreamError(error);
    this.deps.metrics.upstreamErrors.inc({ kind });
    exchange.outcome = res.headersSent ? `upstream_${kind}_midstream` : `upstream_${kind}`;
    exchange.cut = res.headersSent;
    // Headers already sent: cut the stream rather than invent an ending.
    exchange.bytesOut += sendError(res, answer, false, hasUnreadBody(req));
    if (kind === "refused" || kind === "reset") void this.deps.readiness.check();
  }

  private finish(req: IncomingMessage, res: ServerResponse, exchange: Exchange): void {
    const { metrics, logger, config, tokens } = this.deps;
    const seconds = (performance.now() - exchange.started) / 1000;
    // The socket closed before the response was complete: the client left.
    if (!res.writableFinished && !exchange.cut) exchange.clientGone = true;
    const status = exchange.clientGone && !res.headersSent ? CLIENT_CLOSED_REQUEST : res.statusCode;
    if (exchange.clientGone) {
      metrics.clientAborts.inc();
      exchange.outcome = "client_aborted";
    }
    const method = req.method ?? "-";
    metrics.countRequest(exchange.route, method, status, seconds);
    if (config.accessLog) {
      const rawPath = (req.url ?? "").split("?", 1)[0];
      logger.info("request", {
        method,
        // Known routes are fixed strings; anything else is client input and may hold a pasted token.
        path: exchange.route === "-" ? tokens.redact(rawPath).slice(0, 256) : rawPath,
        route: exchange.route,
        status,
        outcome: exchange.outcome,
        duration_ms: round(seconds * 1000),
        upstream_ms: exchange.upstreamMs === undefined ? undefined : round(exchange.upstreamMs),
        bytes_in: exchange.bytesIn,
        bytes_out: exchange.bytesOut,
        client: exchange.client,
      });
    }
    this.inflight--;
    if (this.inflight === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/**
 * Bodies up to this size are gathered before forwarding: a chat request's JSON arrives in one or
 * two reads anyway, and one Buffer spares the garbage collector the stream machinery (measured:
 * 25x less promoted to the old heap at 50 connections). Larger bodies are streamed.
 */
const GATHER_LIMIT_BYTES = 64 * 1024;

/** The body for vLLM: small declared bodies as one Buffer, the rest streamed (chunked ones counted against the cap). */
async function requestBody(req: IncomingMessage, max: number, exchange: Exchange): Promise<Buffer | Readable> {
  const declared = declaredLength(req);
  if (declared === undefined) return Readable.from(limitedBody(req, max, exchange), { objectMode: false });
  // Node's parser delivers exactly the declared length, already checked against the cap.
  exchange.bytesIn = declared;
  return declared <= GATHER_LIMIT_BYTES ? gather(req, declared) : req;
}

function gather(req: IncomingMessage, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.once("end", () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length)));
    req.once("error", reject);
    req.once("close", () => {
      if (!req.complete) reject(new Error("client closed the connection before sending its body"));
    });
  });
}

/** Streams a chunked request body upstream, counting it, and fails the request past the cap. */
async function* limitedBody(req: IncomingMessage, max: number, exchange: Exchange): AsyncGenerator<Buffer> {
  for await (const chunk of req as AsyncIterable<Buffer>) {
    exchange.bytesIn += chunk.length;
    if (exchange.bytesIn > max) throw bodyTooLarge(max);
    yield chunk;
  }
}
