import { SYSTEM_NODE_LABELS } from "../../infra/aws/cluster";
import {
  DASHBOARD_FOLDER_ANNOTATION,
  DASHBOARD_LABEL,
  IN_CLUSTER_PROMETHEUS_URL,
  KEDA_CHART_VERSION,
  KUBE_PROMETHEUS_STACK_CHART_VERSION,
  dashboardExpressions,
  demandQuery,
} from "../../infra/k8s";
import { AWS_MOCKS } from "../aws/mocks";
import { AWS_SECRET_KEYS, awsConfig } from "../aws/settings";
import {
  ProgramRun,
  Recorded,
  StackConfig,
  dependsOn,
  existingConfig,
  fakeToken,
  manifestOfKind,
  manifests,
  named,
  ofType,
  reveal,
  runProgram,
  validateManifest,
} from "./harness";
import { knownSeries, parsePromql } from "./promql";

const RELEASE = "kubernetes:helm.sh/v3:Release";
const SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject";
const POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor";
const DEPLOYMENT = "kubernetes:apps/v1:Deployment";

const runExisting = (extra: StackConfig = {}): Promise<ProgramRun> => runProgram(existingConfig(extra), ["vllm-auth:hfToken"]);

type Trigger = { metadata: Record<string, string> };
type ScaledObjectSpec = { minReplicaCount: number; maxReplicaCount: number; scaleTargetRef: { name: string }; triggers: Trigger[] };
type ReleaseInputs = { chart: string; version: string; namespace: string; values: Record<string, unknown>; repositoryOpts: { repo: string } };

const releaseOf = (run: ProgramRun, name: string): ReleaseInputs => reveal(named(run, RELEASE, name).inputs) as ReleaseInputs;
const releaseNames = (run: ProgramRun): string[] => ofType(run, RELEASE).map((r) => r.name).sort();
const scaledObjectOf = (run: ProgramRun): ScaledObjectSpec => manifestOfKind(run, "ScaledObject", "vllm").spec as ScaledObjectSpec;

