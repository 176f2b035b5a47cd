import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor";
import {
  DASHBOARD_LABEL,
  DashboardTarget,
  IN_CLUSTER_PROMETHEUS_URL,
  MONITORING_RELEASE_NAME,
  PROMETHEUS_RETENTION_SIZE,
  PROMETHEUS_VOLUME_LIMIT,
  dashboardExpressions,
  dashboardJson,
  dashboardUid,
  endpointDashboard,
  monitoringValues,
  podMonitorSelectionLabels,
  podMonitorSpec,
  vllmDashboard,
} from "../../infra/k8s";
import { knownSeries, parsePromql, proxyMetrics } from "./promql";
import { validateStrictly } from "./schema";

const TARGET: DashboardTarget = { namespace: "vllm", deploymentName: "vllm", hpaName: "keda-hpa-vllm" };
const SYSTEM = { "vllm-auth.dev/pool": "system" };

type Panel = { type: string; title: string; gridPos: { x: number; y: number; w: number; h: number }; targets?: { expr: string; refId: string }[] };

function panelsOf(json: Record<string, unknown>): Panel[] {
  return json.panels as Panel[];
}

const DASHBOARDS = [endpointDashboard(TARGET), vllmDashboard(TARGET)].map(dashboardJson);

describe("the dashboards' PromQL", () => {
  test.each(DASHBOARDS.map((d) => [d.title as string, d]))("%s: every query parses as PromQL", (_title, json) => {
    const exprs = dashboardExpressions(json);
    expect(exprs.length).toBeGreaterThan(5);
    for (const expr of exprs) expect({ expr, errors: parsePromql(expr).errors }).toEqual({ expr, errors: [] });
  });

  test.each(DASHBOARDS.map((d) => [d.title as string, d]))("%s: every metric is one the stack exports", (_title, json) => {
    const known = knownSeries();
    const used = dashboardExpressions(json).flatMap((e) => parsePromql(e).metrics);
    expect(used.filter((m) => !known.has(m))).toEqual([]);
  });

  test("a broken query is caught: the parser reports errors rather than accepting it", () => {
    expect(parsePromql("sum by (le (rate(x[5m]))").errors).not.toEqual([]);
    expect(parsePromql("rate(x[$__rate_interval])").errors).not.toEqual([]);
  });

  test("the proxy's metrics are read from its source, histograms known as such", () => {
    const metrics = proxyMetrics();
    expect(metrics).toEqual(expect.arrayContaining([{ name: "vllm_auth_held_requests", kind: "Gauge" }]));
    expect(metrics).toEqual(expect.arrayContaining([{ name: "vllm_auth_request_duration_seconds", kind: "Histogram" }]));
    const known = knownSeries();
    expect(known.has("vllm_auth_request_duration_seconds_bucket")).toBe(true);
    expect(known.has("vllm_auth_request_duration_seconds")).toBe(false);
  });
});

describe("the endpoint dashboard", () => {
  const json = dashboardJson(endpointDashboard(TARGET));
  const titles = panelsOf(json).map((p) => p.title);
  const exprsOf = (title: string) => panelsOf(json).find((p) => p.title === title)?.targets?.map((t) => t.expr) ?? [];

  test("has the panels an operator looks for", () => {
    expect(json.title).toBe("vllm-auth endpoint");
    expect(titles).toEqual(
      expect.arrayContaining([
        "Requests by route and status",
        "Latency p50 and p99 by route",
        "Authentication failures by reason",
        "Held requests",
        "Replicas wanted and ready",
        "GPU nodes",
        "Per API key",
        "Requests by key",
        "Prompt tokens by key",
        "Completion tokens by key",
        "Rate-limited requests by key",
      ]),
    );
  });

  test("per key: requests, prompt and completion tokens and rate limits are grouped by key name", () => {
    for (const title of ["Requests by key", "Prompt tokens by key", "Completion tokens by key", "Rate-limited requests by key"]) {
      const [expr] = exprsOf(title);
      expect(expr).toMatch(/^sum by \(key[,)]/);
    }
    expect(exprsOf("Rate-limited requests by key")[0]).toContain("sum by (key, limit)");
  });

  test("replicas wanted come from the Deployment KEDA scales and the HPA KEDA creates", () => {
    const exprs = exprsOf("Replicas wanted and ready").join("\n");
    expect(exprs).toContain('kube_deployment_spec_replicas{namespace="vllm",deployment="vllm"}');
    expect(exprs).toContain('horizontalpodautoscaler="keda-hpa-vllm"');
    expect(exprs).toContain("kube_deployment_status_replicas_ready");
  });

  test("reads only this stack's gateways", () => {
    for (const expr of dashboardExpressions(json).filter((e) => e.includes("vllm_auth_"))) {
      expect(expr).toContain('role="gateway",namespace="vllm"');
    }
  });
});

