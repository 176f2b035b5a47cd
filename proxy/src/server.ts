import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { ProxyConfig } from "./config";
import { ConnectionSerializer } from "./connection";
import { ProxyError, badRequest, reply, writeRawError } from "./errors";
import { RequestHandler, type HandlerDeps, type KeyLimiter, type Upstreams } from "./handler";
import { createLimiter, refusalMessage, type Limiter } from "./limits";
import { usageMetering } from "./metering/adapter";
import type { Verdict } from "./keys/credentials";
import { ClientCredentials, InternalCredential, type StoreEvents } from "./keys/stores";
import { createLogger, type Logger } from "./log";
import { Metrics } from "./metrics";
import { ModelsCopy } from "./models";
import { PublicShare } from "./publicShare";
import { redactPath } from "./redact";
import { createRedirectHandler } from "./redirect";
import { SendWatchdog } from "./sendTimeout";
import { HoldQueue } from "./upstream/holding";
import type { PoolOptions } from "./upstream/pool";
import { ReplicaSet, type Resolver } from "./upstream/replicas";
import { ReplicaUpstreams, SingleUpstream } from "./upstream/routing";
import { UpstreamTarget } from "./upstream/target";

export interface StartOptions {
  readonly logger?: Logger;
  /** Gateway: how the replicas' DNS name is resolved (tests change the answers). */
  readonly resolve?: Resolver;
}

export interface RunningProxy {
  readonly config: ProxyConfig;
  /** Bound ports (differ from the config when it asked for port 0). */
  readonly port: number;
  readonly metricsPort: number;
  readonly redirectPort: number | undefined;
  readonly handler: RequestHandler;
  readonly metrics: Metrics;
  /** SIGTERM behaviour: unready, stop accepting, drain, close everything at the grace deadline. */
  shutdown(graceMs?: number): Promise<void>;
}

/** Maps Node's parser errors to answers: header overflow is 431, timeouts 408, the rest 400. */
function clientErrorAnswer(error: NodeJS.ErrnoException): ProxyError {
  switch (error.code) {
    case "HPE_HEADER_OVERFLOW":
      return new ProxyError("headers_too_large", 431, "The request headers are larger than the limit.");
    case "ERR_HTTP_REQUEST_TIMEOUT":
    case "HPE_HEADER_TIMEOUT":
      return new ProxyError("request_timeout", 408, "The request was not received in time.");
    default:
      return badRequest(`malformed HTTP request (${error.code ?? "parse error"})`);
  }
}

function hardenServer(server: http.Server, config: ProxyConfig, logger: Logger, name: string): void {
  server.keepAliveTimeout = config.keepAliveTimeoutMs;
  // Node hides header lines past the 2000th: a second Authorization or Host there would go unseen. Size stays bounded by MAX_HEADER_BYTES.
  server.maxHeadersCount = 0;
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (error.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    const answer = clientErrorAnswer(error);
    logger.warn("client_error", { listener: name, status: answer.status, code: error.code });
    writeRawError(socket, answer);
  });
  // TCP keep-alive probes reset load balancer idle timers while a long answer is silent.
  server.on("connection", (socket: Socket) => socket.setKeepAlive(true, config.tcpKeepAliveMs));
  // CONNECT and protocol upgrades are never proxied.
  server.on("connect", (_req: IncomingMessage, socket: Duplex) => writeRawError(socket, badRequest("CONNECT is not supported")));
  server.on("upgrade", (_req: IncomingMessage, socket: Duplex) =>
    writeRawError(socket, badRequest("protocol upgrades are not supported")),
  );
}

