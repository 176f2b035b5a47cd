import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Role } from "./config";

const SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/**
 * The proxy's Prometheus metrics, on their own registry (served on METRICS_PORT only). Every
 * series carries `role`, so one query tells the gateway's figures from the sidecars'.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "vllm_auth_requests_total",
    help: "Requests answered, by route, method and status.",
    labelNames: ["route", "method", "status"] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: "vllm_auth_request_duration_seconds",
    help: "Time from request headers to the end of the response, by route.",
    labelNames: ["route"] as const,
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });
  readonly upstreamLatency = new Histogram({
    name: "vllm_auth_upstream_headers_seconds",
    help: "Time until the model server's response headers, by route.",
    labelNames: ["route"] as const,
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });
  readonly inflightRequests = new Gauge({
    name: "vllm_auth_inflight_requests",
    help: "Requests being forwarded upstream now (at a connection or waiting for one).",
    registers: [this.registry],
  });
  readonly inflightStreams = new Gauge({
    name: "vllm_auth_inflight_streams",
    help: "Server-sent event streams open now.",
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: "vllm_auth_auth_failures_total",
    help: "Requests refused for their credentials, by reason.",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly upstreamErrors = new Counter({
    name: "vllm_auth_upstream_errors_total",
    help: "Failures talking to the model server, by kind.",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly clientAborts = new Counter({
    name: "vllm_auth_client_aborts_total",
    help: "Requests the client abandoned before the response ended (the upstream request is aborted).",
    registers: [this.registry],
  });
  readonly upstreamReady = new Gauge({
    name: "vllm_auth_upstream_ready",
    help: "1 when the model server (a gateway: at least one replica) answers its /health, else 0.",
    registers: [this.registry],
  });
  readonly tokens = new Gauge({
    name: "vllm_auth_tokens",
    help: "Valid credentials loaded (client keys and tokens; the internal credential on a sidecar).",
    registers: [this.registry],
  });
  readonly tokenReloads = new Counter({
    name: "vllm_auth_token_reloads_total",
    help: "Credential file reloads, by result.",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly shed = new Counter({
    name: "vllm_auth_shed_total",
    help: "Requests answered 503 at once because a bound was reached, by traffic class and bound.",
    labelNames: ["class", "reason"] as const,
    registers: [this.registry],
  });
  readonly held = new Gauge({
    name: "vllm_auth_held_requests",
    help: "Requests held while no replica is ready (gateway).",
    registers: [this.registry],
  });
  readonly holdOutcomes = new Counter({
    name: "vllm_auth_held_total",
    help: "Held requests by how the hold ended: served, timeout, overflow, client_gone.",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  readonly replicas = new Gauge({
    name: "vllm_auth_replicas",
    help: "Replicas the gateway knows of and how many are ready.",
    labelNames: ["state"] as const,
    registers: [this.registry],
  });
  readonly replicaInflight = new Gauge({
    name: "vllm_auth_replica_inflight_requests",
    help: "Requests this gateway has at each replica (at a connection or waiting for one).",
    labelNames: ["replica"] as const,
    registers: [this.registry],
  });
  readonly keyRequests = new Counter({
    name: "vllm_auth_key_requests_total",
    help: "Requests per API key name, by route and status.",
    labelNames: ["key", "route", "status"] as const,
    registers: [this.registry],
  });
  readonly keyPromptTokens = new Counter({
    name: "vllm_auth_key_prompt_tokens_total",
    help: "Prompt tokens per API key name, from the model server's usage figures.",
    labelNames: ["key"] as const,
    registers: [this.registry],
  });
  readonly keyCompletionTokens = new Counter({
    name: "vllm_auth_key_completion_tokens_total",
    help: "Completion tokens per API key name, from the model server's usage figures.",
    labelNames: ["key"] as const,
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: "vllm_auth_rate_limited_total",
    help: "Requests refused with 429 per API key name, by the limit reached.",
    labelNames: ["key", "limit"] as const,
    registers: [this.registry],
  });
  readonly limitsStoreUp = new Gauge({
    name: "vllm_auth_limits_store_up",
    help: "1 while the shared limits store answers, 0 while limits fall back to this gateway's share.",
    registers: [this.registry],
  });
  readonly limitsStoreErrors = new Counter({
    name: "vllm_auth_limits_store_errors_total",
    help: "Failed or timed-out calls to the shared limits store.",
    registers: [this.registry],
  });
  readonly limitsFallback = new Counter({
    name: "vllm_auth_limits_fallback_total",
    help: "Requests decided by this gateway's share of a key's limits while the shared store was unusable, per key name.",
    labelNames: ["key"] as const,
    registers: [this.registry],
  });
  readonly connectionsShed = new Counter({
    name: "vllm_auth_connections_shed_total",
    help: "Client connections closed at MAX_CONNECTIONS: the longest-idle one to make room, or the new one when all were busy.",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly unmetered = new Counter({
    name: "vllm_auth_unmetered_responses_total",
    help: "Responses whose usage could not be read (too large or not JSON), by route.",
    labelNames: ["route"] as const,
    registers: [this.registry],
  });

  /** Label children cached per label set: the hot path skips prom-client's label hashing. */
  private readonly requestChildren = new Map<string, { count: Counter.Internal; duration: Histogram.Internal<"route"> }>();
  private readonly upstreamChildren = new Map<string, Histogram.Internal<"route">>();
  private readonly keyChildren = new Map<string, Counter.Internal>();
  private readonly tokenChildren = new Map<string, { prompt: Counter.Internal; completion: Counter.Internal }>();

  constructor(role: Role) {
    this.registry.setDefaultLabels({ role });
    collectDefaultMetrics({ register: this.registry, prefix: "vllm_auth_" });
  }

  /** The open client connections gauge, read from `count` at each scrape. */
  countConnections(count: () => number): void {
    new Gauge({
      name: "vllm_auth_open_connections",
      help: "Client connections open on the API and redirect listeners.",
      registers: [this.registry],
      collect() {
        this.set(count());
      },
    });
  }

  /** Counts one answered request and records its duration. */
  countRequest(route: string, method: string, status: number, seconds: number): void {
    const key = `${route} ${method} ${status}`;
    let children = this.requestChildren.get(key);
    if (children === undefined) {
      children = { count: this.requests.labels(route, method, String(status)), duration: this.duration.labels(route) };
      this.requestChildren.set(key, children);
    }
    children.count.inc();
    children.duration.observe(seconds);
  }

  /** Counts one answered request of a named key. */
  countKeyRequest(key: string, route: string, status: number): void {
    const id = `${key} ${route} ${status}`;
    let child = this.keyChildren.get(id);
    if (child === undefined) {
      child = this.keyRequests.labels(key, route, String(status));
      this.keyChildren.set(id, child);
    }
    child.inc();
  }

  /** Adds what one response of a named key used. */
  countKeyTokens(key: string, promptTokens: number, completionTokens: number): void {
    let children = this.tokenChildren.get(key);
    if (children === undefined) {
      children = { prompt: this.keyPromptTokens.labels(key), completion: this.keyCompletionTokens.labels(key) };
      this.tokenChildren.set(key, children);
    }
    children.prompt.inc(promptTokens);
    children.completion.inc(completionTokens);
  }

  /** Records the time until vLLM's response headers. */
  observeUpstream(route: string, seconds: number): void {
    let child = this.upstreamChildren.get(route);
    if (child === undefined) {
      child = this.upstreamLatency.labels(route);
      this.upstreamChildren.set(route, child);
    }
    child.observe(seconds);
  }
}
