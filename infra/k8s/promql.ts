/**
 * PromQL the program writes: the autoscaling demand and the building blocks of the dashboards.
 * Every expression is plain PromQL (no Grafana macros such as `$__rate_interval`), so that a PromQL
 * parser can check it in the tests and KEDA and Grafana run the same text.
 */

/** The label the proxy puts on every series it exports: `gateway`, `sidecar` or `single`. */
export const ROLE_LABEL = "role";

/** A label matcher list: `{a="x",b="y"}`; label values are escaped as PromQL string literals. */
export function matchers(labels: Readonly<Record<string, string>>): string {
  const parts = Object.entries(labels).map(([name, value]) => {
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) {
      throw new Error(`promql: "${name}" is not a Prometheus label name`);
    }
    return `${name}=${JSON.stringify(value)}`;
  });
  return `{${parts.join(",")}}`;
}

/** A metric selector: `name{labels}`. */
export function selector(metric: string, labels: Readonly<Record<string, string>>): string {
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(metric)) {
    throw new Error(`promql: "${metric}" is not a Prometheus metric name`);
  }
  return `${metric}${matchers(labels)}`;
}

/** The series one stack's gateways export; `namespace` is the target label the PodMonitor sets. */
export function gatewayLabels(namespace: string): Record<string, string> {
  return { [ROLE_LABEL]: "gateway", namespace };
}

/**
 * The demand KEDA scales on: requests in flight at the gateways plus requests they hold because no
 * replica is ready, summed over the gateway pods. Authentication runs before either count, so a
 * request without a valid key never adds demand. The held side falls back to 0 when its series is
 * absent; the in-flight side does not, so that a Prometheus which scrapes no gateway at all returns
 * nothing, which KEDA reports as an error (`ignoreNullValues: "false"`) instead of a demand of 0.
 */
export function demandQuery(namespace: string): string {
  const labels = gatewayLabels(namespace);
  return (
    `sum(${selector("vllm_auth_inflight_requests", labels)})` +
    ` + (sum(${selector("vllm_auth_held_requests", labels)}) or vector(0))`
  );
}

/** `sum by (labels) (rate(metric{...}[window]))`, or `sum(...)` with no labels. */
export function sumRate(metric: string, labels: Readonly<Record<string, string>>, by: readonly string[] = [], window = "5m"): string {
  return `${sumBy(by)}(rate(${selector(metric, labels)}[${window}]))`;
}

/** A quantile of a histogram over `window`, grouped by `by` as well as `le`. */
export function histogramQuantile(
  quantile: number,
  histogram: string,
  labels: Readonly<Record<string, string>>,
  by: readonly string[] = [],
  window = "5m",
): string {
  if (!(quantile > 0 && quantile < 1)) {
    throw new Error(`promql: quantile must be between 0 and 1, got ${quantile}`);
  }
  return `histogram_quantile(${quantile}, sum by (le${by.map((l) => `, ${l}`).join("")}) (rate(${selector(`${histogram}_bucket`, labels)}[${window}])))`;
}

function sumBy(by: readonly string[]): string {
  return by.length === 0 ? "sum" : `sum by (${by.join(", ")}) `;
}
