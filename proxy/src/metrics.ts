import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The proxy's Prometheus metrics, on their own registry (served on METRICS_PORT only). */
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
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
    registers: [this.registry],
  });
  readonly upstreamLatency = new Histogram({
    name: "vllm_auth_upstream_headers_seconds",
    help: "Time until the model server's response headers, by route.",
    labelNames: ["route"] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
    registers: [this.registry],
  });
  readonly inflightRequests = new Gauge({
    name: "vllm_auth_inflight_requests",
    help: "Requests being forwarded to the model server now.",
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
    help: "1 when the model server answers its /health, else 0.",
    registers: [this.registry],
  });
  readonly tokens = new Gauge({
    name: "vllm_auth_tokens",
    help: "Valid API tokens loaded.",
    registers: [this.registry],
  });
  readonly tokenReloads = new Counter({
    name: "vllm_auth_token_reloads_total",
    help: "Token file reloads, by result.",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });

  /** Label children cached per label set: the hot path skips prom-client's label hashing. */
  private readonly requestChildren = new Map<string, { count: Counter.Internal; duration: Histogram.Internal<"route"> }>();
  private readonly upstreamChildren = new Map<string, Histogram.Internal<"route">>();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "vllm_auth_" });
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
