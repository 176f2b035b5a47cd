import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { ProxyConfig } from "./config";
import { ProxyError, badRequest, errorBody, reply } from "./errors";
import { Gateway } from "./gateway";
import { createLogger, type Logger } from "./log";
import { Metrics } from "./metrics";
import { UpstreamReadiness } from "./readiness";
import { createRedirectHandler } from "./redirect";
import { TokenStore } from "./tokens";
import { Upstream } from "./upstream";

export interface StartOptions {
  readonly logger?: Logger;
}

export interface RunningProxy {
  readonly config: ProxyConfig;
  /** Bound ports (differ from the config when it asked for port 0). */
  readonly port: number;
  readonly metricsPort: number;
  readonly redirectPort: number | undefined;
  readonly gateway: Gateway;
  readonly metrics: Metrics;
  /** SIGTERM behaviour: unready, stop accepting, drain, abort the rest at the grace deadline. */
  shutdown(graceMs?: number): Promise<void>;
}

/** Raw answers for what never becomes a request object: parse errors, CONNECT, upgrades. */
function writeRaw(socket: Duplex, error: ProxyError): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = errorBody(error);
  socket.end(
    `HTTP/1.1 ${error.status} ${http.STATUS_CODES[error.status] ?? ""}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
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
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (error.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    const answer = clientErrorAnswer(error);
    logger.warn("client_error", { listener: name, status: answer.status, code: error.code });
    writeRaw(socket, answer);
  });
  // CONNECT and protocol upgrades are never proxied.
  server.on("connect", (_req: IncomingMessage, socket: Duplex) => writeRaw(socket, badRequest("CONNECT is not supported")));
  server.on("upgrade", (_req: IncomingMessage, socket: Duplex) =>
    writeRaw(socket, badRequest("protocol upgrades are not supported")),
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

function metricsHandler(metrics: Metrics, gateway: Gateway, readiness: UpstreamReadiness) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? "").split("?", 1)[0];
    const answer = (status: number, type: string, body: string): void => void reply(res, status, type, body);
    if (req.method !== "GET" && req.method !== "HEAD") return answer(405, "application/json", '{"error":"method not allowed"}');
    if (path === "/livez") return answer(200, "application/json", '{"status":"alive"}');
    if (path === "/readyz") {
      const ready = readiness.isReady && !gateway.isDraining;
      return answer(ready ? 200 : 503, "application/json", JSON.stringify({ status: ready ? "ready" : "unready" }));
    }
    if (path === "/metrics") {
      void metrics.registry.metrics().then(
        (text) => answer(200, metrics.registry.contentType, text),
        () => answer(500, "application/json", '{"error":"metrics unavailable"}'),
      );
      return;
    }
    answer(404, "application/json", '{"error":"not found"}');
  };
}

/** Starts every listener; resolves once they are bound and the token file is loaded. */
export async function startProxy(config: ProxyConfig, options: StartOptions = {}): Promise<RunningProxy> {
  const logger = options.logger ?? createLogger();
  const metrics = new Metrics();
  const tokens = await TokenStore.open(config.tokensFile, {
    onReload: (count) => {
      metrics.tokens.set(count);
      metrics.tokenReloads.inc({ result: "ok" });
      logger.info("tokens_reloaded", { count });
    },
    onReloadFailed: (error) => {
      metrics.tokenReloads.inc({ result: "failed" });
      logger.warn("tokens_reload_failed", { reason: error.message });
    },
  });
  metrics.tokens.set(tokens.size);
  tokens.watch(config.tokensPollMs);

  const upstream = new Upstream(config);
  const readiness = new UpstreamReadiness(upstream.pool, upstream.basePath + config.upstreamHealthPath, Math.max(1_000, config.readyPollMs), (ready) => {
    metrics.upstreamReady.set(ready ? 1 : 0);
    logger.info(ready ? "upstream_ready" : "upstream_unready", { upstream: config.upstreamUrl.origin });
  });
  const gateway = new Gateway({ config, tokens, upstream, readiness, metrics, logger });

  const api = http.createServer(serverOptions(config), (req, res) => gateway.handle(req, res));
  // Decide on the headers before inviting the body: a refused request never uploads it.
  api.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => gateway.handle(req, res, true));
  hardenServer(api, config, logger, "api");
  const metricsServer = http.createServer(metricsHandler(metrics, gateway, readiness));
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
              // Client input: redact any token pasted into it, as the API listener does.
              path: tokens.redact((req.url ?? "").split("?", 1)[0]).slice(0, 256),
              route: "redirect",
              status,
              bytes_out: bytesOut,
              client: req.socket?.remoteAddress,
            });
          }),
        );
  if (redirectServer !== undefined) hardenServer(redirectServer, config, logger, "redirect");

  let port: number;
  let metricsPort: number;
  let redirectPort: number | undefined;
  try {
    await readiness.start(config.readyPollMs);
    port = await listen(api, config.port, config.host);
    metricsPort = await listen(metricsServer, config.metricsPort, config.host);
    redirectPort =
      redirectServer === undefined || config.redirect === undefined ? undefined : await listen(redirectServer, config.redirect.port, config.host);
  } catch (error) {
    // A port already taken: release everything started so far, so the caller's process can exit.
    readiness.stop();
    tokens.close();
    await Promise.all([closeServer(api), closeServer(metricsServer), redirectServer ? closeServer(redirectServer) : undefined]);
    await upstream.close();
    throw error;
  }
  logger.info("listening", {
    port,
    metrics_port: metricsPort,
    redirect_port: redirectPort,
    redirect_to: config.redirect?.to,
    upstream: config.upstreamUrl.href,
    tokens: tokens.size,
    upstream_ready: readiness.isReady,
  });

  let stopping: Promise<void> | undefined;
  const shutdown = (graceMs = config.shutdownGraceMs): Promise<void> => {
    stopping ??= (async () => {
      gateway.startDraining();
      logger.info("draining", { inflight: gateway.inflightCount, grace_ms: graceMs });
      const closed = Promise.all([closeServer(api), redirectServer ? closeServer(redirectServer) : Promise.resolve()]);
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<"deadline">((resolve) => {
        timer = setTimeout(() => resolve("deadline"), graceMs);
      });
      const result = await Promise.race([gateway.whenIdle().then(() => "drained" as const), deadline]);
      clearTimeout(timer);
      // Keep-alive connections that went idle after their last response would hold close() open.
      api.closeIdleConnections();
      redirectServer?.closeIdleConnections();
      if (result === "deadline") {
        logger.warn("grace_deadline", { aborted: gateway.inflightCount });
        // Destroying the client sockets aborts their upstream requests too.
        api.closeAllConnections();
        redirectServer?.closeAllConnections();
      }
      await closed;
      readiness.stop();
      tokens.close();
      await upstream.close();
      await closeServer(metricsServer);
      metricsServer.closeAllConnections();
      logger.info("stopped", { result });
    })();
    return stopping;
  };

  return { config, port, metricsPort, redirectPort, gateway, metrics, shutdown };
}
