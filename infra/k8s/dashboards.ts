import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AppIdentity, appLabels, labelValue } from "./labels";
import { DASHBOARD_FOLDER_ANNOTATION, DASHBOARD_LABEL, DASHBOARD_LABEL_VALUE } from "./monitoring";
import { demandQuery, gatewayLabels, histogramQuantile, selector, sumRate } from "./promql";

/** The datasource kube-prometheus-stack provisions (`grafana.sidecar.datasources.uid: prometheus`). */
export const PROMETHEUS_DATASOURCE = { type: "prometheus", uid: "prometheus" } as const;
/** The Grafana folder both dashboards go in. */
export const DASHBOARD_FOLDER = "vllm-auth";
/** Grafana's dashboard JSON schema version the panels below are written for (Grafana 11/12). */
export const SCHEMA_VERSION = 39;

/** One PromQL query of a panel and its legend. */
export interface Query {
  readonly expr: string;
  readonly legend: string;
}

/** A panel as the builders below describe it; {@link dashboardJson} lays it out. */
export interface PanelSpec {
  readonly title: string;
  readonly description: string;
  /** Grafana unit id: `reqps`, `s`, `short`, `percentunit`, ... */
  readonly unit: string;
  readonly queries: readonly Query[];
  /** Starts a new collapsible row with this title before the panel. */
  readonly row?: string;
}

export interface DashboardSpec {
  readonly uid: string;
  readonly title: string;
  readonly tags: readonly string[];
  readonly panels: readonly PanelSpec[];
}

/** What the dashboards need to know about one stack. */
export interface DashboardTarget {
  /** The serving namespace: every query selects its series by the `namespace` target label. */
  readonly namespace: string;
  /** The vLLM Deployment's name. */
  readonly deploymentName: string;
  /** The HPA KEDA creates for the ScaledObject: `keda-hpa-<name>` (KEDA scaledobject-spec, `horizontalPodAutoscalerConfig.name`). */
  readonly hpaName: string;
}

/** kube-state-metrics' name for the `nvidia.com/gpu` resource (label values are sanitised to `[a-z0-9_]`). */
const GPU_RESOURCE_LABEL = "nvidia_com_gpu";

