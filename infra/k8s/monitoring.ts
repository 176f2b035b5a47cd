import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { AppIdentity, appLabels } from "./labels";

/** kube-prometheus-stack 91.5.0 (prometheus-community/helm-charts release kube-prometheus-stack-91.5.0, September 2026). */
export const KUBE_PROMETHEUS_STACK_CHART_VERSION = "91.5.0";
export const KUBE_PROMETHEUS_STACK_CHART_REPO = "https://prometheus-community.github.io/helm-charts";
export const MONITORING_NAMESPACE = "monitoring";
/**
 * The release name. The chart names its objects after it (templates/_helpers.tpl: a release name that
 * contains the chart name is the full name), and its Prometheus selects PodMonitors labelled
 * `release: <release name>` (templates/prometheus/prometheus.yaml, `podMonitorSelectorNilUsesHelmValues: true`).
 */
export const MONITORING_RELEASE_NAME = "kube-prometheus-stack";
/** The Prometheus Service the chart creates: `<fullname>-prometheus`, port `prometheus.service.port` (9090). */
export const IN_CLUSTER_PROMETHEUS_URL = `http://${MONITORING_RELEASE_NAME}-prometheus.${MONITORING_NAMESPACE}.svc.cluster.local:9090`;
/** The Grafana Service of the chart's grafana subchart: `<release>-grafana`, ClusterIP, port 80. */
export const GRAFANA_SERVICE = `${MONITORING_RELEASE_NAME}-grafana`;
/** The Secret Grafana reads its admin login from (grafana chart `admin.existingSecret`, keys `admin-user`/`admin-password`). */
export const GRAFANA_ADMIN_SECRET = "grafana-admin";
export const GRAFANA_ADMIN_USER = "admin";

/**
 * The label and annotation the chart's Grafana dashboard sidecar watches: kube-prometheus-stack sets
 * `grafana.sidecar.dashboards.label: grafana_dashboard`, `labelValue: "1"`, `searchNamespace: ALL`;
 * the folder annotation is the grafana chart's `sidecar.dashboards.folderAnnotation`, set below.
 */
export const DASHBOARD_LABEL = "grafana_dashboard";
export const DASHBOARD_LABEL_VALUE = "1";
export const DASHBOARD_FOLDER_ANNOTATION = "grafana_folder";

/** How long Prometheus keeps data, and the most disk it may use for it. */
export const PROMETHEUS_RETENTION = "3d";
export const PROMETHEUS_RETENTION_SIZE = "1GB";
/** The emptyDir Prometheus writes to: above the retention size, so the size cap acts before eviction. */
export const PROMETHEUS_VOLUME_LIMIT = "2Gi";

export interface MonitoringArgs {
  /** Node labels the monitoring pods (not the node exporter) require: the system nodes on aws. Defaults to none. */
  readonly nodeSelector?: Readonly<Record<string, string>>;
  /** Chart version. Defaults to {@link KUBE_PROMETHEUS_STACK_CHART_VERSION}. */
  readonly chartVersion?: string;
  /** Labels identity of the stack that installs it. */
  readonly app: AppIdentity;
  /** Kubernetes provider for every object. */
  readonly provider?: k8s.Provider;
}

/** Requests and limits, spelled once. */
function resources(cpu: string, memory: string, memoryLimit: string): Record<string, Record<string, string>> {
  return { requests: { cpu, memory }, limits: { memory: memoryLimit } };
}

/**
 * Helm values for kube-prometheus-stack sized for two small system nodes (t3.large: 2 vCPU, 8 GiB):
 * one Prometheus keeping 3 days on an emptyDir (the cluster has no EBS CSI driver, the dashboards
 * show recent behaviour, and autoscaling reads only the latest values, so losing history on a
 * restart costs little), no Alertmanager (no receiver is configured), Grafana reachable only by
 * port-forward, and no scraping of the control-plane parts EKS does not expose.
 * Keys from the chart's values.yaml (prometheus-community/helm-charts charts/kube-prometheus-stack).
 */
