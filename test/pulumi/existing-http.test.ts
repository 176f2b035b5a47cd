import { IPodSpec } from "kubernetes-models/v1/PodSpec";
import { formatKey, isWellFormedKey, keyDigest } from "../../proxy/src/keys/format";
import { mapSecrets } from "../../stacks/manifests";
import {
  LB_HOSTNAME,
  ProgramRun,
  container,
  deploymentOf,
  existingConfig,
  fakeToken,
  manifestOfKind,
  manifests,
  named,
  ofType,
  podSpec,
  reveal,
  runProgram,
  serviceOf,
  validateManifest,
} from "./harness";

// The existing target must not need the AWS code: loading it fails this file.
jest.mock("../../stacks/aws", () => {
  throw new Error("stacks/aws was loaded for target existing");
});

const SIX_LABELS = [
  "app.kubernetes.io/name",
  "app.kubernetes.io/instance",
  "app.kubernetes.io/version",
  "app.kubernetes.io/component",
  "app.kubernetes.io/part-of",
  "app.kubernetes.io/managed-by",
];

/** The key the program makes from the mocked RandomPassword of that name (generation 0). */
const keyOf = (name: string): string => formatKey(fakeToken(name, 36, { generation: "0" }));

let run: ProgramRun;

beforeAll(async () => {
  run = await runProgram(existingConfig(), ["vllm-auth:hfToken"]);
});

