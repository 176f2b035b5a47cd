/** One local run: the credentials, the model servers, a sidecar in front of each, the gateway in front of them, and the teardown. */
import { loadConfig, type ProxyConfig } from "../../proxy/src/config";
import type { Logger } from "../../proxy/src/log";
import { startProxy, type RunningProxy } from "../../proxy/src/server";
import { DEFAULT_PORT, DEFAULT_REDIRECT_PORT, type LocalOptions } from "./args";
import { renderBanner } from "./banner";
import { createCredentials, type LocalCredentials } from "./credentials";
import type { LogSource } from "./logger";
import { choosePort, endpointHost, PortError, type PortChoice } from "./ports";
import { startSidecars, type LocalReplica } from "./replicas";
import { externalUpstream, startEmulators, type ModelServers } from "./upstream";

/** In-flight requests get this long after Ctrl-C: a local user wants the prompt back, not a drain. */
const LOCAL_GRACE_MS = 2_000;
/** Health polls at both tiers: a replica that turns ready is serving held requests within half a second. */
const LOCAL_READY_POLL_MS = 250;
/** How long the gateway holds a request past --replica-start-delay-ms before its 503 (the cluster holds 600 s). */
const LOCAL_HOLD_MARGIN_MS = 60_000;

export interface LocalRun {
  readonly banner: string;
  readonly warnings: readonly string[];
  readonly gateway: RunningProxy;
  readonly replicas: readonly LocalReplica[];
  readonly credentials: LocalCredentials;
  /** Stops the gateway, then the sidecars and the emulators, and removes the temporary files; safe to call twice. */
  stop(): Promise<void>;
}

async function redirectPort(options: LocalOptions, apiPort: number): Promise<{ port: number; note?: string } | undefined> {
  if (!options.redirect) return undefined;
  const fallback = apiPort === DEFAULT_REDIRECT_PORT ? 0 : DEFAULT_REDIRECT_PORT;
  const requested = options.redirectPort ?? (fallback === 0 ? 0 : undefined);
  for (let attempt = 0; attempt < 5; attempt++) {
    const choice = await choosePort(requested, fallback, options.host, "--redirect-port");
    if (choice.port !== apiPort) return choice;
  }
  throw new PortError(`--redirect-port: could not find a port other than the API's ${apiPort}`);
}

/** How many times a port the gateway was given, not one the user named, is picked again when another process takes it first. */
const PICK_ATTEMPTS = 3;

/** The gateway on the ports the options ask for; a free port it picked that is gone by the time it listens is picked again. */
export async function startGateway(
  options: LocalOptions,
  configFor: (apiPort: number, redirect: PortChoice | undefined) => ProxyConfig,
  logger: Logger,
): Promise<{ gateway: RunningProxy; api: PortChoice; redirect: PortChoice | undefined }> {
  for (let attempt = 1; ; attempt++) {
    // `--redirect-port 8080` alone takes the API's default: the API then gets any free port.
    const apiDefault = options.redirectPort === DEFAULT_PORT ? 0 : DEFAULT_PORT;
    const api = await choosePort(options.port, apiDefault, options.host, "--port");
    const redirect = await redirectPort(options, api.port);
    try {
      return { gateway: await startProxy(configFor(api.port, redirect), { logger }), api, redirect };
    } catch (error) {
      const taken = (error as NodeJS.ErrnoException & { port?: number }).port;
      const picked = (taken === api.port && !options.port) || (redirect !== undefined && taken === redirect.port && !options.redirectPort);
      if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE" || !picked || attempt >= PICK_ATTEMPTS) throw error;
    }
  }
}