export function monitoringValues(nodeSelector: Readonly<Record<string, string>>): Record<string, unknown> {
  const onSystemNodes = { ...nodeSelector };
  return {
    crds: { enabled: true },
    alertmanager: { enabled: false },
    // EKS runs etcd, the scheduler and the controller manager out of reach; kube-proxy binds metrics to loopback.
    kubeEtcd: { enabled: false },
    kubeControllerManager: { enabled: false },
    kubeScheduler: { enabled: false },
    kubeProxy: { enabled: false },
    defaultRules: {
      create: true,
      rules: { etcd: false, kubeControllerManager: false, kubeSchedulerAlerting: false, kubeSchedulerRecording: false, kubeProxy: false },
    },
    prometheusOperator: {
      nodeSelector: onSystemNodes,
      resources: resources("50m", "128Mi", "256Mi"),
      admissionWebhooks: { patch: { nodeSelector: onSystemNodes } },
    },
    prometheus: {
      prometheusSpec: {
        nodeSelector: onSystemNodes,
        retention: PROMETHEUS_RETENTION,
        retentionSize: PROMETHEUS_RETENTION_SIZE,
        resources: resources("200m", "768Mi", "1536Mi"),
        storageSpec: { emptyDir: { sizeLimit: PROMETHEUS_VOLUME_LIMIT } },
        // PodMonitors in every namespace with the release label; the chart's default, spelt out.
        podMonitorSelectorNilUsesHelmValues: true,
        podMonitorNamespaceSelector: {},
      },
    },
    grafana: {
      nodeSelector: onSystemNodes,
      resources: resources("100m", "256Mi", "512Mi"),
      admin: { existingSecret: GRAFANA_ADMIN_SECRET, userKey: "admin-user", passwordKey: "admin-password" },
      // No Ingress, no LoadBalancer: `kubectl port-forward` only.
      service: { type: "ClusterIP" },
      ingress: { enabled: false },
      persistence: { enabled: false },
      sidecar: {
        dashboards: {
          enabled: true,
          label: DASHBOARD_LABEL,
          labelValue: DASHBOARD_LABEL_VALUE,
          searchNamespace: "ALL",
          folderAnnotation: DASHBOARD_FOLDER_ANNOTATION,
          provider: { foldersFromFilesStructure: true },
        },
      },
    },
    "kube-state-metrics": { nodeSelector: onSystemNodes, resources: resources("50m", "128Mi", "256Mi") },
    // A DaemonSet on every node, GPU nodes included: node figures for the whole cluster.
    "prometheus-node-exporter": { resources: resources("20m", "32Mi", "64Mi") },
  };
}

/**
 * kube-prometheus-stack in its own namespace: the Prometheus operator and its CRDs, one Prometheus,
 * kube-state-metrics, the node exporter and Grafana with a generated admin password.
 */
export class Monitoring extends pulumi.ComponentResource {
  /** The Helm release: PodMonitors depend on it (it installs their CRD). */
  public readonly release: k8s.helm.v3.Release;
  /** The namespace, once created: dashboards go there. */
  public readonly namespace: pulumi.Output<string>;
  /** Grafana's admin password (secret). */
  public readonly grafanaAdminPassword: pulumi.Output<string>;
  /** The Prometheus KEDA queries. */
  public readonly prometheusUrl: string = IN_CLUSTER_PROMETHEUS_URL;

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:Monitoring", name, {}, opts);
    const self = { parent: this, provider: args.provider };
    const labels = appLabels(args.app, "monitoring");

    const namespace = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      { metadata: { name: MONITORING_NAMESPACE, labels } },
      self,
    );
    this.namespace = namespace.metadata.name;

    // Letters and digits only: pasted into a login form or a shell without quoting.
    const password = new random.RandomPassword(`${name}-grafana-admin`, { length: 32, special: false }, { parent: this });
    this.grafanaAdminPassword = pulumi.secret(password.result);

    const adminSecret = new k8s.core.v1.Secret(
      `${name}-grafana-admin`,
      {
        metadata: { name: GRAFANA_ADMIN_SECRET, namespace: this.namespace, labels },
        type: "Opaque",
        stringData: { "admin-user": GRAFANA_ADMIN_USER, "admin-password": this.grafanaAdminPassword },
      },
      self,
    );

    this.release = new k8s.helm.v3.Release(
      `${name}-release`,
      {
        name: MONITORING_RELEASE_NAME,
        chart: "kube-prometheus-stack",
        version: args.chartVersion ?? KUBE_PROMETHEUS_STACK_CHART_VERSION,
        repositoryOpts: { repo: KUBE_PROMETHEUS_STACK_CHART_REPO },
        namespace: this.namespace,
        values: monitoringValues(args.nodeSelector ?? {}),
        // The CRDs and the operator's webhook must be in place before the PodMonitors are created.
        skipAwait: false,
        timeout: 900,
      },
      { ...self, dependsOn: [adminSecret] },
    );

    this.registerOutputs({ namespace: this.namespace, grafanaAdminPassword: this.grafanaAdminPassword });
  }
}