describe("existing target, plain HTTP, default settings", () => {
  test("creates exactly the two tiers' objects, all through the configured cluster's provider", () => {
    const kinds = manifests(run).map((m) => `${m.kind}/${m.metadata.name}`).sort();
    expect(kinds).toEqual([
      "ConfigMap/vllm-auth-endpoint-vllm",
      "ConfigMap/vllm-auth-vllm-vllm",
      "Deployment/vllm",
      "Deployment/vllm-gateway",
      "Namespace/monitoring",
      "Namespace/vllm",
      "NetworkPolicy/vllm-gateway",
      "NetworkPolicy/vllm-replicas",
      "PodDisruptionBudget/vllm",
      "PodDisruptionBudget/vllm-gateway",
      "PodMonitor/vllm-gateway",
      "PodMonitor/vllm-replicas",
      "ScaledObject/vllm",
      "Secret/grafana-admin",
      "Secret/vllm-api-keys",
      "Secret/vllm-hf-token",
      "Secret/vllm-internal-token",
      "Service/vllm-auth",
      "Service/vllm-replicas",
    ]);
    const k8sObjects = run.resources.filter((r) => r.type.startsWith("kubernetes:") && !r.type.startsWith("pulumi:"));
    for (const r of k8sObjects) {
      expect(r.provider).toMatch(/pulumi:providers:kubernetes::existing-cluster::/);
    }
    expect(ofType(run, "random:index/randomPassword:RandomPassword").map((r) => r.name).sort()).toEqual([
      "vllm-api-keys-default",
      "vllm-internal-token-0",
      "vllm-monitoring-grafana-admin",
    ]);
    const components = run.resources.filter((r) => r.type.startsWith("vllm-auth:")).map((r) => `${r.type} ${r.name}`);
    expect(components.sort()).toEqual([
      "vllm-auth:infra:ApiKeys vllm-api-keys",
      "vllm-auth:infra:Dashboards vllm-dashboards",
      "vllm-auth:infra:Gateway vllm-gateway",
      "vllm-auth:infra:Ingress vllm-auth",
      "vllm-auth:infra:InternalCredential vllm-internal-token",
      "vllm-auth:infra:Keda vllm-keda",
      "vllm-auth:infra:Monitoring vllm-monitoring",
      "vllm-auth:infra:NetworkPolicies vllm-network-policies",
      "vllm-auth:infra:ReplicaAutoscaler vllm",
      "vllm-auth:infra:ServingMonitors vllm",
      "vllm-auth:infra:VllmServer vllm",
    ]);
  });

  test("every Kubernetes object is valid against the Kubernetes OpenAPI schema", () => {
    const all = manifests(run);
    expect(all.length).toBe(19);
    for (const m of all) {
      expect(() => validateManifest(m)).not.toThrow();
    }
  });

  test("every object and the pod template carry the six app.kubernetes.io labels", () => {
    for (const m of manifests(run)) {
      const labels = m.metadata.labels as Record<string, string>;
      expect(Object.keys(labels)).toEqual(expect.arrayContaining(SIX_LABELS));
      expect(labels["app.kubernetes.io/managed-by"]).toBe("pulumi");
      expect(labels["app.kubernetes.io/instance"]).toBe("vllm-auth-dev");
    }
    const template = deploymentOf(run).spec!.template.metadata!.labels!;
    expect(Object.keys(template)).toEqual(expect.arrayContaining(SIX_LABELS));
    expect(template["app.kubernetes.io/version"]).toBe("v0.29.0");
  });

  test("selectors use only name and instance: the load balancer selects the gateways, the replicas' Service the vLLM pods", () => {
    const replicas = { "app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": "vllm-auth-dev" };
    const gateways = { "app.kubernetes.io/name": "vllm-gateway", "app.kubernetes.io/instance": "vllm-auth-dev" };
    const d = deploymentOf(run);
    expect(d.spec!.selector.matchLabels).toEqual(replicas);
    expect(d.spec!.template.metadata!.labels).toMatchObject(replicas);
    expect(serviceOf(run, "vllm-replicas").spec!.selector).toEqual(replicas);
    const pdb = manifestOfKind(run, "PodDisruptionBudget", "vllm");
    expect((pdb.spec as { selector: unknown }).selector).toEqual({ matchLabels: replicas });
    const g = deploymentOf(run, "vllm-gateway");
    expect(g.spec!.selector.matchLabels).toEqual(gateways);
    expect(g.spec!.template.metadata!.labels).toMatchObject({ ...gateways, "app.kubernetes.io/component": "gateway" });
    expect(serviceOf(run).spec!.selector).toEqual(gateways);
    const gatewayPdb = manifestOfKind(run, "PodDisruptionBudget", "vllm-gateway");
    expect((gatewayPdb.spec as { selector: unknown }).selector).toEqual({ matchLabels: gateways });
  });

  test("vLLM binds 127.0.0.1:8000 only, declares no port, and serves the configured model", () => {
    const vllm = container(deploymentOf(run), "vllm");
    expect(vllm.image).toBe("vllm/vllm-openai:v0.29.0");
    expect(vllm.command).toEqual([
      "vllm", "serve", "meta-llama/Llama-2-7b-chat-hf",
      "--host", "127.0.0.1", "--port", "8000", "--tensor-parallel-size", "1",
      "--max-model-len", "4096",
    ]);
    expect(vllm.ports ?? []).toEqual([]);
    expect(vllm.args).toBeUndefined();
  });

  test("only the gateway's API port is exposed by the load balancer; metrics and the replicas stay inside", () => {
    for (const [deployment, name] of [["vllm", "proxy"], ["vllm-gateway", "gateway"]] as const) {
      expect(container(deploymentOf(run, deployment), name).ports).toEqual([
        { name: "http", containerPort: 8080, protocol: "TCP" },
        { name: "metrics", containerPort: 9090, protocol: "TCP" },
      ]);
    }
    const replicas = serviceOf(run, "vllm-replicas");
    expect(replicas.spec).toEqual({
      clusterIP: "None",
      publishNotReadyAddresses: false,
      selector: { "app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": "vllm-auth-dev" },
      ports: [{ name: "http", port: 8080, targetPort: "http", protocol: "TCP" }],
    });
    const svc = serviceOf(run);
    expect(svc.spec!.type).toBe("LoadBalancer");
    expect(svc.spec!.ports).toEqual([{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }]);
    expect(svc.spec!.loadBalancerSourceRanges).toEqual(["0.0.0.0/0"]);
  });

  test("the Service is annotated for an internet-facing NLB with IP targets and a long TCP idle timeout", () => {
    const a = serviceOf(run).metadata!.annotations!;
    const p = "service.beta.kubernetes.io/aws-load-balancer";
    expect(a[`${p}-type`]).toBe("external");
    expect(a[`${p}-nlb-target-type`]).toBe("ip");
    expect(a[`${p}-scheme`]).toBe("internet-facing");
    expect(a[`${p}-listener-attributes.TCP-80`]).toBe("tcp.idle_timeout.seconds=1800");
    expect(a[`${p}-healthcheck-path`]).toBe("/health");
    expect(a[`${p}-healthcheck-port`]).toBe("8080");
    expect(a[`${p}-ssl-cert`]).toBeUndefined();
    // Pulumi waits for the load balancer's address only, not for endpoints: the gateways come after the Service.
    expect(a["pulumi.com/waitFor"]).toBe("jsonpath={.status.loadBalancer.ingress[0]}");
    expect(Number(a["pulumi.com/timeoutSeconds"])).toBeGreaterThanOrEqual(10 * 60);
    // A deregistered pod keeps its open streams for longer than the proxy drains them.
    expect(a[`${p}-target-group-attributes`]).toBe("deregistration_delay.timeout_seconds=270");
  });

  test("the sidecar runs in role sidecar: vLLM on loopback upstream, the internal credential from a mounted Secret directory, no client keys", () => {
    const d = deploymentOf(run);
    const proxy = container(d, "proxy");
    expect(proxy.image).toBe("ghcr.io/acme/vllm-auth-proxy:0.1.0");
    expect(proxy.env).toEqual([
      { name: "ROLE", value: "sidecar" },
      { name: "UPSTREAM_URL", value: "http://127.0.0.1:8000" },
      { name: "INTERNAL_TOKEN_FILE", value: "/etc/vllm-auth/internal/token" },
      { name: "PORT", value: "8080" },
      { name: "METRICS_PORT", value: "9090" },
      { name: "SHUTDOWN_GRACE_MS", value: "240000" },
      { name: "NODE_OPTIONS", value: "--max-old-space-size=128" },
    ]);
    // A directory mount without subPath: the kubelet's atomic ..data swap reaches the proxy.
    expect(proxy.volumeMounts).toEqual([{ name: "internal-token", mountPath: "/etc/vllm-auth/internal", readOnly: true }]);
    const secretVolumes = podSpec(d).volumes!.filter((v) => v.secret !== undefined);
    expect(secretVolumes).toEqual([{ name: "internal-token", secret: { secretName: "vllm-internal-token", defaultMode: 0o440 } }]);
  });

  test("the proxy runs restricted: non-root 65532, read-only root, no privileges, RuntimeDefault seccomp", () => {
    const proxy = container(deploymentOf(run), "proxy");
    expect(proxy.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(proxy.resources).toEqual({ requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: "250m", memory: "256Mi" } });
    const vllm = container(deploymentOf(run), "vllm");
    expect(vllm.securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
  });

  test("vLLM gets one GPU, tolerates the GPU taint, and reads the Hugging Face token from a Secret", () => {
    const d = deploymentOf(run);
    const vllm = container(d, "vllm");
    expect(vllm.resources!.limits).toEqual({ cpu: "3", memory: "12Gi", "nvidia.com/gpu": "1" });
    expect(vllm.resources!.requests).toEqual(vllm.resources!.limits);
    expect(podSpec(d).tolerations).toEqual([{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
    const hfEnv = vllm.env!.filter((e) => e.name === "HF_TOKEN" || e.name === "HUGGING_FACE_HUB_TOKEN");
    expect(hfEnv).toEqual([
      { name: "HF_TOKEN", valueFrom: { secretKeyRef: { name: "vllm-hf-token", key: "token" } } },
      { name: "HUGGING_FACE_HUB_TOKEN", valueFrom: { secretKeyRef: { name: "vllm-hf-token", key: "token" } } },
    ]);
    expect(manifestOfKind(run, "Secret", "vllm-hf-token").stringData).toEqual({ token: "hf_testtoken_0123456789" });
    expect(vllm.env!.map((e) => e.name)).toEqual(["HF_HOME", "VLLM_NO_USAGE_STATS", "DO_NOT_TRACK", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"]);
  });

  test("/dev/shm is memory and the model cache is a sized volume at the Hugging Face cache path", () => {
    const d = deploymentOf(run);
    const volumes = podSpec(d).volumes!;
    expect(volumes.find((v) => v.name === "shm")!.emptyDir).toEqual({ medium: "Memory", sizeLimit: "2Gi" });
    expect(volumes.find((v) => v.name === "model-cache")!.emptyDir).toEqual({ sizeLimit: "40Gi" });
    expect(container(d, "vllm").volumeMounts).toEqual([
      { name: "shm", mountPath: "/dev/shm" },
      { name: "model-cache", mountPath: "/root/.cache/huggingface" },
    ]);
  });

  test("vLLM's probes run inside the pod against 127.0.0.1, with a startup budget of at least 20 minutes", () => {
    const vllm = container(deploymentOf(run), "vllm");
    for (const probe of [vllm.startupProbe, vllm.readinessProbe, vllm.livenessProbe]) {
      expect(probe!.httpGet).toBeUndefined();
      expect(probe!.exec!.command!.join(" ")).toContain("http://127.0.0.1:8000/health");
    }
    const startup = vllm.startupProbe!;
    expect(startup.periodSeconds! * startup.failureThreshold!).toBeGreaterThanOrEqual(20 * 60);
    expect(vllm.readinessProbe).not.toEqual(vllm.livenessProbe);
    expect(vllm.livenessProbe!.failureThreshold! * vllm.livenessProbe!.periodSeconds!).toBeLessThan(20 * 60);
  });

  test("the proxy's readiness follows vLLM through /health on 8080; its liveness never depends on vLLM", () => {
    const proxy = container(deploymentOf(run), "proxy");
    expect(proxy.readinessProbe!.httpGet).toEqual({ path: "/health", port: "http" });
    expect(proxy.livenessProbe!.httpGet).toEqual({ path: "/livez", port: "metrics" });
    expect(proxy.startupProbe!.httpGet).toEqual({ path: "/livez", port: "metrics" });
  });

  test("shutdown: a preStop pause, vLLM waits for the proxy, and the grace period covers pause + drain", () => {
    const d = deploymentOf(run);
    const spec: IPodSpec = podSpec(d);
    const proxy = container(d, "proxy");
    expect(proxy.lifecycle!.preStop!.sleep).toEqual({ seconds: 15 });
    const vllmPreStop = container(d, "vllm").lifecycle!.preStop!.exec!.command!;
    expect(vllmPreStop.slice(0, 2)).toEqual(["python3", "-c"]);
    expect(vllmPreStop[2]).toContain(":1F40"); // port 8000 in /proc/net/tcp notation
    expect(spec.terminationGracePeriodSeconds!).toBeGreaterThan(15 + 240000 / 1000);
    expect(spec.enableServiceLinks).toBe(false);
    expect(spec.automountServiceAccountToken).toBe(false);
  });

  test("on a cluster that may have no spare GPU, a rollout stops one replica before starting the next, and a PodDisruptionBudget limits evictions", () => {
    const d = deploymentOf(run);
    // minReplicas (default 1) run at all times; the autoscaler adds up to maxReplicas.
    expect(d.spec!.replicas).toBe(1);
    expect(d.spec!.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } });
    expect(d.spec!.progressDeadlineSeconds).toBeGreaterThanOrEqual(20 * 60);
    expect(Number(d.metadata!.annotations!["pulumi.com/timeoutSeconds"])).toBeGreaterThan(d.spec!.progressDeadlineSeconds!);
    const pdb = manifestOfKind(run, "PodDisruptionBudget", "vllm");
    expect((pdb.spec as { maxUnavailable: number }).maxUnavailable).toBe(1);
  });

  test("the namespace enforces baseline Pod Security and asks the NLB controller for readiness gates", () => {
    const ns = manifestOfKind(run, "Namespace", "vllm");
    expect(ns.metadata.labels).toMatchObject({
      "pod-security.kubernetes.io/enforce": "baseline",
      "elbv2.k8s.aws/pod-readiness-gate-inject": "enabled",
    });
    // Monitoring has its own namespace: Grafana's password and the dashboards live there.
    const inMonitoring = (m: { kind: string; metadata: Record<string, unknown> }) => m.kind === "ConfigMap" || m.metadata.name === "grafana-admin";
    for (const m of manifests(run).filter((x) => x.kind !== "Namespace")) {
      expect(m.metadata.namespace).toBe(inMonitoring(m) ? "monitoring" : "vllm");
    }
  });

  test("outputs: endpoint without a scheme as sky serve prints it, URLs, model, namespace, secret keys", () => {
    const o = run.outputs;
    expect(o.endpoint).toEqual({ value: LB_HOSTNAME, secret: false });
    expect(o.url).toEqual({ value: `http://${LB_HOSTNAME}`, secret: false });
    expect(o.openaiBaseUrl).toEqual({ value: `http://${LB_HOSTNAME}/v1`, secret: false });
    expect(o.model).toEqual({ value: "meta-llama/Llama-2-7b-chat-hf", secret: false });
    expect(o.namespace).toEqual({ value: "vllm", secret: false });
    const key = keyOf("vllm-api-keys-default");
    expect(o.token).toEqual({ value: key, secret: true });
    expect(o.apiKeys).toEqual({ value: { default: key }, secret: true });
    expect(o.tokens).toBeUndefined();
    expect(o.kubeconfig).toBeUndefined();
    expect(o.clusterName).toBeUndefined();
  });

  test("keys are vllmauth_ keys from 36 letters and digits; the internal token is 48", () => {
    expect(named(run, "random:index/randomPassword:RandomPassword", "vllm-api-keys-default").inputs).toMatchObject({
      length: 36,
      special: false,
      keepers: { generation: "0" },
    });
    expect(named(run, "random:index/randomPassword:RandomPassword", "vllm-internal-token-0").inputs).toMatchObject({ length: 48, special: false });
    expect(isWellFormedKey(run.outputs.token.value as string)).toBe(true);
  });

  test("no key or internal token appears in a non-secret output or in any plain field of any resource", () => {
    const secrets = [keyOf("vllm-api-keys-default"), fakeToken("vllm-internal-token-0"), "hf_testtoken_0123456789"];
    for (const [name, out] of Object.entries(run.outputs)) {
      if (!out.secret) {
        for (const value of secrets) expect(`${name}=${JSON.stringify(out.value)}`).not.toContain(value);
      }
    }
    for (const r of run.resources) {
      const plain = JSON.stringify(mapSecrets(r.inputs, () => "[secret]"));
      for (const value of secrets) expect(`${r.type} ${r.name} ${plain}`).not.toContain(value);
    }
    // The keys Secret holds the digest, never the key; the internal Secret holds the token, inside secret fields.
    const keysSecret = named(run, "kubernetes:core/v1:Secret", "vllm-api-keys-secret");
    expect(JSON.stringify(reveal(keysSecret.inputs))).not.toContain(secrets[0]);
    expect(JSON.stringify(reveal(keysSecret.inputs))).toContain(keyDigest(secrets[0]));
    expect(JSON.stringify(named(run, "kubernetes:core/v1:Secret", "vllm-internal-token-secret").inputs)).toContain(secrets[1]);
  });

  test("the program calls no provider function and warns about nothing when the config is complete", () => {
    expect(run.calls).toEqual([]);
    expect(run.warnings).toEqual([]);
  });
});
