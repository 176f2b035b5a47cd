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
/** A client whose send queue stays full this long is closed (nginx's send_timeout default). */
export const DEFAULT_SEND_TIMEOUT_MS = 60_000;
/**
 * First TCP keep-alive probe after this much silence, on client and upstream sockets: well under the
 * NLB's fixed 350 s idle timeout of TLS listeners, which keep-alive packets reset (AWS ELB docs,
 * network-load-balancers.html "Connection idle timeout").
 */
export const DEFAULT_TCP_KEEPALIVE_MS = 60_000;
export const DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS = 5_000;
/** A non-streamed generation answers only when done: allow long outputs under load. */
export const DEFAULT_UPSTREAM_HEADERS_TIMEOUT_MS = 30 * 60_000;
/** Longest silence between two body chunks (a queued stream waits for a free slot). */
export const DEFAULT_UPSTREAM_BODY_TIMEOUT_MS = 10 * 60_000;
/** Well above a GPU's concurrent sequences, so the pool never queues streams that vLLM could start. */
export const DEFAULT_UPSTREAM_CONNECTIONS = 4096;
/** Requests that may wait for a free upstream connection; past it the proxy sheds with 503 at once. */
export const DEFAULT_UPSTREAM_MAX_WAITING = 1024;
/**
 * Pipelined requests one connection may have waiting behind its current one, and all connections
 * together; past either the connection is closed. A client that waits for its answers never needs
 * more than it keeps in flight, and a few KiB each bound the total to some tens of MiB.
 */
export const DEFAULT_PIPELINE_MAX_WAITING = 1024;
export const DEFAULT_PIPELINE_MAX_WAITING_TOTAL = 8192;
/** Open client connections; about 12 KiB each when idle (docs/proxy.md, "Under hostile load", sizes it against the container's memory). */
export const DEFAULT_MAX_CONNECTIONS = 8192;
/** Unauthenticated requests (model list, refusals) answered per second by one process; past it 503. */
export const DEFAULT_PUBLIC_MAX_RPS = 2_000;
export const DEFAULT_READY_POLL_MS = 2_000;
export const DEFAULT_TOKENS_POLL_MS = 2_000;
/** How often the copy of the upstream's `/v1/models` answer is refreshed while the upstream is ready. */
export const DEFAULT_MODELS_REFRESH_MS = 10_000;
/** How long SIGTERM waits for in-flight streams before aborting them. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 240_000;
/** Gateway: how often the replicas' DNS name is resolved again (CoreDNS answers with a 5 s TTL). */
export const DEFAULT_REPLICAS_RESOLVE_MS = 1_000;
export const DEFAULT_REPLICAS_PORT = 8080;
/** Gateway: longest a request is held while no replica is ready (a scale from zero takes minutes). */
export const DEFAULT_COLD_START_TIMEOUT_MS = 600_000;
/** Gateway: requests held at once while no replica is ready; past it 503. */
export const DEFAULT_HOLD_MAX = 256;
/** Gateway: bytes of request bodies read ahead while held (bodies are read before holding, see holding.ts). */
export const DEFAULT_HOLD_MAX_BYTES = 64 * 1024 * 1024;
/** Gateway: every call to the limits store gives up after this; the gateway then falls back to its own share. */
export const DEFAULT_LIMITS_TIMEOUT_MS = 100;
/** Shortest accepted token: shorter ones are guessable. */
export const MIN_TOKEN_LENGTH = 16;

/** What this process is: a single front door, the public gateway, or the guard beside one vLLM. */
export type Role = "single" | "gateway" | "sidecar";
export const ROLES: readonly Role[] = ["single", "gateway", "sidecar"];

/** Where the gateway finds its replicas: a DNS name answered with the ready pods' addresses, or a fixed list. */
export type ReplicaSource =
  | { readonly kind: "dns"; readonly name: string; readonly port: number; readonly resolveMs: number }
  | { readonly kind: "static"; readonly urls: readonly URL[] };

