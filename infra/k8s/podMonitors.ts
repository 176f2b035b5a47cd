import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AppIdentity, appLabels } from "./labels";
import { MONITORING_RELEASE_NAME } from "./monitoring";

/** The pods' metrics port name (CONTRACT: `metrics`, 9090, on gateway and sidecar alike). */
export const METRICS_PORT_NAME = "metrics";
/** The proxy's own metrics, and vLLM's as the sidecar relays them from loopback. */
export const PROXY_METRICS_PATH = "/metrics";
export const VLLM_METRICS_PATH = "/metrics/vllm";
/** Scrape interval of the serving pods: KEDA reads the demand at most this stale. */
export const SCRAPE_INTERVAL = "15s";

/** One scraped path on the metrics port. */
interface Endpoint {
  readonly port: string;
  readonly path: string;
  readonly interval: string;
  readonly relabelings: Record<string, unknown>[];
  readonly metricRelabelings?: Record<string, unknown>[];
}

/**
 * Two paths on one port would give two targets the same labels, and both answer `process_*` series
 * (Node's and Python's): the `metrics_path` label keeps them apart.
 */
function metricsPathLabel(): Record<string, unknown> {
  return { action: "replace", sourceLabels: ["__metrics_path__"], targetLabel: "metrics_path" };
}

function endpoint(path: string, keepOnly?: string): Endpoint {
  return {
    port: METRICS_PORT_NAME,
    path,
    interval: SCRAPE_INTERVAL,
    relabelings: [metricsPathLabel()],
    ...(keepOnly !== undefined ? { metricRelabelings: [{ action: "keep", sourceLabels: ["__name__"], regex: keepOnly }] } : {}),
  };
}

/** Which pods a PodMonitor scrapes, and where. */
export interface PodMonitorTarget {
  /** The pods' selector labels (`app.kubernetes.io/name` and `instance`). */
  readonly selector: Readonly<Record<string, string>>;
  /** The namespace the pods run in. */
  readonly namespace: string;
  /** `true` also scrapes vLLM's metrics that the sidecar serves. */
  readonly vllm: boolean;
}

/**
 * A PodMonitor's `spec` (monitoring.coreos.com/v1, prometheus-operator Documentation/api-reference):
 * the proxy's `/metrics` on the `metrics` port, and for the replicas vLLM's `/metrics/vllm` too, of
 * which only the `vllm:` series are kept.
 */
export function podMonitorSpec(t: PodMonitorTarget): Record<string, unknown> {
  return {
    selector: { matchLabels: { ...t.selector } },
    namespaceSelector: { matchNames: [t.namespace] },
    podMetricsEndpoints: [endpoint(PROXY_METRICS_PATH), ...(t.vllm ? [endpoint(VLLM_METRICS_PATH, "vllm:.+")] : [])],
  };
}

/** The labels a PodMonitor needs for the chart's Prometheus to select it, besides the app labels. */
export function podMonitorSelectionLabels(): Record<string, string> {
  return { release: MONITORING_RELEASE_NAME };
}

export interface ServingMonitorsArgs {
  /** Namespace of the serving pods and of the PodMonitors; objects built from it wait for it. */
  readonly namespace: pulumi.Input<string>;
  /** The same namespace as text, for the selectors. */
  readonly namespaceName: string;
  /** Labels identity of the stack. */
  readonly app: AppIdentity;
  /** Selector labels of the gateway pods. */
  readonly gatewaySelector: Readonly<Record<string, string>>;
  /** Selector labels of the vLLM pods. */
  readonly replicaSelector: Readonly<Record<string, string>>;
  /** What installs the PodMonitor CRD (the monitoring release). */
  readonly crds: pulumi.Input<pulumi.Resource>[];
  /** Kubernetes provider for the PodMonitors. */
  readonly provider?: k8s.Provider;
}

/** PodMonitors for the gateways and the replicas, created only after the prometheus-operator CRDs. */
export class ServingMonitors extends pulumi.ComponentResource {
  constructor(name: string, args: ServingMonitorsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:ServingMonitors", name, {}, opts);
    const monitors: [string, Readonly<Record<string, string>>, boolean][] = [
      [`${name}-gateway`, args.gatewaySelector, false],
      [`${name}-replicas`, args.replicaSelector, true],
    ];
    for (const [monitorName, selector, vllm] of monitors) {
      new k8s.apiextensions.CustomResource(
        monitorName,
        {
          apiVersion: "monitoring.coreos.com/v1",
          kind: "PodMonitor",
          metadata: {
            name: monitorName,
            namespace: args.namespace,
            labels: { ...appLabels(args.app, "monitoring"), ...podMonitorSelectionLabels() },
          },
          spec: podMonitorSpec({ selector, namespace: args.namespaceName, vllm }),
        },
        { parent: this, provider: args.provider, dependsOn: args.crds },
      );
    }
    this.registerOutputs({});
  }
}