/** Requests, latency, auth failures, holding, replicas, GPU nodes, and usage per API key. */
export function endpointDashboard(t: DashboardTarget): DashboardSpec {
  const g = gatewayLabels(t.namespace);
  const deployment = { namespace: t.namespace, deployment: t.deploymentName };
  return {
    uid: dashboardUid("endpoint", t.namespace),
    title: "vllm-auth endpoint",
    tags: ["vllm-auth", t.namespace],
    panels: [
      {
        title: "Requests by route and status",
        description: "Requests the gateways answered per second.",
        unit: "reqps",
        queries: [{ expr: sumRate("vllm_auth_requests_total", g, ["route", "status"]), legend: "{{route}} {{status}}" }],
      },
      {
        title: "Latency p50 and p99 by route",
        description: "Time from request headers to the end of the response at the gateway, streams included.",
        unit: "s",
        queries: [
          { expr: histogramQuantile(0.5, "vllm_auth_request_duration_seconds", g, ["route"]), legend: "p50 {{route}}" },
          { expr: histogramQuantile(0.99, "vllm_auth_request_duration_seconds", g, ["route"]), legend: "p99 {{route}}" },
        ],
      },
      {
        title: "Authentication failures by reason",
        description: "Requests refused for their credentials: none of them reaches a replica or wakes one.",
        unit: "reqps",
        queries: [{ expr: sumRate("vllm_auth_auth_failures_total", g, ["reason"]), legend: "{{reason}}" }],
      },
      {
        title: "Held requests",
        description: "Requests waiting for a ready replica now, and how held requests ended.",
        unit: "short",
        queries: [
          { expr: `sum(${selector("vllm_auth_held_requests", g)})`, legend: "held now" },
          { expr: sumRate("vllm_auth_held_total", g, ["outcome"]), legend: "{{outcome}} per second" },
        ],
      },
      {
        title: "Demand (what KEDA scales on)",
        description: "In-flight plus held requests over all gateways: replicas wanted = demand / targetPerReplica, rounded up.",
        unit: "short",
        queries: [
          { expr: demandQuery(t.namespace), legend: "demand" },
          { expr: `sum(${selector("vllm_auth_inflight_requests", g)})`, legend: "in flight" },
        ],
      },
      {
        title: "Replicas wanted and ready",
        description: "The Deployment's replicas as KEDA sets them, the HPA's wish, and the replicas ready in Kubernetes and as the gateways see them.",
        unit: "short",
        queries: [
          { expr: `sum(${selector("kube_deployment_spec_replicas", deployment)})`, legend: "wanted" },
          {
            expr: `sum(${selector("kube_horizontalpodautoscaler_status_desired_replicas", { namespace: t.namespace, horizontalpodautoscaler: t.hpaName })})`,
            legend: "HPA desired",
          },
          { expr: `sum(${selector("kube_deployment_status_replicas_ready", deployment)})`, legend: "ready" },
          { expr: `max(${selector("vllm_auth_replicas", { ...g, state: "ready" })})`, legend: "ready (gateway view)" },
        ],
      },
      {
        title: "GPU nodes",
        description: "Nodes with an NVIDIA GPU, and GPUs in the cluster.",
        unit: "short",
        queries: [
          { expr: `count(${selector("kube_node_status_capacity", { resource: GPU_RESOURCE_LABEL })} > 0)`, legend: "GPU nodes" },
          { expr: `sum(${selector("kube_node_status_capacity", { resource: GPU_RESOURCE_LABEL })})`, legend: "GPUs" },
        ],
      },
      {
        title: "Shed requests and upstream errors",
        description: "Requests refused under load by class, and failures talking to the replicas by kind.",
        unit: "reqps",
        queries: [
          { expr: sumRate("vllm_auth_shed_total", g, ["class", "reason"]), legend: "shed {{class}} {{reason}}" },
          { expr: sumRate("vllm_auth_upstream_errors_total", g, ["kind"]), legend: "upstream {{kind}}" },
        ],
      },
      {
        title: "Requests by key",
        description: "Requests per second per API key name, by status.",
        unit: "reqps",
        row: "Per API key",
        queries: [{ expr: sumRate("vllm_auth_key_requests_total", g, ["key", "status"]), legend: "{{key}} {{status}}" }],
      },
      {
        title: "Rate-limited requests by key",
        description: "Requests answered 429 per second, by key and by the limit they hit (rpm, tpm, concurrency).",
        unit: "reqps",
        queries: [{ expr: sumRate("vllm_auth_rate_limited_total", g, ["key", "limit"]), legend: "{{key}} {{limit}}" }],
      },
      {
        title: "Prompt tokens by key",
        description: "Prompt tokens per second per key, from vLLM's usage of each response.",
        unit: "short",
        queries: [{ expr: sumRate("vllm_auth_key_prompt_tokens_total", g, ["key"]), legend: "{{key}}" }],
      },
      {
        title: "Completion tokens by key",
        description: "Completion tokens per second per key, streams counted as far as they went.",
        unit: "short",
        queries: [{ expr: sumRate("vllm_auth_key_completion_tokens_total", g, ["key"]), legend: "{{key}}" }],
      },
      {
        title: "Tokens by key, last 24 hours",
        description: "Prompt and completion tokens each key used over the last day.",
        unit: "short",
        queries: [
          { expr: `sum by (key) (increase(${selector("vllm_auth_key_prompt_tokens_total", g)}[24h]))`, legend: "prompt {{key}}" },
          { expr: `sum by (key) (increase(${selector("vllm_auth_key_completion_tokens_total", g)}[24h]))`, legend: "completion {{key}}" },
        ],
      },
      {
        title: "Limits store",
        description: "1 while every gateway reaches the shared limits store; errors per second when it does not.",
        unit: "short",
        queries: [
          { expr: `min(${selector("vllm_auth_limits_store_up", g)})`, legend: "up" },
          { expr: sumRate("vllm_auth_limits_store_errors_total", g), legend: "errors per second" },
        ],
      },
    ],
  };
}

/**
 * vLLM's own figures, as the sidecars relay them. Metric names of the vLLM V1 engine of the pinned
 * image (vllm-project/vllm docs/design/metrics.md "v1 Metrics"; `vllm:kv_cache_usage_perc` replaced
 * `vllm:gpu_cache_usage_perc`, deprecated in 0.9, vllm/v1/metrics/loggers.py).
 */
