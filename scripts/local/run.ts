/** One local stack: token, upstream (emulator or the user's server), the proxy in-process, and its teardown. */
import { loadConfig } from "../../proxy/src/config";
import type { Logger } from "../../proxy/src/log";
import { startProxy, type RunningProxy } from "../../proxy/src/server";
import { DEFAULT_PORT, DEFAULT_REDIRECT_PORT, type LocalOptions } from "./args";
import { renderBanner } from "./banner";
import { choosePort, endpointHost, PortError } from "./ports";
import { createTemporaryTokens, readTokenFile, type TokenSource } from "./tokens";
import { externalUpstream, startEmulator, type UpstreamPlan } from "./upstream";

/** In-flight requests get this long after Ctrl-C: a local user wants the prompt back, not a drain. */
const LOCAL_GRACE_MS = 2_000;

export interface LocalRun {
  readonly banner: string;
  readonly warnings: readonly string[];
  readonly proxy: RunningProxy;
  readonly tokens: TokenSource;
  /** Stops the proxy, closes the emulator and removes the temporary token file; safe to call twice. */
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

/** The proxy's /readyz on the metrics port: 200 once it sees the upstream ready (and not access-logged). */
async function proxyReady(host: string, metricsPort: number): Promise<boolean> {
  try {
    const res = await fetch(`http://${host}:${metricsPort}/readyz`, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

export async function startLocal(options: LocalOptions, logger: Logger): Promise<LocalRun> {
  const tokens = options.tokenFile === undefined ? createTemporaryTokens() : readTokenFile(options.tokenFile);
  let upstream: UpstreamPlan | undefined;
  try {
    // `--redirect-port 8080` alone takes the API's default: the API then gets any free port.
    const apiDefault = options.redirectPort === DEFAULT_PORT ? 0 : DEFAULT_PORT;
    const api = await choosePort(options.port, apiDefault, options.host, "--port");
    const redirect = await redirectPort(options, api.port);
    const host = endpointHost(options.host);
    const endpoint = `${host}:${api.port}`;
    upstream = options.upstream === undefined ? await startEmulator(options.model, options.tokenDelayMs) : await externalUpstream(options.upstream, options.model);
    const config = loadConfig({
      UPSTREAM_URL: upstream.url,
      UPSTREAM_HEALTH_PATH: upstream.healthPath,
      TOKENS_FILE: tokens.file,
      HOST: options.host,
      PORT: String(api.port),
      METRICS_PORT: "0",
      ...(redirect === undefined ? {} : { REDIRECT_PORT: String(redirect.port), REDIRECT_TO: `http://${endpoint}` }),
      READY_POLL_MS: "1000",
      TOKENS_POLL_MS: "1000",
      SHUTDOWN_GRACE_MS: String(LOCAL_GRACE_MS),
    });
    const proxy = await startProxy(config, { logger });
    const warnings = [...upstream.warnings];
    // Only worth saying when the probe saw the upstream answer; otherwise its own warning says why.
    if (upstream.answered && !(await proxyReady(host, proxy.metricsPort))) {
      warnings.push(
        `the proxy does not see the upstream ready yet (it polls ${upstream.url}${upstream.healthPath} every second for a 200): ` +
          `/v1/models and the chat commands get 503 until then.`,
      );
    }
    const notes = [api.note, redirect?.note].filter((note): note is string => note !== undefined);
    const banner = renderBanner({
      upstream: upstream.description,
      model: upstream.model,
      endpoint,
      redirectEndpoint: redirect === undefined ? undefined : `${host}:${redirect.port}`,
      metricsUrl: `http://${host}:${proxy.metricsPort}/metrics`,
      token: tokens.token,
      tokenFile: tokens.file,
      tokenCount: tokens.count,
      temporaryTokenFile: tokens.temporary,
      allInterfaces: options.host === "0.0.0.0" || options.host === "::",
      notes,
    });
    const running = upstream;
    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        try {
          await proxy.shutdown(LOCAL_GRACE_MS);
          await running.close();
        } finally {
          tokens.remove();
        }
      })();
      return stopping;
    };
    return { banner, warnings, proxy, tokens, stop };
  } catch (error) {
    await upstream?.close().catch(() => undefined);
    tokens.remove();
    throw error;
  }
}
