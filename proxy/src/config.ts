/** The proxy's whole interface is its environment, parsed once into a frozen, validated object. */

export const DEFAULT_UPSTREAM_URL = "http://127.0.0.1:8000";
export const DEFAULT_UPSTREAM_HEALTH_PATH = "/health";
export const DEFAULT_PORT = 8080;
export const DEFAULT_METRICS_PORT = 9090;
export const DEFAULT_HOST = "0.0.0.0";
/** 10 MiB: a 4096-token prompt is ~16 KB, so this leaves room for batched embeddings and nothing abusive. */
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
/** Time for a client to send all its headers: short, so slow-header clients cannot pin sockets. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 15_000;
/** Time for a client to send a whole request, body included. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;
/** Above the NLB's 350 s TCP idle timeout. */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 400_000;
export const DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS = 5_000;
/** A non-streamed generation answers only when done: allow long outputs under load. */
export const DEFAULT_UPSTREAM_HEADERS_TIMEOUT_MS = 30 * 60_000;
/** Longest silence between two body chunks (a queued stream waits for a free slot). */
export const DEFAULT_UPSTREAM_BODY_TIMEOUT_MS = 10 * 60_000;
/** Well above a GPU's concurrent sequences, so the pool never queues streams that vLLM could start. */
export const DEFAULT_UPSTREAM_CONNECTIONS = 4096;
export const DEFAULT_READY_POLL_MS = 2_000;
export const DEFAULT_TOKENS_POLL_MS = 2_000;
/** How long SIGTERM waits for in-flight streams before aborting them. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 240_000;
/** Shortest accepted token: shorter ones are guessable. */
export const MIN_TOKEN_LENGTH = 16;

export interface ProxyConfig {
  readonly upstreamUrl: URL;
  /** The upstream path polled for readiness (vLLM and llama.cpp: /health; Ollama: /v1/models). */
  readonly upstreamHealthPath: string;
  readonly tokensFile: string;
  readonly host: string;
  readonly port: number;
  readonly metricsPort: number;
  /** Both set, or neither: the 308 listener. */
  readonly redirect?: { readonly port: number; readonly to: string };
  /** `X-Forwarded-Proto` for API traffic: https when the load balancer terminates TLS. */
  readonly forwardedProto: "http" | "https";
  readonly maxBodyBytes: number;
  readonly maxHeaderBytes: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly upstreamConnectTimeoutMs: number;
  readonly upstreamHeadersTimeoutMs: number;
  readonly upstreamBodyTimeoutMs: number;
  readonly upstreamConnections: number;
  readonly readyPollMs: number;
  readonly tokensPollMs: number;
  readonly shutdownGraceMs: number;
  /** `false` silences the per-request access log (benchmarks); errors are still logged. */
  readonly accessLog: boolean;
}

/** Every bad variable, reported together so one fix-up round is enough. */
export class ConfigError extends Error {
  readonly code = "PROXY_CONFIG_INVALID";
  constructor(readonly problems: readonly string[]) {
    super(`invalid proxy configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

type Env = Readonly<Record<string, string | undefined>>;

class EnvReader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === "" ? undefined : value.trim();
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      this.problems.push(`${name}=${JSON.stringify(value)}: expected a whole number from ${min} to ${max}`);
      return fallback;
    }
    return Number(value);
  }

  /** 0 asks the OS for a free port (tests, local runs); the bound port is logged at start-up. */
  port(name: string, fallback: number): number {
    return this.integer(name, fallback, 0, 65535);
  }

  optionalPort(name: string): number | undefined {
    return this.raw(name) === undefined ? undefined : this.integer(name, 0, 0, 65535);
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (value === "true" || value === "1") return true;
    if (value === "false" || value === "0") return false;
    this.problems.push(`${name}=${JSON.stringify(value)}: expected true or false`);
    return fallback;
  }
}

function parseUpstream(reader: EnvReader): URL {
  const value = reader.raw("UPSTREAM_URL") ?? DEFAULT_UPSTREAM_URL;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    reader.problems.push(`UPSTREAM_URL=${JSON.stringify(value)}: expected an http URL such as ${DEFAULT_UPSTREAM_URL}`);
    return new URL(DEFAULT_UPSTREAM_URL);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    reader.problems.push(`UPSTREAM_URL=${JSON.stringify(value)}: expected an http:// or https:// URL`);
  }
  if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    reader.problems.push(`UPSTREAM_URL=${JSON.stringify(value)}: expected scheme, host, port and path only (no credentials, query or fragment)`);
  }
  return url;
}

function parseRedirect(reader: EnvReader): ProxyConfig["redirect"] {
  const port = reader.optionalPort("REDIRECT_PORT");
  const to = reader.raw("REDIRECT_TO");
  if (port === undefined && to === undefined) return undefined;
  if (port === undefined || to === undefined) {
    reader.problems.push("REDIRECT_PORT and REDIRECT_TO: set both (for the 308 listener) or neither");
    return undefined;
  }
  let url: URL | undefined;
  try {
    url = new URL(to);
  } catch {
    url = undefined;
  }
  const isOrigin =
    url !== undefined &&
    (url.protocol === "https:" || url.protocol === "http:") &&
    url.pathname === "/" &&
    url.search === "" &&
    url.hash === "" &&
    url.username === "" &&
    !to.endsWith("/");
  if (!isOrigin || url === undefined) {
    reader.problems.push(
      `REDIRECT_TO=${JSON.stringify(to)}: expected an origin with no path or trailing slash, such as https://llm.example.com`,
    );
    return undefined;
  }
  return Object.freeze({ port, to: url.origin });
}

