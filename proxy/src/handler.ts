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
  noReplica,
  notFound,
  overloaded,
  rateLimited,
  reply,
  sendError,
  unauthorized,
  upstreamNotReady,
  wantsJson,
  writeRawError,
} from "./errors";
import { declaredLength, framingProblem, hasUnreadBody } from "./framing";
import { clientResponseHeaders, isEventStream, upstreamRequestHeaders } from "./headers";
import type { Identity, Verdict } from "./keys/credentials";
import type { KeyLimits } from "./keys/format";
import type { Logger } from "./log";
import type { Metrics } from "./metrics";
import type { ModelsCopy } from "./models";
import { CLIENT_LEFT, Presence } from "./presence";
import type { PublicShare } from "./publicShare";
import { redactPath } from "./redact";
import { ResponseRelay, RetryAnswer } from "./relay";
import { findRoute, type Route } from "./routes";
import { checkTarget } from "./target";
import { classifyUpstreamError } from "./upstream/errors";
import { HoldRefusedError } from "./upstream/holding";
import { PoolSaturatedError, type Connection } from "./upstream/pool";
import type { UpstreamTarget } from "./upstream/target";

/** Where requests go: one upstream (single, sidecar) or the least busy ready replica (gateway). */
export interface Upstreams {
  /** A request can be forwarded now, or (gateway) held until it can. */
  readonly accepting: boolean;
  /** The upstream for one attempt; may hold (gateway, until the client leaves) and throws a ProxyError when there is none. */
  choose(presence: Presence, exclude: ReadonlySet<UpstreamTarget>): Promise<UpstreamTarget>;
  /** A refused connection may be retried on another upstream (the gateway has several). */
  readonly retriesRefused: boolean;
}

/** A granted request under a key's limits: settled once, with the tokens it used. */
export interface LimitLease {
  settle(tokens: number): void;
}
export type LimitAdmission =
  | { readonly ok: true; readonly lease: LimitLease; readonly headers: Readonly<Record<string, string>> }
  | { readonly ok: false; readonly limit: string; readonly retryAfterMs: number; readonly message: string; readonly headers: Readonly<Record<string, string>> };
export interface KeyLimiter {
  admit(name: string, limits: KeyLimits): Promise<LimitAdmission>;
}

/** What one response used, as far as it went. */
export interface UsageCount {
  readonly promptTokens: number;
  readonly completionTokens: number;
}
/** Reads usage from a response (and hides what the client did not ask for). */
export interface ResponseMeter {
  transform(chunk: Buffer): Buffer;
  usage(): UsageCount;
  /** Whether the usage could be read at all (a body past the meter's bound cannot). */
  readonly readable: boolean;
}
export interface Metering {
  /**
   * The body to forward and the meter for its answer; undefined for a route that is not metered;
   * a ProxyError (400) for a body whose usage cannot be asked for.
   */
  prepare(route: string, body: Buffer): { body: Buffer; meter(contentType: string | undefined): ResponseMeter } | ProxyError | undefined;
}

export interface HandlerDeps {
  readonly config: ProxyConfig;
  /** Who may call protected routes (a sidecar: every route but /health, with the internal credential). */
  readonly credentials: { verify(candidate: string): Verdict };
  /** `GET /v1/models` needs no credential (single, gateway); a sidecar serves nobody but its gateway. */
  readonly publicModels: boolean;
  readonly upstreams: Upstreams;
  readonly models: ModelsCopy;
  /** The credentials to send upstream, first choice first (gateway: the internal credential). */
  readonly upstreamCredentials?: () => readonly string[];
  readonly limiter?: KeyLimiter;
  readonly metering?: Metering;
  readonly publicShare: PublicShare;
  /** Whether this process answers readiness (a gateway is ready while it runs; it holds requests). */
  readonly ready: () => boolean;
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
  identity: Identity | undefined;
  replica: string | undefined;
  usage: UsageCount | undefined;
  /** An answer written straight to the socket, outside `res`. */
  rawStatus?: number;
  /** Forwarding still settling (usage, limits) after the response closed: the log line waits for it. */
  forwarding: boolean;
  /** The response has closed; `finish` runs once forwarding has settled too. */
  closed: boolean;
  /** Whether the client is still there: held, queued and upstream work stop when it leaves. */
  readonly presence: Presence;
  /** Read once: after the client disconnects, `req.socket` may already be detached. */
  readonly client: string | undefined;
}