describe("dashboard layout", () => {
  test.each(DASHBOARDS.map((d) => [d.title as string, d]))("%s: panels do not overlap and fit 24 columns", (_title, json) => {
    const cells = new Set<string>();
    for (const p of panelsOf(json)) {
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          const cell = `${x},${y}`;
          expect(cells.has(cell)).toBe(false);
          cells.add(cell);
        }
      }
    }
  });

  test("uids are Grafana-sized and differ per stack namespace", () => {
    expect(dashboardUid("endpoint", "a-very-long-namespace-name-for-the-stack")).toHaveLength(40);
    expect(dashboardUid("endpoint", "a")).not.toBe(dashboardUid("endpoint", "b"));
    expect(DASHBOARDS[0].uid).not.toBe(DASHBOARDS[1].uid);
  });
});

describe("the PodMonitors", () => {
  const monitor = (vllm: boolean) =>
    new PodMonitor({
      metadata: { name: "m", namespace: "vllm", labels: podMonitorSelectionLabels() },
      spec: podMonitorSpec({ selector: { "app.kubernetes.io/name": vllm ? "vllm" : "vllm-gateway" }, namespace: "vllm", vllm }),
    } as unknown as ConstructorParameters<typeof PodMonitor>[0]);

  test("are valid against the prometheus-operator PodMonitor schema, with no unknown field", () => {
    for (const vllm of [false, true]) expect(() => validateStrictly(monitor(vllm), "PodMonitor")).not.toThrow();
  });

  test("scrape the metrics port: /metrics on gateways, /metrics and /metrics/vllm on replicas, kept apart by metrics_path", () => {
    type Endpoint = { port: string; path: string; relabelings: { targetLabel: string }[] };
    const endpoints = (vllm: boolean) => (monitor(vllm).spec?.podMetricsEndpoints ?? []) as unknown as Endpoint[];
    expect(endpoints(false).map((e) => [e.port, e.path])).toEqual([["metrics", "/metrics"]]);
    expect(endpoints(true).map((e) => [e.port, e.path])).toEqual([
      ["metrics", "/metrics"],
      ["metrics", "/metrics/vllm"],
    ]);
    for (const e of endpoints(true)) expect(e.relabelings.map((r) => r.targetLabel)).toContain("metrics_path");
  });

  test("carry the label the chart's Prometheus selects them by (release: <release name>)", () => {
    expect(podMonitorSelectionLabels()).toEqual({ release: MONITORING_RELEASE_NAME });
    const values = monitoringValues(SYSTEM) as { prometheus: { prometheusSpec: Record<string, unknown> } };
    expect(values.prometheus.prometheusSpec.podMonitorSelectorNilUsesHelmValues).toBe(true);
    expect(values.prometheus.prometheusSpec.podMonitorNamespaceSelector).toEqual({});
  });
});

describe("kube-prometheus-stack values", () => {
  const values = monitoringValues(SYSTEM) as Record<string, Record<string, unknown>>;

  test("every Deployment and the Prometheus run on the system nodes", () => {
    const prometheusSpec = (values.prometheus.prometheusSpec as Record<string, unknown>).nodeSelector;
    for (const selector of [values.prometheusOperator.nodeSelector, prometheusSpec, values.grafana.nodeSelector, values["kube-state-metrics"].nodeSelector]) {
      expect(selector).toEqual(SYSTEM);
    }
  });

  test("no Alertmanager, no persistent volume; retention capped below the volume's size", () => {
    expect(values.alertmanager.enabled).toBe(false);
    const spec = values.prometheus.prometheusSpec as { storageSpec: Record<string, unknown> };
    expect(Object.keys(spec.storageSpec)).toEqual(["emptyDir"]);
    expect(parseFloat(PROMETHEUS_RETENTION_SIZE)).toBeLessThan(parseFloat(PROMETHEUS_VOLUME_LIMIT));
  });

  test("Grafana: ClusterIP only, admin login from the generated Secret, dashboards found by label", () => {
    const grafana = values.grafana as {
      service: { type: string };
      ingress: { enabled: boolean };
      admin: { existingSecret: string };
      sidecar: { dashboards: { label: string; folderAnnotation: string } };
    };
    expect(grafana.service.type).toBe("ClusterIP");
    expect(grafana.ingress.enabled).toBe(false);
    expect(grafana.admin.existingSecret).toBe("grafana-admin");
    expect(grafana.sidecar.dashboards.label).toBe(DASHBOARD_LABEL);
  });

  test("KEDA's Prometheus is the chart's Service in the monitoring namespace", () => {
    expect(IN_CLUSTER_PROMETHEUS_URL).toBe("http://kube-prometheus-stack-prometheus.monitoring.svc.cluster.local:9090");
  });
});