export interface ProxyConfig {
  readonly role: Role;
  /** single: plaintext tokens, one per line (every line a valid client credential). */
  readonly tokensFile?: string;
  /** single, gateway: named keys as SHA-256 digests with their limits (proxy/src/keys/format.ts). */
  readonly keysFile?: string;
  /** gateway, sidecar: the credential between the two tiers, one per line (the gateway sends the first). */
  readonly internalTokenFile?: string;
  /** single, sidecar: the model server. */
  readonly upstreamUrl: URL;
  /** The upstream path polled for readiness (vLLM and llama.cpp: /health; Ollama: /v1/models). */
  readonly upstreamHealthPath: string;
  /** gateway: the replicas (sidecars) to balance over. */
  readonly replicas?: ReplicaSource;
  readonly coldStartTimeoutMs: number;
  readonly holdMax: number;
  readonly holdMaxBytes: number;
  /** gateway: the served model's id, for `/v1/models` before any replica has answered it. */
  readonly modelId?: string;
  /** gateway (and single with named keys): the shared limits store. */
  readonly redisUrl?: string;
  readonly gatewayReplicas: number;
  readonly limitsTimeoutMs: number;
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
  readonly sendTimeoutMs: number;
  readonly tcpKeepAliveMs: number;
  readonly upstreamConnectTimeoutMs: number;
  readonly upstreamHeadersTimeoutMs: number;
  readonly upstreamBodyTimeoutMs: number;
  readonly upstreamConnections: number;
  readonly upstreamMaxWaiting: number;
  readonly pipelineMaxWaiting: number;
  readonly pipelineMaxWaitingTotal: number;
  readonly maxConnections: number;
  readonly publicMaxRps: number;
  readonly readyPollMs: number;
  readonly tokensPollMs: number;
  readonly modelsRefreshMs: number;
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

  /** Refuses a variable this role never reads, so a misplaced setting is not silently ignored. */
  unused(name: string, role: Role, why: string): void {
    if (this.raw(name) !== undefined) this.problems.push(`${name} is not read with ROLE=${role}: ${why}`);
  }
}

/** An http(s) URL with scheme, host, port and path only. */
function parseHttpUrl(reader: EnvReader, name: string, value: string, example: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    reader.problems.push(`${name}=${JSON.stringify(value)}: expected an http URL such as ${example}`);
    return undefined;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    reader.problems.push(`${name}=${JSON.stringify(value)}: expected an http:// or https:// URL`);
    return undefined;
  }
  if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    reader.problems.push(`${name}=${JSON.stringify(value)}: expected scheme, host, port and path only (no credentials, query or fragment)`);
    return undefined;
  }
  return url;
}