/** A proxy's /readyz on its metrics port: 200 once it sees its upstream ready (and not access-logged). */
async function ready(metricsPort: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/readyz`, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** The gateway's MODEL_ID takes no spaces or quotes: a model list's odd name is left to the first replica's answer. */
const modelIdEnv = (model: string): Record<string, string> => (/[\s"\\]/.test(model) ? {} : { MODEL_ID: model });

export async function startLocal(options: LocalOptions, loggerFor: (source: LogSource) => Logger): Promise<LocalRun> {
  const credentials = createCredentials(options.keys, options.tokenFile);
  let servers: ModelServers | undefined;
  let replicas: LocalReplica[] = [];
  try {
    const host = endpointHost(options.host);
    const delayed = options.upstream === undefined && options.replicaStartDelayMs > 0;
    servers =
      options.upstream === undefined
        ? await startEmulators(options.replicas, options.model, options.tokenDelayMs, !delayed)
        : await externalUpstream(options.upstream, options.model);
    replicas = await startSidecars(
      servers.urls,
      { internalTokenFile: credentials.internalTokenFile, healthPath: servers.healthPath, readyPollMs: LOCAL_READY_POLL_MS, graceMs: LOCAL_GRACE_MS },
      (index) => loggerFor({ label: `replica ${index}` }),
    );
    const replicaNames = new Map(replicas.map((r) => [r.origin, `replica ${r.index}`]));
    const holdTimeoutMs = (delayed ? options.replicaStartDelayMs : 0) + LOCAL_HOLD_MARGIN_MS;
    const modelEnv = modelIdEnv(servers.model);
    // Ports are chosen last, just before the gateway listens: a port picked earlier could be taken while the replicas start.
    const gatewayConfig = (apiPort: number, redirect: PortChoice | undefined): ProxyConfig =>
      loadConfig({
        ROLE: "gateway",
        ...(credentials.keysFile === undefined ? {} : { KEYS_FILE: credentials.keysFile }),
        ...(credentials.tokens === undefined ? {} : { TOKENS_FILE: credentials.tokens.file }),
        INTERNAL_TOKEN_FILE: credentials.internalTokenFile,
        REPLICAS: replicas.map((r) => r.origin).join(","),
        ...modelEnv,
        COLD_START_TIMEOUT_MS: String(holdTimeoutMs),
        HOST: options.host,
        PORT: String(apiPort),
        METRICS_PORT: "0",
        ...(redirect === undefined ? {} : { REDIRECT_PORT: String(redirect.port), REDIRECT_TO: `http://${host}:${apiPort}` }),
        READY_POLL_MS: String(LOCAL_READY_POLL_MS),
        TOKENS_POLL_MS: "1000",
        SHUTDOWN_GRACE_MS: String(LOCAL_GRACE_MS),
      });
    const { gateway, api, redirect } = await startGateway(options, gatewayConfig, loggerFor({ label: "gateway", replicaNames }));
    const endpoint = `${host}:${api.port}`;
    const running = servers;
    const readyTimer = delayed ? setTimeout(() => running.setReady(), options.replicaStartDelayMs) : undefined;
    const warnings = [...servers.warnings];
    // Only worth saying when the probe saw the server answer; otherwise its own warning says why.
    if (!delayed && servers.answered && !(await ready(replicas[0].sidecar.metricsPort))) {
      warnings.push(
        `the sidecar does not see ${servers.urls[0]} ready yet (it polls ${servers.healthPath} for a 200): ` +
          `the gateway holds the chat commands until it does, up to ${holdTimeoutMs / 1000} s.`,
      );
    }
    const notes = [api.note, redirect?.note].filter((note): note is string => note !== undefined);
    const banner = renderBanner({
      servers: servers.description,
      model: servers.model,
      endpoint,
      redirectEndpoint: redirect === undefined ? undefined : `${host}:${redirect.port}`,
      metricsUrl: `http://${host}:${gateway.metricsPort}/metrics`,
      replicas: replicas.map((r) => ({ index: r.index, sidecar: r.origin.replace(/^http:\/\//, ""), sidecarMetricsUrl: r.metricsUrl, upstream: `${options.upstream === undefined ? "emulator" : "your server"} ${r.upstream}` })),
      keys: credentials.keys,
      keysFile: credentials.keysFile,
      tokens: credentials.tokens,
      startDelayMs: delayed ? options.replicaStartDelayMs : 0,
      holdTimeoutMs,
      allInterfaces: options.host === "0.0.0.0" || options.host === "::",
      notes,
    });
    const sidecars = replicas;
    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        clearTimeout(readyTimer);
        try {
          // Outside in, as on the cluster: the gateway drains first, then nothing reaches the replicas.
          await gateway.shutdown(LOCAL_GRACE_MS);
          await Promise.all(sidecars.map((r) => r.sidecar.shutdown(LOCAL_GRACE_MS)));
          await running.close();
        } finally {
          credentials.remove();
        }
      })();
      return stopping;
    };
    return { banner, warnings, gateway, replicas, credentials, stop };
  } catch (error) {
    await Promise.all(replicas.map((r) => r.sidecar.shutdown(0).catch(() => undefined)));
    await servers?.close().catch(() => undefined);
    credentials.remove();
    throw error;
  }
}