describe("existing target, default settings: KEDA, the ScaledObject and monitoring", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runExisting();
  });

  test("every object, custom resources included, passes its schema with no unknown field", () => {
    const kinds = manifests(run).map((m) => m.kind);
    expect(kinds).toEqual(expect.arrayContaining(["ScaledObject", "PodMonitor", "ConfigMap"]));
    for (const m of manifests(run)) expect(() => validateManifest(m)).not.toThrow();
  });

  test("installs KEDA and kube-prometheus-stack from their pinned charts", () => {
    expect(releaseNames(run)).toEqual(expect.arrayContaining(["vllm-keda-release", "vllm-monitoring-release"]));
    const keda = releaseOf(run, "vllm-keda-release");
    expect([keda.chart, keda.version, keda.namespace, keda.repositoryOpts.repo]).toEqual(["keda", KEDA_CHART_VERSION, "keda", "https://kedacore.github.io/charts"]);
    const monitoring = releaseOf(run, "vllm-monitoring-release");
    expect([monitoring.chart, monitoring.version, monitoring.namespace]).toEqual(["kube-prometheus-stack", KUBE_PROMETHEUS_STACK_CHART_VERSION, "monitoring"]);
  });

  test("the ScaledObject scales the vllm Deployment from 1 to 2 on the in-cluster Prometheus", () => {
    const spec = scaledObjectOf(run);
    expect(spec.scaleTargetRef.name).toBe("vllm");
    expect([spec.minReplicaCount, spec.maxReplicaCount]).toEqual([1, 2]);
    expect(spec.triggers[0].metadata.serverAddress).toBe(IN_CLUSTER_PROMETHEUS_URL);
    expect(spec.triggers[0].metadata.query).toBe(demandQuery("vllm"));
    expect(manifestOfKind(run, "ScaledObject", "vllm").metadata.namespace).toBe("vllm");
  });

  test("the ScaledObject is created only after KEDA's release (its CRDs and webhook) and the Deployment", () => {
    const scaledObject = ofType(run, SCALED_OBJECT)[0] as Recorded;
    expect(dependsOn(scaledObject, RELEASE, "vllm-keda-release")).toBe(true);
    expect(dependsOn(scaledObject, DEPLOYMENT, "vllm-deployment")).toBe(true);
  });

  test("the PodMonitors are created only after the monitoring release, and select the gateways and the replicas", () => {
    const monitors = ofType(run, POD_MONITOR);
    expect(monitors.map((m) => m.name).sort()).toEqual(["vllm-gateway", "vllm-replicas"]);
    for (const m of monitors) expect(dependsOn(m, RELEASE, "vllm-monitoring-release")).toBe(true);
    const selector = (name: string) => (manifestOfKind(run, "PodMonitor", name).spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
    expect(selector("vllm-gateway")["app.kubernetes.io/name"]).toBe("vllm-gateway");
    expect(selector("vllm-replicas")["app.kubernetes.io/name"]).toBe("vllm");
  });

  test("the serving pods' NetworkPolicies admit the metrics port from the namespace the chart's Prometheus runs in", () => {
    type Rule = { from?: { namespaceSelector?: { matchLabels?: Record<string, string> } }[]; ports?: { port: number | string }[] };
    const monitoringNamespace = releaseOf(run, "vllm-monitoring-release").namespace;
    for (const name of ["vllm-gateway", "vllm-replicas"]) {
      const ingress = (manifestOfKind(run, "NetworkPolicy", name).spec as { ingress: Rule[] }).ingress;
      const metrics = ingress.find((r) => r.ports?.some((p) => p.port === 9090 || p.port === "metrics"));
      expect(metrics?.from?.[0]?.namespaceSelector?.matchLabels).toEqual({ "kubernetes.io/metadata.name": monitoringNamespace });
    }
  });

  test("KEDA owns the replica count: the Deployment starts at minReplicas and Pulumi ignores later changes", () => {
    expect((manifestOfKind(run, "Deployment", "vllm").spec as { replicas: number }).replicas).toBe(1);
    expect(named(run, DEPLOYMENT, "vllm-deployment").ignoreChanges).toEqual(["spec.replicas"]);
  });

  test("a scaled-down pod has time to drain: the grace period covers the sidecar's pause and drain", () => {
    type Container = { name: string; env?: { name: string; value?: string }[]; lifecycle?: { preStop?: { sleep?: { seconds: number } } } };
    const pod = (manifestOfKind(run, "Deployment", "vllm").spec as { template: { spec: { terminationGracePeriodSeconds: number; containers: Container[] } } }).template.spec;
    const sidecar = pod.containers.find((c) => c.env?.some((e) => e.name === "SHUTDOWN_GRACE_MS"));
    expect(sidecar).toBeDefined();
    const drainSeconds = Number(sidecar!.env!.find((e) => e.name === "SHUTDOWN_GRACE_MS")!.value) / 1000;
    const pauseSeconds = sidecar!.lifecycle?.preStop?.sleep?.seconds ?? 0;
    expect(drainSeconds).toBeGreaterThan(60);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(pauseSeconds + drainSeconds);
  });

  test("two dashboards for Grafana's sidecar, every query parsed and every metric known", () => {
    const maps = manifests(run).filter((m) => m.kind === "ConfigMap" && (m.metadata.labels as Record<string, string>)?.[DASHBOARD_LABEL] === "1");
    expect(maps).toHaveLength(2);
    const known = knownSeries();
    for (const m of maps) {
      expect(m.metadata.namespace).toBe("monitoring");
      expect((m.metadata.annotations as Record<string, string>)[DASHBOARD_FOLDER_ANNOTATION]).toBe("vllm-auth");
      const [json] = Object.values(m.data as Record<string, string>).map((text) => JSON.parse(text) as Record<string, unknown>);
      for (const expr of dashboardExpressions(json)) {
        const parsed = parsePromql(expr);
        expect({ expr, errors: parsed.errors, unknown: parsed.metrics.filter((n) => !known.has(n)) }).toEqual({ expr, errors: [], unknown: [] });
      }
    }
    expect(maps.map((m) => JSON.parse(Object.values(m.data as Record<string, string>)[0]).title).sort()).toEqual(["vLLM", "vllm-auth endpoint"]);
  });

  test("Grafana's admin password is generated and only a secret output", () => {
    const output = run.outputs.grafanaAdminPassword;
    expect(output.secret).toBe(true);
    expect(output.value).toBe(fakeToken("vllm-monitoring-grafana-admin", 32));
    const secret = manifestOfKind(run, "Secret", "grafana-admin");
    expect(secret.metadata.namespace).toBe("monitoring");
    expect(secret.stringData).toEqual({ "admin-user": "admin", "admin-password": output.value });
  });
});

