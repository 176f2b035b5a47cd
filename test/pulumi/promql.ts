/**
 * PromQL checks for the tests: the expressions the program writes are parsed by Prometheus' own
 * lezer grammar (@prometheus-io/lezer-promql), and every metric they select must be one that
 * something in the stack exports.
 */
import * as fs from "fs";
import * as path from "path";
import { parser } from "@prometheus-io/lezer-promql";

/** What the parser found in one expression. */
export interface Parsed {
  /** Offsets of the parse errors (lezer marks them as error nodes instead of throwing). */
  readonly errors: number[];
  /** Metric names of the vector selectors, in order. */
  readonly metrics: string[];
}

export function parsePromql(expr: string): Parsed {
  const tree = parser.parse(expr);
  const errors: number[] = [];
  const metrics: string[] = [];
  const cursor = tree.cursor();
  do {
    if (cursor.type.isError) errors.push(cursor.from);
    if (cursor.name === "VectorSelector") {
      const node = cursor.node.getChild("Identifier");
      if (node !== null) metrics.push(expr.slice(node.from, node.to));
    }
  } while (cursor.next());
  return { errors, metrics };
}

/** One metric the proxy registers: its name and prom-client class. */
export interface ProxyMetric {
  readonly name: string;
  readonly kind: "Counter" | "Gauge" | "Histogram" | "Summary";
}

/** The metrics the proxy registers (`new Counter({ name: "..." })` and the like in proxy/src/metrics.ts). */
export function proxyMetrics(): ProxyMetric[] {
  const source = fs.readFileSync(path.resolve(__dirname, "../../proxy/src/metrics.ts"), "utf8");
  return [...source.matchAll(/new (Counter|Gauge|Histogram|Summary)\(\{\s*name:\s*"(vllm_auth_[a-z0-9_]+)"/g)].map((m) => ({
    name: m[2],
    kind: m[1] as ProxyMetric["kind"],
  }));
}

/**
 * vLLM V1 engine metrics of the pinned image, as its /metrics exposes them (vllm-project/vllm
 * docs/design/metrics.md, "v1 Metrics"; counters carry `_total`).
 */
export const VLLM_METRICS: readonly string[] = [
  "vllm:num_requests_running",
  "vllm:num_requests_waiting",
  "vllm:kv_cache_usage_perc",
  "vllm:prompt_tokens_total",
  "vllm:generation_tokens_total",
  "vllm:request_success_total",
];
export const VLLM_HISTOGRAMS: readonly string[] = [
  "vllm:time_to_first_token_seconds",
  "vllm:inter_token_latency_seconds",
  "vllm:e2e_request_latency_seconds",
];

/**
 * kube-state-metrics series the dashboards read (kubernetes/kube-state-metrics docs:
 * workload/deployment-metrics.md, horizontalpodautoscaler-metrics.md, node-metrics.md).
 */
export const KUBE_STATE_METRICS: readonly string[] = [
  "kube_deployment_spec_replicas",
  "kube_deployment_status_replicas_ready",
  "kube_horizontalpodautoscaler_status_desired_replicas",
  "kube_node_status_capacity",
];

/** Every series name a query of the program may select. */
export function knownSeries(): Set<string> {
  const histogramSeries = (h: string) => [`${h}_bucket`, `${h}_sum`, `${h}_count`];
  return new Set([
    ...proxyMetrics().flatMap((m) => (m.kind === "Histogram" ? histogramSeries(m.name) : [m.name])),
    ...VLLM_METRICS,
    ...VLLM_HISTOGRAMS.flatMap(histogramSeries),
    ...KUBE_STATE_METRICS,
  ]);
}