export function vllmDashboard(t: DashboardTarget): DashboardSpec {
  const v = { namespace: t.namespace };
  return {
    uid: dashboardUid("vllm", t.namespace),
    title: "vLLM",
    tags: ["vllm-auth", "vllm", t.namespace],
    panels: [
      {
        title: "Queue: waiting and running requests",
        description: "Requests vLLM holds in its queue and in its running batch, over all replicas.",
        unit: "short",
        queries: [
          { expr: `sum(${selector("vllm:num_requests_waiting", v)})`, legend: "waiting" },
          { expr: `sum(${selector("vllm:num_requests_running", v)})`, legend: "running" },
        ],
      },
      {
        title: "KV-cache use by replica",
        description: "Share of the KV cache in use: near 1, new requests wait and running ones may be preempted.",
        unit: "percentunit",
        queries: [{ expr: `max by (pod) (${selector("vllm:kv_cache_usage_perc", v)})`, legend: "{{pod}}" }],
      },
      {
        title: "Time to first token p50 and p99",
        description: "From arrival at vLLM to the first generated token.",
        unit: "s",
        queries: [
          { expr: histogramQuantile(0.5, "vllm:time_to_first_token_seconds", v), legend: "p50" },
          { expr: histogramQuantile(0.99, "vllm:time_to_first_token_seconds", v), legend: "p99" },
        ],
      },
      {
        title: "Tokens per second",
        description: "Generated and prompt tokens per second over all replicas.",
        unit: "short",
        queries: [
          { expr: sumRate("vllm:generation_tokens_total", v), legend: "generated" },
          { expr: sumRate("vllm:prompt_tokens_total", v), legend: "prompt" },
        ],
      },
      {
        title: "Inter-token latency p50 and p99",
        description: "Time between consecutive tokens of a stream.",
        unit: "s",
        queries: [
          { expr: histogramQuantile(0.5, "vllm:inter_token_latency_seconds", v), legend: "p50" },
          { expr: histogramQuantile(0.99, "vllm:inter_token_latency_seconds", v), legend: "p99" },
        ],
      },
      {
        title: "End-to-end latency p50 and p99",
        description: "From arrival at vLLM to the last token.",
        unit: "s",
        queries: [
          { expr: histogramQuantile(0.5, "vllm:e2e_request_latency_seconds", v), legend: "p50" },
          { expr: histogramQuantile(0.99, "vllm:e2e_request_latency_seconds", v), legend: "p99" },
        ],
      },
      {
        title: "Finished requests by reason",
        description: "Requests vLLM finished per second: stop, length, abort (a client that left).",
        unit: "reqps",
        queries: [{ expr: sumRate("vllm:request_success_total", v, ["finished_reason"]), legend: "{{finished_reason}}" }],
      },
    ],
  };
}

/** A Grafana uid (at most 40 characters) that differs per stack namespace. */
export function dashboardUid(kind: string, namespace: string): string {
  return labelValue(`vllm-auth-${kind}-${namespace}`).slice(0, 40);
}

/** Two panels per row, 12 of Grafana's 24 columns each; a row title takes a full-width line. */
export function dashboardJson(d: DashboardSpec): Record<string, unknown> {
  const panels: Record<string, unknown>[] = [];
  let y = 0;
  let column = 0;
  let id = 1;
  for (const p of d.panels) {
    if (p.row !== undefined) {
      if (column !== 0) y += 8;
      panels.push({ id: id++, type: "row", title: p.row, collapsed: false, gridPos: { x: 0, y, w: 24, h: 1 }, panels: [] });
      y += 1;
      column = 0;
    }
    panels.push({
      id: id++,
      type: "timeseries",
      title: p.title,
      description: p.description,
      datasource: PROMETHEUS_DATASOURCE,
      gridPos: { x: column * 12, y, w: 12, h: 8 },
      fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
      options: { legend: { displayMode: "list", placement: "bottom" }, tooltip: { mode: "multi", sort: "desc" } },
      targets: p.queries.map((q, i) => ({
        refId: String.fromCharCode(65 + i),
        datasource: PROMETHEUS_DATASOURCE,
        expr: q.expr,
        legendFormat: q.legend,
      })),
    });
    column = (column + 1) % 2;
    if (column === 0) y += 8;
  }
  return {
    uid: d.uid,
    title: d.title,
    tags: [...d.tags],
    timezone: "utc",
    schemaVersion: SCHEMA_VERSION,
    editable: true,
    refresh: "30s",
    time: { from: "now-6h", to: "now" },
    panels,
  };
}

/** Every PromQL expression of a dashboard's JSON, in panel order. */
export function dashboardExpressions(json: Record<string, unknown>): string[] {
  const panels = (json.panels as { targets?: { expr: string }[] }[] | undefined) ?? [];
  return panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
}

export interface DashboardsArgs {
  /** The monitoring namespace, where Grafana's sidecar looks (it searches every namespace, this one is tidy). */
  readonly namespace: pulumi.Input<string>;
  /** Labels identity of the stack. */
  readonly app: AppIdentity;
  readonly target: DashboardTarget;
  /** Kubernetes provider for the ConfigMaps. */
  readonly provider?: k8s.Provider;
}

/** The two dashboards as ConfigMaps that Grafana's dashboard sidecar loads into the `vllm-auth` folder. */
export class Dashboards extends pulumi.ComponentResource {
  constructor(name: string, args: DashboardsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:Dashboards", name, {}, opts);
    for (const d of [endpointDashboard(args.target), vllmDashboard(args.target)]) {
      new k8s.core.v1.ConfigMap(
        `${name}-${d.uid}`,
        {
          metadata: {
            name: d.uid,
            namespace: args.namespace,
            labels: { ...appLabels(args.app, "dashboard"), [DASHBOARD_LABEL]: DASHBOARD_LABEL_VALUE },
            annotations: { [DASHBOARD_FOLDER_ANNOTATION]: DASHBOARD_FOLDER },
          },
          data: { [`${d.uid}.json`]: JSON.stringify(dashboardJson(d), null, 2) },
        },
        { parent: this, provider: args.provider },
      );
    }
    this.registerOutputs({});
  }
}