/** Status logged when the client left before any response was sent (nginx's convention). */
const CLIENT_CLOSED_REQUEST = 499;
/** Attempts on refusing replicas before the gateway gives up on a request. */
const MAX_ATTEMPTS = 3;

/**
 * The request's whole life, the same code in every role: route, authenticate, limit, choose an
 * upstream (hold while none is ready), forward, relay, meter. The role decides only the deps.
 */
export class RequestHandler {
  private inflight = 0;
  private draining = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly deps: HandlerDeps) {}

  get inflightCount(): number {
    return this.inflight;
  }

  /** Marks the process unready and asks every later response to close its connection. */
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
      identity: undefined,
      replica: undefined,
      usage: undefined,
      presence: new Presence(),
      client: req.socket?.remoteAddress,
      forwarding: false,
      closed: false,
    };
    this.inflight++;
    res.once("close", () => {
      if (!res.writableFinished) exchange.presence.leave();
      exchange.closed = true;
      if (!exchange.forwarding) this.finish(req, res, exchange);
    });
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
    // RFC 9112 3.2: a request without a version or with two Host headers is answered 400.
    if (req.httpVersionMajor !== 1) {
      // Node would answer an HTTP/0.9 request line in kind, with no status line: write the 400 ourselves.
      exchange.outcome = "bad_version";
      exchange.rawStatus = 400;
      exchange.bytesOut = writeRawError(req.socket, badRequest("the request line needs HTTP/1.0 or HTTP/1.1"));
      return;
    }
    const framing = framingProblem(req);
    if (framing !== undefined) return this.refuse(req, res, exchange, framing.error, framing.outcome);
    const checked = checkTarget(req.url);
    if (!checked.ok) return this.whenShared(req, res, exchange, () => this.refuse(req, res, exchange, badRequest(checked.reason), "bad_target"));
    const route = findRoute(req.method, checked.target.path);
    if (route === undefined) return this.whenShared(req, res, exchange, () => this.refuse(req, res, exchange, notFound(), "no_route"));
    exchange.route = route.name;
    if (route.access === "local") {
      exchange.bytesOut = this.health(res);
      return;
    }
    const credential = readBearer(req.rawHeaders);
    const verdict: Verdict | undefined = credential.ok ? this.deps.credentials.verify(credential.token) : undefined;
    if (verdict?.ok === true) exchange.identity = verdict.identity;
    if (route.access === "public" && this.deps.publicModels) {
      // A caller with a valid key is not anonymous: it never waits for the anonymous share.
      if (exchange.identity !== undefined) return this.answerModels(req, res, exchange);
      return this.whenShared(req, res, exchange, () => this.answerModels(req, res, exchange));
    }
    if (exchange.identity === undefined) {
      const reason = credential.ok ? (verdict?.ok === false ? verdict.reason : "invalid") : credential.reason;
      this.deps.metrics.authFailures.inc({ reason });
      return this.whenShared(req, res, exchange, () => this.refuse(req, res, exchange, unauthorized(), `auth_${reason}`));
    }
    if (route.name === "models") return this.answerModels(req, res, exchange);
    const declared = declaredLength(req);
    if (declared !== undefined && declared > this.deps.config.maxBodyBytes) {
      return this.refuse(req, res, exchange, bodyTooLarge(this.deps.config.maxBodyBytes), "body_too_large");
    }
    if (!this.deps.upstreams.accepting) return this.refuse(req, res, exchange, upstreamNotReady(), "not_ready");
    void this.forward(req, res, exchange, route, checked.target.raw, expectsContinue);
  }

  /** Answers an anonymous request within the anonymous share: at once, after a wait, or shed with 503. */
  private whenShared(req: IncomingMessage, res: ServerResponse, exchange: Exchange, answer: () => void): void {
    const admitted = this.deps.publicShare.admit();
    if (admitted === true) return answer();
    if (admitted === false) return this.shed(req, res, exchange, "public", "public_share");
    void admitted.then((ok) => {
      if (exchange.presence.left) return;
      if (ok) answer();
      else this.shed(req, res, exchange, "public", "public_share");
    });
  }

  private health(res: ServerResponse): number {
    const ready = this.deps.ready() && !this.draining;
    const reason = this.draining ? "shutting down" : "model server not ready";
    return reply(res, ready ? 200 : 503, "application/json", JSON.stringify(ready ? { status: "ready" } : { status: "unready", reason }));
  }

  /** The model list from the proxy's copy of the upstream's answer: it never reaches the GPU server. */
  private answerModels(req: IncomingMessage, res: ServerResponse, exchange: Exchange): void {
    const sent = this.deps.models.serve(req, res);
    if (sent === undefined) return this.refuse(req, res, exchange, upstreamNotReady(), "not_ready");
    exchange.bytesOut = sent;
  }

  /** Answers without forwarding; closes the connection when an unread body would desync it. */
  private refuse(req: IncomingMessage, res: ServerResponse, exchange: Exchange, error: ProxyError, outcome: string): void {
    exchange.outcome = outcome;
    const plain = error.status === 401 && !wantsJson(req.headers.accept);
    exchange.bytesOut = sendError(res, error, plain, hasUnreadBody(req));
  }

  /** 503 with Retry-After because a bound was reached. */
  private shed(req: IncomingMessage, res: ServerResponse, exchange: Exchange, trafficClass: "public" | "authenticated", reason: string): void {
    this.deps.metrics.shed.inc({ class: trafficClass, reason });
    exchange.outcome = `shed_${reason}`;
    exchange.bytesOut = sendError(res, overloaded(), false, hasUnreadBody(req));
  }

  /** Forwards one request; the access log and counters wait until its usage and limits are settled. */
  private async forward(req: IncomingMessage, res: ServerResponse, exchange: Exchange, route: Route, target: string, expectsContinue: boolean): Promise<void> {
    exchange.forwarding = true;
    try {
      await this.forwardAndSettle(req, res, exchange, route, target, expectsContinue);
    } finally {
      exchange.forwarding = false;
      if (exchange.closed) this.finish(req, res, exchange);
    }
  }

  private async forwardAndSettle(req: IncomingMessage, res: ServerResponse, exchange: Exchange, route: Route, target: string, expectsContinue: boolean): Promise<void> {
    const { config, limiter, metering, metrics } = this.deps;
    const identity = exchange.identity;
    let lease: LimitLease | undefined;
    let limitHeaders: Readonly<Record<string, string>> = {};
    /** Settles the key's limits once, with the tokens used as far as the answer went. */
    const settle = (): void => {
      const usage = exchange.usage;
      lease?.settle(usage === undefined ? 0 : usage.promptTokens + usage.completionTokens);
      lease = undefined;
    };
    if (limiter !== undefined && identity?.limits !== undefined) {
      const admission = await limiter.admit(identity.name, identity.limits);
      if (exchange.presence.left) {
        if (admission.ok) admission.lease.settle(0);
        return;
      }
      if (!admission.ok) {
        metrics.rateLimited.inc({ key: identity.name, limit: admission.limit });
        return this.refuse(req, res, exchange, rateLimited(admission.limit, admission.message, admission.headers), `rate_limited_${admission.limit}`);
      }
      lease = admission.lease;
      limitHeaders = admission.headers;
    }
    let connection: Connection | undefined;
    let chosen: UpstreamTarget | undefined;
    let counted = false;
    let streaming = false;
    try {
      if (expectsContinue) res.writeContinue();
      // Read before choosing: a held request must not sit on an unread body (the request timeout
      // would cut it), a refused connection can then be retried, and usage can be asked for.
      const needsWholeBody = this.deps.upstreams.retriesRefused || (metering !== undefined && route.hasBody);
      let body: Buffer | Readable | null = route.hasBody ? await requestBody(req, config.maxBodyBytes, exchange, needsWholeBody) : null;
      const prepared = metering !== undefined && Buffer.isBuffer(body) ? metering.prepare(route.name, body) : undefined;
      if (prepared instanceof ProxyError) throw prepared;
      if (prepared !== undefined) body = prepared.body;
      const credentials = this.deps.upstreamCredentials?.() ?? [];
      const tried = new Set<UpstreamTarget>();
      for (let attempt = 1, credential = 0; ; attempt++) {
        chosen = await this.deps.upstreams.choose(exchange.presence, tried);
        exchange.replica = chosen.origin;
        if (!counted) {
          counted = true;
          metrics.inflightRequests.inc();
        }
        connection = chosen.pool.tryAcquire() ?? (await chosen.pool.acquire(exchange.presence.signal));
        let meter: ResponseMeter | undefined;
        const relay = new ResponseRelay(res, {
          responseHeaders: (statusCode, upstreamHeaders) => {
            // A sidecar refusing the internal credential saw nothing of the request: try the next credential.
            if (statusCode === 401 && credential + 1 < credentials.length) return { relay: false };
            const type = upstreamHeaders["content-type"];
            meter = prepared?.meter(typeof type === "string" ? type : undefined);
            exchange.upstreamMs = performance.now() - exchange.started;
            metrics.observeUpstream(route.name, exchange.upstreamMs / 1000);
            const headers = { ...clientResponseHeaders(upstreamHeaders), ...limitHeaders };
            // The upstream answered before reading the whole body: what is left would be read as the next request.
            if (this.draining || !req.complete) headers["connection"] = "close";
            streaming = isEventStream(headers);
            if (streaming) metrics.inflightStreams.inc();
            // A stream's client should see the status line before the first token.
            return { relay: true, headers, flush: streaming };
          },
          transform: prepared === undefined ? identityChunk : (chunk) => (meter === undefined ? chunk : meter.transform(chunk)),
          onBytes: (count) => {
            exchange.bytesOut += count;
          },
          // Charge the tokens before the client has the last byte: its next request already sees them.
          beforeEnd: () => {
            if (meter !== undefined) exchange.usage = meter.usage();
            settle();
          },
        });
        const onGone = (): void => relay.abort(CLIENT_LEFT);
        exchange.presence.onLeave(onGone);
        const headers = upstreamRequestHeaders(req.headers, {
          clientAddress: exchange.client,
          proto: config.forwardedProto,
          trustIncoming: config.role === "sidecar",
        });
        if (credentials.length > 0) headers["authorization"] = `Bearer ${credentials[credential]}`;
        // The body may have been rewritten (usage asked for) or gathered from chunks: frame it as it is now.
        if (Buffer.isBuffer(body)) {
          headers["content-length"] = String(body.length);
          delete headers["transfer-encoding"];
        }
        // A compressed answer cannot be metered.
        if (prepared !== undefined) delete headers["accept-encoding"];
        try {
          connection.client.dispatch(
            { method: req.method as Dispatcher.HttpMethod, path: chosen.basePath + target, headers, body },
            relay,
          );
          await relay.done;
          return;
        } catch (error) {
          if (exchange.presence.left) throw error;
          const replayable = body === null || Buffer.isBuffer(body);
          if (error instanceof RetryAnswer && replayable) {
            credential++;
          } else if (
            this.deps.upstreams.retriesRefused &&
            replayable &&
            !relay.responseStarted &&
            attempt < MAX_ATTEMPTS &&
            classifyUpstreamError(error).kind === "refused"
          ) {
            // Nothing was sent: this replica is gone; another may take the request.
            metrics.upstreamErrors.inc({ kind: "refused" });
            tried.add(chosen);
            chosen.markUnready();
          } else throw error;
        } finally {
          exchange.presence.offLeave(onGone);
          if (meter !== undefined) {
            exchange.usage = meter.usage();
            if (!meter.readable) metrics.unmetered.inc({ route: route.name });
          }
          chosen.pool.release(connection);
          connection = undefined;
        }
      }
    } catch (error) {
      this.forwardFailed(req, res, exchange, error);
    } finally {
      if (connection !== undefined) chosen?.pool.release(connection);
      if (counted) metrics.inflightRequests.dec();
      if (streaming) metrics.inflightStreams.dec();
      settle();
      const usage = exchange.usage;
      if (identity !== undefined && usage !== undefined) {
        metrics.countKeyTokens(identity.name, usage.promptTokens, usage.completionTokens);
      }
    }
  }

  private forwardFailed(req: IncomingMessage, res: ServerResponse, exchange: Exchange, error: unknown): void {
    if (exchange.clientGone || exchange.presence.left) {
      exchange.outcome = "client_aborted";
      return;
    }
    if (error instanceof PoolSaturatedError) return this.shed(req, res, exchange, "authenticated", "upstream_busy");
    if (error instanceof HoldRefusedError) {
      exchange.outcome = `hold_${error.reason}`;
      exchange.bytesOut += sendError(res, noReplica(error.reason, error.retryAfterSeconds), false, hasUnreadBody(req));
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
  }

  private finish(req: IncomingMessage, res: ServerResponse, exchange: Exchange): void {
    const { metrics, logger, config } = this.deps;
    const seconds = (performance.now() - exchange.started) / 1000;
    // The socket closed before the response was complete: the client left.
    if (!res.writableFinished && !exchange.cut && exchange.rawStatus === undefined) exchange.clientGone = true;
    const status = exchange.rawStatus ?? (exchange.clientGone && !res.headersSent ? CLIENT_CLOSED_REQUEST : res.statusCode);
    if (exchange.clientGone) {
      metrics.clientAborts.inc();
      exchange.outcome = "client_aborted";
    }
    const method = req.method ?? "-";
    metrics.countRequest(exchange.route, method, status, seconds);
    const key = exchange.identity?.name;
    if (key !== undefined) metrics.countKeyRequest(key, exchange.route, status);
    if (config.accessLog) {
      const rawPath = (req.url ?? "").split("?", 1)[0];
      logger.info("request", {
        method,
        // Known routes are fixed strings; anything else is client input and may hold a pasted token.
        path: exchange.route === "-" ? redactPath(rawPath) : rawPath,
        route: exchange.route,
        status,
        outcome: exchange.outcome,
        key,
        replica: exchange.replica,
        duration_ms: round(seconds * 1000),
        upstream_ms: exchange.upstreamMs === undefined ? undefined : round(exchange.upstreamMs),
        bytes_in: exchange.bytesIn,
        bytes_out: exchange.bytesOut,
        prompt_tokens: exchange.usage?.promptTokens,
        completion_tokens: exchange.usage?.completionTokens,
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

const identityChunk = (chunk: Buffer): Buffer => chunk;
const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/**
 * Bodies up to this size are gathered before forwarding: a chat request's JSON arrives in one or
 * two reads anyway, and one Buffer spares the garbage collector the stream machinery (measured:
 * 25x less promoted to the old heap at 50 connections). Larger bodies are streamed unless the
 * whole body is needed (see `forward`).
 */
const GATHER_LIMIT_BYTES = 64 * 1024;

/** The body for the upstream: one Buffer when small, declared-length or needed whole; else streamed (counted against the cap). */
async function requestBody(req: IncomingMessage, max: number, exchange: Exchange, whole: boolean): Promise<Buffer | Readable> {
  const declared = declaredLength(req);
  if (declared !== undefined) {
    // Node's parser delivers exactly the declared length, already checked against the cap.
    exchange.bytesIn = declared;
    return declared <= GATHER_LIMIT_BYTES || whole ? gather(req, max, exchange) : req;
  }
  return whole ? gather(req, max, exchange) : Readable.from(limitedBody(req, max, exchange), { objectMode: false });
}

function gather(req: IncomingMessage, max: number, exchange: Exchange): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.removeAllListeners("data");
        reject(bodyTooLarge(max));
        return;
      }
      chunks.push(chunk);
    });
    req.once("end", () => {
      exchange.bytesIn = size;
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    });
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