function serverOptions(config: ProxyConfig): http.ServerOptions {
  return {
    maxHeaderSize: config.maxHeaderBytes,
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    // Check header/request deadlines often enough that a short headers timeout is enforced promptly.
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(config.headersTimeoutMs / 4))),
    noDelay: true,
    joinDuplicateHeaders: false,
  };
}

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.removeListener("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Stops listening; resolves once every connection of the server has ended. */
function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

/** What a role runs: how clients are checked, where requests go, what the metrics port adds. */
interface RoleParts {
  readonly credentials: { verify(candidate: string): Verdict; readonly size: number; close(): void };
  readonly upstreamCredentials?: () => readonly string[];
  readonly upstreams: Upstreams;
  readonly models: ModelsCopy;
  /** The single upstream (single, sidecar): its metrics are served on /metrics/vllm. */
  readonly target?: UpstreamTarget;
  readonly replicas?: ReplicaSet;
  readonly held?: () => number;
  readonly ready: () => boolean;
  start(): Promise<void>;
  close(): Promise<void>;
}

function poolOptions(config: ProxyConfig): PoolOptions {
  return {
    connections: config.upstreamConnections,
    maxWaiting: config.upstreamMaxWaiting,
    connectTimeoutMs: config.upstreamConnectTimeoutMs,
    headersTimeoutMs: config.upstreamHeadersTimeoutMs,
    bodyTimeoutMs: config.upstreamBodyTimeoutMs,
    tcpKeepAliveMs: config.tcpKeepAliveMs,
  };
}

async function credentialEvents(metrics: Metrics, logger: Logger): Promise<StoreEvents> {
  return {
    onReload: (file, count) => {
      metrics.tokens.set(count);
      metrics.tokenReloads.inc({ result: "ok" });
      logger.info("tokens_reloaded", { file, count });
    },
    onReloadFailed: (error) => {
      metrics.tokenReloads.inc({ result: "failed" });
      logger.warn("tokens_reload_failed", { reason: error.message });
    },
  };
}

/** single and sidecar: one upstream, probed for readiness, its model list copied. */
function singleParts(config: ProxyConfig, credentials: RoleParts["credentials"], metrics: Metrics, logger: Logger): RoleParts {
  const models = new ModelsCopy();
  const timeoutMs = Math.max(1_000, config.readyPollMs);
  const target = new UpstreamTarget({
    origin: config.upstreamUrl.origin,
    basePath: config.upstreamUrl.pathname.replace(/\/+$/, ""),
    healthPath: config.upstreamHealthPath,
    probeTimeoutMs: timeoutMs,
    pool: poolOptions(config),
    onReadyChange: (t, ready) => {
      metrics.upstreamReady.set(ready ? 1 : 0);
      logger.info(ready ? "upstream_ready" : "upstream_unready", { upstream: t.origin });
      if (ready) void models.refresh(t, 0, timeoutMs);
    },
  });
  let refresher: NodeJS.Timeout | undefined;
  return {
    credentials,
    upstreams: new SingleUpstream(target),
    models,
    target,
    ready: () => target.isReady,
    start: async () => {
      await target.start(config.readyPollMs);
      if (target.isReady) await models.refresh(target, 0, timeoutMs);
      refresher = setInterval(() => {
        if (target.isReady) void models.refresh(target, config.modelsRefreshMs, timeoutMs);
      }, config.modelsRefreshMs);
      refresher.unref();
    },
    close: async () => {
      if (refresher !== undefined) clearInterval(refresher);
      await target.close();
      credentials.close();
    },
  };
}

/** gateway: replicas discovered and balanced, requests held while none is ready. */
function gatewayParts(
  config: ProxyConfig,
  credentials: RoleParts["credentials"],
  internal: InternalCredential,
  metrics: Metrics,
  logger: Logger,
  resolve: Resolver | undefined,
): RoleParts {
  if (config.replicas === undefined) throw new Error("gateway without replicas");
  const models = new ModelsCopy(config.modelId);
  const timeoutMs = Math.max(1_000, config.readyPollMs);
  const controlHeaders = (): Record<string, string> => ({ authorization: `Bearer ${internal.tokens[0]}` });
  let upstreams: ReplicaUpstreams | undefined;
  const replicas = new ReplicaSet({
    source: config.replicas,
    healthPath: "/health",
    probeTimeoutMs: timeoutMs,
    pollMs: config.readyPollMs,
    pool: poolOptions(config),
    controlHeaders,
    resolve,
    onChange: (replica, event) => {
      logger.info(`replica_${event}`, { replica: replica.origin });
      metrics.upstreamReady.set(replicas.readyCount > 0 ? 1 : 0);
      if (event === "ready") {
        upstreams?.replicaReady();
        void models.refresh(replica, 0, timeoutMs);
      }
      if (event === "removed") metrics.replicaInflight.remove({ replica: replica.origin.replace(/^http:\/\//, "") });
    },
    onResolveFailed: (error) => logger.warn("replicas_resolve_failed", { reason: error.message }),
  });
  upstreams = new ReplicaUpstreams(replicas, new HoldQueue(config.holdMax, config.coldStartTimeoutMs), config.coldStartTimeoutMs, metrics);
  const held = upstreams;
  let refresher: NodeJS.Timeout | undefined;
  return {
    credentials,
    upstreamCredentials: () => internal.tokens,
    upstreams,
    models,
    replicas,
    held: () => held.held,
    // The gateway takes requests with or without ready replicas: it holds them until one is.
    ready: () => true,
    start: async () => {
      await replicas.start();
      refresher = setInterval(() => {
        const replica = replicas.pick();
        if (replica !== undefined) void models.refresh(replica, config.modelsRefreshMs, timeoutMs);
      }, config.modelsRefreshMs);
      refresher.unref();
    },
    close: async () => {
      if (refresher !== undefined) clearInterval(refresher);
      await replicas.close();
      credentials.close();
      internal.close();
    },
  };
}

async function roleParts(config: ProxyConfig, metrics: Metrics, logger: Logger, options: StartOptions): Promise<RoleParts> {
  const events = await credentialEvents(metrics, logger);
  if (config.role === "sidecar") {
    const internal = await InternalCredential.open(config.internalTokenFile ?? "", config.tokensPollMs, events);
    return singleParts(config, internal, metrics, logger);
  }
  const clients = await ClientCredentials.open({ keysFile: config.keysFile, tokensFile: config.tokensFile }, config.tokensPollMs, events);
  if (config.role === "single") return singleParts(config, clients, metrics, logger);
  let internal: InternalCredential;
  try {
    internal = await InternalCredential.open(config.internalTokenFile ?? "", config.tokensPollMs, events);
  } catch (error) {
    clients.close();
    throw error;
  }
  return gatewayParts(config, clients, internal, metrics, logger, options.resolve);
}

function metricsHandler(metrics: Metrics, handler: RequestHandler, parts: RoleParts) {
  const refresh = (): void => {
    if (parts.held !== undefined) metrics.held.set(parts.held());
    if (parts.replicas !== undefined) {
      const all = parts.replicas.all;
      metrics.replicas.set({ state: "known" }, all.length);
      metrics.replicas.set({ state: "ready" }, parts.replicas.readyCount);
      for (const r of all) metrics.replicaInflight.set({ replica: r.origin.replace(/^http:\/\//, "") }, r.pool.inflight + r.pool.waiting);
    }
  };
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? "").split("?", 1)[0];
    const answer = (status: number, type: string, body: string): void => void reply(res, status, type, body);
    if (req.method !== "GET" && req.method !== "HEAD") return answer(405, "application/json", '{"error":"method not allowed"}');
    if (path === "/livez") return answer(200, "application/json", '{"status":"alive"}');
    if (path === "/readyz") {
      const ready = parts.ready() && !handler.isDraining;
      return answer(ready ? 200 : 503, "application/json", JSON.stringify({ status: ready ? "ready" : "unready" }));
    }
    if (path === "/metrics") {
      refresh();
      void metrics.registry.metrics().then(
        (text) => answer(200, metrics.registry.contentType, text),
        () => answer(500, "application/json", '{"error":"metrics unavailable"}'),
      );
      return;
    }
    // The model server's own metrics (queue, KV cache, latency), read over loopback: vLLM's port is not reachable otherwise.
    if (path === "/metrics/vllm" && parts.target !== undefined) {
      void parts.target.get("/metrics", 5_000, {}).then(
        (upstream) => answer(upstream.status === 200 ? 200 : 502, upstream.contentType ?? "text/plain; version=0.0.4", upstream.body.toString("utf8")),
        () => answer(502, "application/json", '{"error":"the model server did not answer /metrics"}'),
      );
      return;
    }
    answer(404, "application/json", '{"error":"not found"}');
  };
}

/** Per-key limits for the roles that know keys by name; the store is shared when REDIS_URL is set. */
function keyLimits(config: ProxyConfig, metrics: Metrics, logger: Logger): (KeyLimiter & { close(): Promise<void> }) | undefined {
  if (config.role === "sidecar") return undefined;
  const limiter: Limiter = createLimiter({
    ...(config.redisUrl !== undefined ? { redisUrl: config.redisUrl } : {}),
    timeoutMs: config.limitsTimeoutMs,
    gatewayReplicas: config.gatewayReplicas,
    events: {
      storeUp: (up) => {
        metrics.limitsStoreUp.set(up ? 1 : 0);
        logger[up ? "info" : "warn"](up ? "limits_store_up" : "limits_store_down", {
          fallback: up ? undefined : `each gateway applies 1/${config.gatewayReplicas} of every limit`,
        });
      },
      storeError: () => metrics.limitsStoreErrors.inc(),
      fallback: (key) => metrics.limitsFallback.inc({ key }),
    },
  });
  return {
    admit: async (name, limits) => {
      const admission = await limiter.admit(name, limits);
      if (admission.ok) return admission;
      return { ...admission, message: refusalMessage(name, admission.limit, limits[admission.limit], admission.retryAfterMs) };
    },
    close: () => limiter.close(),
  };
}

/** Starts every listener; resolves once they are bound and the credential files are loaded. */
export async function startProxy(config: ProxyConfig, options: StartOptions = {}): Promise<RunningProxy> {
  const logger = options.logger ?? createLogger();
  const metrics = new Metrics(config.role);
  const parts = await roleParts(config, metrics, logger, options);
  metrics.tokens.set(parts.credentials.size);
  const limiter = keyLimits(config, metrics, logger);
  // Usage is read per key where keys have names: the gateway, or a single proxy given a keys file.
  const metering = config.role === "gateway" || (config.role === "single" && config.keysFile !== undefined) ? usageMetering : undefined;
  const deps: HandlerDeps = {
    config,
    credentials: parts.credentials,
    publicModels: config.role !== "sidecar",
    upstreams: parts.upstreams,
    models: parts.models,
    upstreamCredentials: parts.upstreamCredentials,
    limiter,
    metering,
    publicShare: new PublicShare(config.publicMaxRps),
    ready: parts.ready,
    metrics,
    logger,
  };
  const handler = new RequestHandler(deps);
  const serializer = new ConnectionSerializer(
    { maxWaiting: config.pipelineMaxWaiting, maxWaitingTotal: config.pipelineMaxWaitingTotal, maxConnections: config.maxConnections },
    {
      overflow: (socket) =>
        logger.warn("pipeline_overflow", { client: socket.remoteAddress, limit: config.pipelineMaxWaiting, total_limit: config.pipelineMaxWaitingTotal }),
      shed: (socket, reason) => {
        metrics.connectionsShed.inc({ reason });
        logger.warn("connection_shed", { client: socket.remoteAddress, reason, limit: config.maxConnections });
      },
    },
  );
  metrics.countConnections(() => serializer.connections);

  // The handler answers a missing Host itself (proxy/src/framing.ts), with a JSON error like every other 400: Node's is empty.
  const api = http.createServer({ ...serverOptions(config), requireHostHeader: false }, (req, res) => serializer.run(req, res, () => handler.handle(req, res)));
  // Decide on the headers before inviting the body: a refused request never uploads it.
  api.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => serializer.run(req, res, () => handler.handle(req, res, true)));
  // Any other Expect value: the handler answers 417 with a JSON error (Node's own 417 is empty).
  api.on("checkExpectation", (req: IncomingMessage, res: ServerResponse) => serializer.run(req, res, () => handler.handle(req, res)));
  hardenServer(api, config, logger, "api");
  const sendWatchdog = new SendWatchdog(config.sendTimeoutMs, (socket) =>
    logger.warn("send_timeout", { client: socket.remoteAddress, timeout_ms: config.sendTimeoutMs }),
  );
  const accept = (socket: Socket): void => {
    serializer.accept(socket);
    sendWatchdog.watch(socket);
  };
  api.on("connection", accept);
  const metricsServer = http.createServer(metricsHandler(metrics, handler, parts));
  const redirectServer =
    config.redirect === undefined
      ? undefined
      : http.createServer(
          serverOptions(config),
          createRedirectHandler(config.redirect.to, (req, status, bytesOut) => {
            metrics.requests.inc({ route: "redirect", method: req.method ?? "-", status: String(status) });
            if (!config.accessLog) return;
            logger.info("request", {
              listener: "redirect",
              method: req.method,
              // Client input: redact anything a pasted credential could be, as the API listener does.
              path: redactPath((req.url ?? "").split("?", 1)[0]),
              route: "redirect",
              status,
              bytes_out: bytesOut,
              client: req.socket?.remoteAddress,
            });
          }),
        );
  if (redirectServer !== undefined) {
    hardenServer(redirectServer, config, logger, "redirect");
    redirectServer.on("connection", accept);
  }

  let port: number;
  let metricsPort: number;
  let redirectPort: number | undefined;
  try {
    await parts.start();
    port = await listen(api, config.port, config.host);
    metricsPort = await listen(metricsServer, config.metricsPort, config.host);
    redirectPort =
      redirectServer === undefined || config.redirect === undefined ? undefined : await listen(redirectServer, config.redirect.port, config.host);
  } catch (error) {
    // A port already taken: release everything started so far, so the caller's process can exit.
    await Promise.all([closeServer(api), closeServer(metricsServer), redirectServer ? closeServer(redirectServer) : undefined]);
    await parts.close();
    await limiter?.close();
    throw error;
  }
  logger.info("listening", {
    role: config.role,
    port,
    metrics_port: metricsPort,
    redirect_port: redirectPort,
    redirect_to: config.redirect?.to,
    upstream: config.role === "gateway" ? undefined : config.upstreamUrl.href,
    replicas: config.replicas === undefined ? undefined : config.replicas.kind === "dns" ? config.replicas.name : config.replicas.urls.map((u) => u.origin).join(","),
    tokens: parts.credentials.size,
    upstream_ready: parts.replicas === undefined ? parts.target?.isReady : parts.replicas.readyCount > 0,
  });

  const listeners = redirectServer === undefined ? [api] : [api, redirectServer];
  let stopping: Promise<void> | undefined;
  const shutdown = (graceMs = config.shutdownGraceMs): Promise<void> => {
    stopping ??= (async () => {
      handler.startDraining();
      logger.info("draining", { inflight: handler.inflightCount, grace_ms: graceMs });
      // Stop accepting; connections with no request in progress close now, busy ones after their
      // response (every response while draining says `Connection: close`).
      const closed = Promise.all(listeners.map(closeServer));
      const closeIdle = (): void => {
        serializer.closeIdle();
        for (const server of listeners) server.closeIdleConnections();
      };
      closeIdle();
      const sweeper = setInterval(closeIdle, 50);
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<"deadline">((resolve) => {
        timer = setTimeout(() => resolve("deadline"), graceMs);
      });
      const result = await Promise.race([closed.then(() => "drained" as const), deadline]);
      clearTimeout(timer);
      clearInterval(sweeper);
      if (result === "deadline") {
        logger.warn("grace_deadline", { aborted: handler.inflightCount });
        // Whatever a connection is doing (a stream, a slow upload, a held request): it ends now,
        // and destroying the client sockets aborts their upstream requests too.
        for (const server of listeners) server.closeAllConnections();
        await closed;
      }
      sendWatchdog.stop();
      await parts.close();
      await limiter?.close();
      await closeServer(metricsServer);
      metricsServer.closeAllConnections();
      logger.info("stopped", { result });
    })();
    return stopping;
  };

  return { config, port, metricsPort, redirectPort, handler, metrics, shutdown };
}