function parseUpstream(reader: EnvReader): URL {
  const value = reader.raw("UPSTREAM_URL") ?? DEFAULT_UPSTREAM_URL;
  return parseHttpUrl(reader, "UPSTREAM_URL", value, DEFAULT_UPSTREAM_URL) ?? new URL(DEFAULT_UPSTREAM_URL);
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

/** A DNS name: labels of letters, digits and dashes. */
const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*\.?$/;

function parseReplicas(reader: EnvReader): ReplicaSource | undefined {
  const dns = reader.raw("REPLICAS_DNS");
  const list = reader.raw("REPLICAS");
  if (dns !== undefined && list !== undefined) {
    reader.problems.push("REPLICAS_DNS and REPLICAS: set one (a headless Service's DNS name, or a list of URLs), not both");
    return undefined;
  }
  if (dns !== undefined) {
    if (!DNS_NAME.test(dns)) {
      reader.problems.push(`REPLICAS_DNS=${JSON.stringify(dns)}: expected a DNS name such as vllm-replicas.vllm.svc.cluster.local`);
      return undefined;
    }
    const port = reader.integer("REPLICAS_PORT", DEFAULT_REPLICAS_PORT, 1, 65535);
    const resolveMs = reader.integer("REPLICAS_RESOLVE_MS", DEFAULT_REPLICAS_RESOLVE_MS, 50, 60_000);
    return Object.freeze({ kind: "dns", name: dns, port, resolveMs });
  }
  if (list !== undefined) {
    const urls: URL[] = [];
    for (const item of list.split(",").map((s) => s.trim())) {
      if (item === "") continue;
      const url = parseHttpUrl(reader, "REPLICAS", item, "http://127.0.0.1:8001,http://127.0.0.1:8002");
      if (url === undefined) continue;
      if (url.pathname !== "/") {
        reader.problems.push(`REPLICAS=${JSON.stringify(item)}: expected an origin without a path, such as http://127.0.0.1:8001`);
        continue;
      }
      urls.push(url);
    }
    if (urls.length === 0 && reader.problems.length === 0) reader.problems.push("REPLICAS is empty: list at least one replica URL");
    const origins = urls.map((u) => u.origin);
    if (new Set(origins).size !== origins.length) reader.problems.push(`REPLICAS lists a replica twice: ${origins.join(", ")}`);
    return Object.freeze({ kind: "static", urls: Object.freeze(urls) });
  }
  reader.problems.push("ROLE=gateway needs its replicas: REPLICAS_DNS (a headless Service's DNS name) or REPLICAS (a list of URLs)");
  return undefined;
}

function parseRole(reader: EnvReader): Role {
  const value = reader.raw("ROLE");
  if (value === undefined) return "single";
  if ((ROLES as readonly string[]).includes(value)) return value as Role;
  reader.problems.push(`ROLE=${JSON.stringify(value)}: expected one of ${ROLES.join(", ")} (unset means single)`);
  return "single";
}

/** The credential files each role reads, and the refusal of those it must not. */
function parseCredentials(reader: EnvReader, role: Role): Pick<ProxyConfig, "tokensFile" | "keysFile" | "internalTokenFile"> {
  const tokensFile = reader.raw("TOKENS_FILE");
  const keysFile = reader.raw("KEYS_FILE");
  const internalTokenFile = reader.raw("INTERNAL_TOKEN_FILE");
  if (role === "sidecar") {
    // A client key must never reach a GPU pod: the sidecar knows only the internal credential.
    reader.unused("TOKENS_FILE", role, "the sidecar accepts only the internal credential (INTERNAL_TOKEN_FILE)");
    reader.unused("KEYS_FILE", role, "the sidecar accepts only the internal credential (INTERNAL_TOKEN_FILE)");
  } else if (tokensFile === undefined && keysFile === undefined) {
    reader.problems.push(
      role === "single"
        ? "TOKENS_FILE is required: the path of a file with one API token per line (or KEYS_FILE, a file of named keys)"
        : "KEYS_FILE is required with ROLE=gateway: the path of the keys file (names and SHA-256 digests)",
    );
  }
  if (role === "single") reader.unused("INTERNAL_TOKEN_FILE", role, "only the gateway and the sidecar use the internal credential");
  else if (internalTokenFile === undefined) {
    reader.problems.push(`INTERNAL_TOKEN_FILE is required with ROLE=${role}: the file with the credential between gateway and sidecars`);
  }
  return {
    ...(tokensFile !== undefined && role !== "sidecar" ? { tokensFile } : {}),
    ...(keysFile !== undefined && role !== "sidecar" ? { keysFile } : {}),
    ...(internalTokenFile !== undefined && role !== "single" ? { internalTokenFile } : {}),
  };
}

/** Parses the environment; throws one ConfigError that lists every bad variable. */
export function loadConfig(env: Env = process.env): ProxyConfig {
  const reader = new EnvReader(env);
  const role = parseRole(reader);
  const credentials = parseCredentials(reader, role);
  const upstreamUrl = parseUpstream(reader);
  if (role === "gateway") reader.unused("UPSTREAM_URL", role, "the gateway forwards to its replicas (REPLICAS_DNS or REPLICAS)");
  let replicas: ReplicaSource | undefined;
  if (role === "gateway") replicas = parseReplicas(reader);
  else {
    for (const name of ["REPLICAS_DNS", "REPLICAS", "REPLICAS_PORT", "COLD_START_TIMEOUT_MS", "MODEL_ID", "GATEWAY_REPLICAS"]) {
      reader.unused(name, role, "it belongs to ROLE=gateway");
    }
  }
  if (role === "sidecar") {
    reader.unused("REDIS_URL", role, "limits are kept by the gateway");
    reader.unused("REDIRECT_PORT", role, "the redirect listener runs on the gateway");
    reader.unused("REDIRECT_TO", role, "the redirect listener runs on the gateway");
  }
  const redirect = role === "sidecar" ? undefined : parseRedirect(reader);
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
  const redisRaw = reader.raw("REDIS_URL");
  let redisUrl: string | undefined;
  if (redisRaw !== undefined && role !== "sidecar") {
    let parsed: URL | undefined;
    try {
      parsed = new URL(redisRaw);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") || parsed.hostname === "") {
      reader.problems.push(`REDIS_URL=${JSON.stringify(redisRaw)}: expected redis://host:port, such as redis://vllm-valkey.vllm.svc.cluster.local:6379`);
    } else redisUrl = redisRaw;
  }
  const modelId = reader.raw("MODEL_ID");
  if (modelId !== undefined && /[\s"\\]/.test(modelId)) {
    reader.problems.push(`MODEL_ID=${JSON.stringify(modelId)}: expected a model id without spaces or quotes, such as meta-llama/Llama-2-7b-chat-hf`);
  }
  const hour = 3_600_000;
  const config: ProxyConfig = {
    role,
    ...credentials,
    upstreamUrl,
    upstreamHealthPath: healthPath,
    ...(replicas !== undefined ? { replicas } : {}),
    coldStartTimeoutMs: reader.integer("COLD_START_TIMEOUT_MS", DEFAULT_COLD_START_TIMEOUT_MS, 0, 24 * hour),
    holdMax: reader.integer("HOLD_MAX", DEFAULT_HOLD_MAX, 0, 100_000),
    holdMaxBytes: reader.integer("HOLD_MAX_BYTES", DEFAULT_HOLD_MAX_BYTES, 0, 16 * 1024 * 1024 * 1024),
    ...(modelId !== undefined ? { modelId } : {}),
    ...(redisUrl !== undefined ? { redisUrl } : {}),
    gatewayReplicas: reader.integer("GATEWAY_REPLICAS", 1, 1, 1000),
    limitsTimeoutMs: reader.integer("LIMITS_TIMEOUT_MS", DEFAULT_LIMITS_TIMEOUT_MS, 1, 60_000),
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
    sendTimeoutMs: reader.integer("SEND_TIMEOUT_MS", DEFAULT_SEND_TIMEOUT_MS, 100, 24 * hour),
    tcpKeepAliveMs: reader.integer("TCP_KEEPALIVE_MS", DEFAULT_TCP_KEEPALIVE_MS, 1_000, 340_000),
    upstreamConnectTimeoutMs: reader.integer("UPSTREAM_CONNECT_TIMEOUT_MS", DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS, 10, hour),
    upstreamHeadersTimeoutMs: reader.integer("UPSTREAM_HEADERS_TIMEOUT_MS", DEFAULT_UPSTREAM_HEADERS_TIMEOUT_MS, 10, 24 * hour),
    upstreamBodyTimeoutMs: reader.integer("UPSTREAM_BODY_TIMEOUT_MS", DEFAULT_UPSTREAM_BODY_TIMEOUT_MS, 10, 24 * hour),
    upstreamConnections: reader.integer("UPSTREAM_CONNECTIONS", DEFAULT_UPSTREAM_CONNECTIONS, 1, 65535),
    upstreamMaxWaiting: reader.integer("UPSTREAM_MAX_WAITING", DEFAULT_UPSTREAM_MAX_WAITING, 0, 1_000_000),
    pipelineMaxWaiting: reader.integer("PIPELINE_MAX_WAITING", DEFAULT_PIPELINE_MAX_WAITING, 0, 65_536),
    pipelineMaxWaitingTotal: reader.integer("PIPELINE_MAX_WAITING_TOTAL", DEFAULT_PIPELINE_MAX_WAITING_TOTAL, 0, 1_000_000),
    maxConnections: reader.integer("MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS, 1, 1_000_000),
    publicMaxRps: reader.integer("PUBLIC_MAX_RPS", DEFAULT_PUBLIC_MAX_RPS, 1, 10_000_000),
    readyPollMs: reader.integer("READY_POLL_MS", DEFAULT_READY_POLL_MS, 10, hour),
    tokensPollMs: reader.integer("TOKENS_POLL_MS", DEFAULT_TOKENS_POLL_MS, 10, hour),
    modelsRefreshMs: reader.integer("MODELS_REFRESH_MS", DEFAULT_MODELS_REFRESH_MS, 100, hour),
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