/** Parses the environment; throws one ConfigError that lists every bad variable. */
export function loadConfig(env: Env = process.env): ProxyConfig {
  const reader = new EnvReader(env);
  const upstreamUrl = parseUpstream(reader);
  const tokensFile = reader.raw("TOKENS_FILE");
  if (tokensFile === undefined) {
    reader.problems.push("TOKENS_FILE is required: the path of a file with one API token per line");
  }
  const redirect = parseRedirect(reader);
  const forwardedProtoRaw = reader.raw("FORWARDED_PROTO");
  let forwardedProto: "http" | "https" = redirect?.to.startsWith("https:") ? "https" : "http";
  if (forwardedProtoRaw !== undefined) {
    if (forwardedProtoRaw === "http" || forwardedProtoRaw === "https") forwardedProto = forwardedProtoRaw;
    else reader.problems.push(`FORWARDED_PROTO=${JSON.stringify(forwardedProtoRaw)}: expected http or https`);
  }
  const healthPath = reader.raw("UPSTREAM_HEALTH_PATH") ?? DEFAULT_UPSTREAM_HEALTH_PATH;
  if (!/^\/[A-Za-z0-9._~\/-]*$/.test(healthPath) || healthPath.includes("//") || healthPath.includes("..")) {
    reader.problems.push(`UPSTREAM_HEALTH_PATH=${JSON.stringify(healthPath)}: expected a plain path such as /health`);
  }
  const hour = 3_600_000;
  const config: ProxyConfig = {
    upstreamUrl,
    upstreamHealthPath: healthPath,
    tokensFile: tokensFile ?? "",
    host: reader.raw("HOST") ?? DEFAULT_HOST,
    port: reader.port("PORT", DEFAULT_PORT),
    metricsPort: reader.port("METRICS_PORT", DEFAULT_METRICS_PORT),
    redirect,
    forwardedProto,
    maxBodyBytes: reader.integer("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, 1, 1024 * 1024 * 1024),
    maxHeaderBytes: reader.integer("MAX_HEADER_BYTES", DEFAULT_MAX_HEADER_BYTES, 1024, 1024 * 1024),
    headersTimeoutMs: reader.integer("HEADERS_TIMEOUT_MS", DEFAULT_HEADERS_TIMEOUT_MS, 100, hour),
    requestTimeoutMs: reader.integer("REQUEST_TIMEOUT_MS", DEFAULT_REQUEST_TIMEOUT_MS, 100, hour),
    keepAliveTimeoutMs: reader.integer("KEEP_ALIVE_TIMEOUT_MS", DEFAULT_KEEP_ALIVE_TIMEOUT_MS, 100, 24 * hour),
    upstreamConnectTimeoutMs: reader.integer("UPSTREAM_CONNECT_TIMEOUT_MS", DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS, 10, hour),
    upstreamHeadersTimeoutMs: reader.integer("UPSTREAM_HEADERS_TIMEOUT_MS", DEFAULT_UPSTREAM_HEADERS_TIMEOUT_MS, 10, 24 * hour),
    upstreamBodyTimeoutMs: reader.integer("UPSTREAM_BODY_TIMEOUT_MS", DEFAULT_UPSTREAM_BODY_TIMEOUT_MS, 10, 24 * hour),
    upstreamConnections: reader.integer("UPSTREAM_CONNECTIONS", DEFAULT_UPSTREAM_CONNECTIONS, 1, 65535),
    readyPollMs: reader.integer("READY_POLL_MS", DEFAULT_READY_POLL_MS, 10, hour),
    tokensPollMs: reader.integer("TOKENS_POLL_MS", DEFAULT_TOKENS_POLL_MS, 10, hour),
    shutdownGraceMs: reader.integer("SHUTDOWN_GRACE_MS", DEFAULT_SHUTDOWN_GRACE_MS, 0, 24 * hour),
    accessLog: reader.boolean("ACCESS_LOG", true),
  };
  if (config.headersTimeoutMs > config.requestTimeoutMs) {
    reader.problems.push(
      `HEADERS_TIMEOUT_MS (${config.headersTimeoutMs}) must not exceed REQUEST_TIMEOUT_MS (${config.requestTimeoutMs})`,
    );
  }
  const ports = [config.port, config.metricsPort, config.redirect?.port].filter((p): p is number => p !== undefined && p !== 0);
  if (new Set(ports).size !== ports.length) {
    reader.problems.push(`PORT, METRICS_PORT and REDIRECT_PORT must differ (got ${ports.join(", ")})`);
  }
  if (reader.problems.length > 0) throw new ConfigError(reader.problems);
  return Object.freeze(config);
}