describe("existing target, variants", () => {
  test("minReplicas == maxReplicas: a fixed count, no ScaledObject and no KEDA", async () => {
    const run = await runExisting({ "vllm-auth:minReplicas": "3", "vllm-auth:maxReplicas": "3" });
    expect(ofType(run, SCALED_OBJECT)).toEqual([]);
    expect(releaseNames(run)).not.toContain("vllm-keda-release");
    expect((manifestOfKind(run, "Deployment", "vllm").spec as { replicas: number }).replicas).toBe(3);
    expect(named(run, DEPLOYMENT, "vllm-deployment").ignoreChanges).toEqual([]);
  });

  test("minReplicas 0: the ScaledObject scales to zero", async () => {
    const run = await runExisting({ "vllm-auth:minReplicas": "0", "vllm-auth:maxReplicas": "4" });
    const spec = scaledObjectOf(run);
    expect([spec.minReplicaCount, spec.maxReplicaCount]).toEqual([0, 4]);
  });

  test("installMonitoring false: no monitoring, monitors, dashboards or password; KEDA queries prometheusUrl", async () => {
    const url = "http://prometheus-operated.observability.svc.cluster.local:9090";
    const run = await runExisting({ "vllm-auth:installMonitoring": "false", "vllm-auth:prometheusUrl": url });
    expect(releaseNames(run)).toEqual(["vllm-keda-release"]);
    expect(ofType(run, POD_MONITOR)).toEqual([]);
    expect(manifests(run).filter((m) => m.kind === "ConfigMap")).toEqual([]);
    expect(run.outputs.grafanaAdminPassword).toBeUndefined();
    expect(scaledObjectOf(run).triggers[0].metadata.serverAddress).toBe(url);
  });

  test("installKeda false: the cluster's KEDA takes the ScaledObject; nothing is installed for it", async () => {
    const run = await runExisting({ "vllm-auth:installKeda": "false" });
    expect(releaseNames(run)).toEqual(["vllm-monitoring-release"]);
    const scaledObject = ofType(run, SCALED_OBJECT)[0] as Recorded;
    expect(scaledObject).toBeDefined();
    expect(dependsOn(scaledObject, RELEASE, "vllm-keda-release")).toBe(false);
  });

  test("autoscaling without any Prometheus is refused with what to set", async () => {
    await expect(runExisting({ "vllm-auth:installMonitoring": "false" })).rejects.toThrow(/prometheusUrl/);
  });
});

describe("aws target: KEDA and monitoring on the system nodes", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram(awsConfig(), AWS_SECRET_KEYS, AWS_MOCKS);
  }, 60000);

  test("both charts schedule their pods on the system node group's label", () => {
    const keda = releaseOf(run, "vllm-keda-release").values as { nodeSelector: unknown };
    expect(keda.nodeSelector).toEqual(SYSTEM_NODE_LABELS);
    const monitoring = releaseOf(run, "vllm-monitoring-release").values as Record<string, { nodeSelector?: unknown; prometheusSpec?: { nodeSelector: unknown } }>;
    for (const selector of [monitoring.grafana.nodeSelector, monitoring.prometheusOperator.nodeSelector, monitoring.prometheus.prometheusSpec?.nodeSelector]) {
      expect(selector).toEqual(SYSTEM_NODE_LABELS);
    }
  });

  test("the ScaledObject and PodMonitors exist, valid, after their CRDs", () => {
    for (const m of manifests(run)) expect(() => validateManifest(m)).not.toThrow();
    expect(dependsOn(ofType(run, SCALED_OBJECT)[0] as Recorded, RELEASE, "vllm-keda-release")).toBe(true);
    for (const m of ofType(run, POD_MONITOR)) expect(dependsOn(m, RELEASE, "vllm-monitoring-release")).toBe(true);
    expect(run.outputs.grafanaAdminPassword.secret).toBe(true);
  });
});
