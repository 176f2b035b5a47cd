import { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import { INetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { createHash } from "crypto";
import { loadConfig } from "../../proxy/src/config";
import { formatKey, isWellFormedKey } from "../../proxy/src/keys/format";
import { mapSecrets } from "../../stacks/manifests";
import {
  ProgramRun,
  container,
  dependsOn,
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

// The existing target must not need the AWS code.
jest.mock("../../stacks/aws", () => {
  throw new Error("stacks/aws was loaded for target existing");
});

const PASSWORD = "random:index/randomPassword:RandomPassword";
const CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789";

/** The key the program makes for `name` at `generation` under the mocks. */
const keyFor = (name: string, generation = 0): string => formatKey(fakeToken(`vllm-api-keys-${name}`, 36, { generation: String(generation) }));
const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");

function runWith(extra: Record<string, string>): Promise<ProgramRun> {
  return runProgram(existingConfig(extra), ["vllm-auth:hfToken"]);
}

/** The keys file the gateway's Secret carries. */
function keysFile(run: ProgramRun): { version: number; keys: { name: string; sha256: string; limits?: Record<string, number> }[] } {
  const secret = manifestOfKind(run, "Secret", "vllm-api-keys");
  return JSON.parse((secret.stringData as Record<string, string>)["keys.json"]);
}

/** Secret names mounted as volumes by a Deployment's pods. */
function mountedSecrets(d: IDeployment): string[] {
  return (podSpec(d).volumes ?? []).flatMap((v) => (v.secret?.secretName ? [v.secret.secretName] : [])).sort();
}

/** Whether `selector` (matchLabels) selects pods carrying `labels`. */
function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

const podLabels = (d: IDeployment): Record<string, string> => d.spec!.template.metadata!.labels!;
const policy = (run: ProgramRun, name: string): INetworkPolicy => manifestOfKind(run, "NetworkPolicy", name) as unknown as INetworkPolicy;

describe("the gateway tier with named keys, one of them limited, and TLS", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runWith({
      "vllm-auth:apiKeys": JSON.stringify([{ name: "alice" }, { name: "ci-bot", rpm: 60, concurrency: 2 }, { name: "bob", generation: 3 }]),
      "vllm-auth:gatewayReplicas": "3",
      "vllm-auth:gatewayResources": JSON.stringify({ cpu: "1", memory: "512Mi" }),
      "vllm-auth:coldStartTimeoutSeconds": "900",
      "vllm-auth:domain": "llm.example.com",
      "vllm-auth:certificateArn": CERT,
    });
  });

  test("every object, Valkey and the network policies included, is valid against the Kubernetes schema", () => {
    const all = manifests(run);
    expect(all.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
      "ConfigMap/vllm-auth-endpoint-vllm",
      "ConfigMap/vllm-auth-vllm-vllm",
      "Deployment/vllm",
      "Deployment/vllm-gateway",
      "Deployment/vllm-valkey",
      "Namespace/monitoring",
      "Namespace/vllm",
      "NetworkPolicy/vllm-gateway",
      "NetworkPolicy/vllm-replicas",
      "NetworkPolicy/vllm-valkey",
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
      "Service/vllm-valkey",
    ]);
    for (const m of all) expect(() => validateManifest(m)).not.toThrow();
  });

  test("the gateway runs in role gateway with its keys, the internal credential, the replicas' DNS name, holding, limits and the redirect", () => {
    const gateway = container(deploymentOf(run, "vllm-gateway"), "gateway");
    expect(gateway.image).toBe("ghcr.io/acme/vllm-auth-proxy:0.1.0");
    expect(gateway.env).toEqual([
      { name: "ROLE", value: "gateway" },
      { name: "KEYS_FILE", value: "/etc/vllm-auth/keys/keys.json" },
      { name: "INTERNAL_TOKEN_FILE", value: "/etc/vllm-auth/internal/token" },
      { name: "REPLICAS_DNS", value: "vllm-replicas.vllm.svc.cluster.local" },
      { name: "REPLICAS_PORT", value: "8080" },
      { name: "COLD_START_TIMEOUT_MS", value: "900000" },
      { name: "MODEL_ID", value: "meta-llama/Llama-2-7b-chat-hf" },
      { name: "GATEWAY_REPLICAS", value: "3" },
      { name: "PORT", value: "8080" },
      { name: "METRICS_PORT", value: "9090" },
      { name: "SHUTDOWN_GRACE_MS", value: "240000" },
      { name: "REDIS_URL", value: "redis://vllm-valkey.vllm.svc.cluster.local:6379" },
      { name: "REDIRECT_PORT", value: "8081" },
      { name: "REDIRECT_TO", value: "https://llm.example.com" },
      { name: "FORWARDED_PROTO", value: "https" },
      { name: "NODE_OPTIONS", value: "--max-old-space-size=256" },
    ]);
    expect(gateway.ports!.map((p) => [p.name, p.containerPort])).toEqual([
      ["http", 8080],
      ["redirect", 8081],
      ["metrics", 9090],
    ]);
    // The replicas' DNS name is the headless Service the program creates.
    expect(serviceOf(run, "vllm-replicas").spec!.clusterIP).toBe("None");
  });

  test("the proxy's own configuration loader accepts both roles' environment as the program writes it", () => {
    const envOf = (d: IDeployment, name: string) => Object.fromEntries(container(d, name).env!.map((e) => [e.name, String(e.value)]));
    const gateway = loadConfig(envOf(deploymentOf(run, "vllm-gateway"), "gateway"));
    expect(gateway).toMatchObject({
      role: "gateway",
      keysFile: "/etc/vllm-auth/keys/keys.json",
      internalTokenFile: "/etc/vllm-auth/internal/token",
      replicas: { kind: "dns", name: "vllm-replicas.vllm.svc.cluster.local", port: 8080 },
      coldStartTimeoutMs: 900_000,
      modelId: "meta-llama/Llama-2-7b-chat-hf",
      gatewayReplicas: 3,
      redirect: { port: 8081, to: "https://llm.example.com" },
      forwardedProto: "https",
      port: 8080,
      metricsPort: 9090,
      shutdownGraceMs: 240_000,
    });
    expect(gateway.redisUrl).toBe("redis://vllm-valkey.vllm.svc.cluster.local:6379");
    const sidecar = loadConfig(envOf(deploymentOf(run), "proxy"));
    expect(sidecar).toMatchObject({ role: "sidecar", internalTokenFile: "/etc/vllm-auth/internal/token", port: 8080, metricsPort: 9090 });
    expect(sidecar.keysFile).toBeUndefined();
    expect(sidecar.upstreamUrl.href).toBe("http://127.0.0.1:8000/");
  });

  test("the sidecar keeps its role: no client keys, no redirect listener, no limits store, even with TLS and limits", () => {
    const sidecar = container(deploymentOf(run), "proxy");
    const names = sidecar.env!.map((e) => e.name);
    expect(names).toEqual(["ROLE", "UPSTREAM_URL", "INTERNAL_TOKEN_FILE", "PORT", "METRICS_PORT", "SHUTDOWN_GRACE_MS", "NODE_OPTIONS"]);
    expect(sidecar.env![0]).toEqual({ name: "ROLE", value: "sidecar" });
    expect(sidecar.ports!.map((p) => p.name)).toEqual(["http", "metrics"]);
  });

  test("the load balancer sends 443 to the gateway's API and 80 to its redirect listener", () => {
    expect(serviceOf(run).spec!.ports).toEqual([
      { name: "https", port: 443, targetPort: "http", protocol: "TCP" },
      { name: "http", port: 80, targetPort: "redirect", protocol: "TCP" },
    ]);
    expect(serviceOf(run).spec!.selector).toEqual(deploymentOf(run, "vllm-gateway").spec!.selector.matchLabels);
  });

  test("the internal credential is mounted only into gateway and sidecar pods, the keys only into gateway pods", () => {
    expect(mountedSecrets(deploymentOf(run, "vllm-gateway"))).toEqual(["vllm-api-keys", "vllm-internal-token"]);
    expect(mountedSecrets(deploymentOf(run))).toEqual(["vllm-internal-token"]);
    expect(mountedSecrets(deploymentOf(run, "vllm-valkey"))).toEqual([]);
    const gateway = container(deploymentOf(run, "vllm-gateway"), "gateway");
    expect(gateway.volumeMounts).toEqual([
      { name: "api-keys", mountPath: "/etc/vllm-auth/keys", readOnly: true },
      { name: "internal-token", mountPath: "/etc/vllm-auth/internal", readOnly: true },
    ]);
    // Secret files are group-readable by the proxy's group only.
    for (const v of podSpec(deploymentOf(run, "vllm-gateway")).volumes!) expect(v.secret!.defaultMode).toBe(0o440);
    expect(podSpec(deploymentOf(run, "vllm-gateway")).securityContext).toEqual({ fsGroup: 65532, fsGroupChangePolicy: "OnRootMismatch" });
  });

  test("the keys Secret holds each key's name, the SHA-256 of the generated key and its limits; never a key", () => {
    const file = keysFile(run);
    expect(file.version).toBe(1);
    expect(file.keys).toEqual([
      { name: "alice", sha256: sha256(keyFor("alice")) },
      { name: "bob", sha256: sha256(keyFor("bob", 3)) },
      { name: "ci-bot", sha256: sha256(keyFor("ci-bot")), limits: { rpm: 60, concurrency: 2 } },
    ]);
    const text = JSON.stringify(manifestOfKind(run, "Secret", "vllm-api-keys"));
    for (const name of ["alice", "ci-bot"]) expect(text).not.toContain(keyFor(name));
    expect(text).not.toContain(keyFor("bob", 3));
  });

  test("apiKeys outputs every key by name and token the first one in config order, both secret; keys are well formed", () => {
    const keys = { alice: keyFor("alice"), "ci-bot": keyFor("ci-bot"), bob: keyFor("bob", 3) };
    expect(run.outputs.apiKeys).toEqual({ value: keys, secret: true });
    expect(run.outputs.token).toEqual({ value: keys.alice, secret: true });
    for (const key of Object.values(keys)) expect(isWellFormedKey(key)).toBe(true);
  });

  test("no key, internal token or Hugging Face token appears in a non-secret output or a plain field of any object", () => {
    const secrets = [keyFor("alice"), keyFor("ci-bot"), keyFor("bob", 3), fakeToken("vllm-internal-token-0"), "hf_testtoken_0123456789"];
    for (const [name, out] of Object.entries(run.outputs)) {
      if (!out.secret) for (const value of secrets) expect(`${name}=${JSON.stringify(out.value)}`).not.toContain(value);
    }
    for (const r of run.resources) {
      const plain = JSON.stringify(mapSecrets(r.inputs, () => "[secret]"));
      for (const value of secrets) expect(`${r.type} ${r.name} ${plain}`).not.toContain(value);
    }
  });

  test("the gateway runs restricted on CPU nodes: no GPU toleration or request, spread over zones and hosts, sized by gatewayResources", () => {
    const d = deploymentOf(run, "vllm-gateway");
    const spec = podSpec(d);
    const gateway = container(d, "gateway");
    expect(gateway.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(gateway.resources).toEqual({ requests: { cpu: "1", memory: "512Mi" }, limits: { cpu: "1", memory: "512Mi" } });
    expect(spec.tolerations).toBeUndefined();
    expect(JSON.stringify(spec)).not.toContain("nvidia.com/gpu");
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.enableServiceLinks).toBe(false);
    const selector = d.spec!.selector.matchLabels;
    expect(spec.topologySpreadConstraints).toEqual([
      { maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "ScheduleAnyway", labelSelector: { matchLabels: selector } },
      { maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "ScheduleAnyway", labelSelector: { matchLabels: selector } },
    ]);
    expect(d.spec!.replicas).toBe(3);
  });

  test("gateway probes: readiness /health on the API port, liveness and startup /livez on metrics; it drains like the sidecar", () => {
    const d = deploymentOf(run, "vllm-gateway");
    const gateway = container(d, "gateway");
    expect(gateway.readinessProbe!.httpGet).toEqual({ path: "/health", port: "http" });
    expect(gateway.livenessProbe!.httpGet).toEqual({ path: "/livez", port: "metrics" });
    expect(gateway.startupProbe!.httpGet).toEqual({ path: "/livez", port: "metrics" });
    expect(gateway.lifecycle!.preStop!.sleep).toEqual({ seconds: 15 });
    expect(podSpec(d).terminationGracePeriodSeconds!).toBeGreaterThan(15 + 240);
    expect(d.spec!.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    const pdb = manifestOfKind(run, "PodDisruptionBudget", "vllm-gateway");
    expect(pdb.spec).toEqual({ minAvailable: 1, selector: { matchLabels: d.spec!.selector.matchLabels } });
  });

  test("the network policies select the pods they mean: replicas admit gateways on 8080 and monitoring on 9090", () => {
    const gateways = podLabels(deploymentOf(run, "vllm-gateway"));
    const replicas = podLabels(deploymentOf(run));
    const valkey = podLabels(deploymentOf(run, "vllm-valkey"));
    const monitoring = { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } };

    const r = policy(run, "vllm-replicas").spec!;
    expect(selects(r.podSelector.matchLabels, replicas)).toBe(true);
    expect(selects(r.podSelector.matchLabels, gateways)).toBe(false);
    expect(r.policyTypes).toEqual(["Ingress"]);
    const [api, metrics] = r.ingress!;
    expect(api.ports).toEqual([{ protocol: "TCP", port: 8080 }]);
    expect(api.from).toHaveLength(1);
    expect(api.from![0].namespaceSelector).toBeUndefined();
    expect(selects(api.from![0].podSelector!.matchLabels, gateways)).toBe(true);
    for (const other of [replicas, valkey]) expect(selects(api.from![0].podSelector!.matchLabels, other)).toBe(false);
    expect(metrics).toEqual({ from: [monitoring], ports: [{ protocol: "TCP", port: 9090 }] });

    const g = policy(run, "vllm-gateway").spec!;
    expect(selects(g.podSelector.matchLabels, gateways)).toBe(true);
    expect(selects(g.podSelector.matchLabels, replicas)).toBe(false);
    expect(g.ingress).toEqual([
      { ports: [{ protocol: "TCP", port: 8080 }, { protocol: "TCP", port: 8081 }] },
      { from: [monitoring], ports: [{ protocol: "TCP", port: 9090 }] },
    ]);

    const v = policy(run, "vllm-valkey").spec!;
    expect(selects(v.podSelector.matchLabels, valkey)).toBe(true);
    expect(v.ingress).toHaveLength(1);
    expect(v.ingress![0].ports).toEqual([{ protocol: "TCP", port: 6379 }]);
    expect(selects(v.ingress![0].from![0].podSelector!.matchLabels, gateways)).toBe(true);
    expect(selects(v.ingress![0].from![0].podSelector!.matchLabels, replicas)).toBe(false);
    // The policies' pod selectors carry only the two selector labels (STYLE.md 15).
    for (const p of [r, g, v]) expect(Object.keys(p.podSelector.matchLabels!).sort()).toEqual(["app.kubernetes.io/instance", "app.kubernetes.io/name"]);
  });

  test("Valkey: pinned, non-root 999 with a read-only root and /data in an emptyDir, no persistence, bounded memory, probes", () => {
    const d = deploymentOf(run, "vllm-valkey");
    const spec = podSpec(d);
    const valkey = container(d, "valkey");
    expect(valkey.image).toBe("valkey/valkey:8.1.11-alpine");
    expect(valkey.args).toEqual([
      "valkey-server", "--port", "6379", "--save", "", "--appendonly", "no", "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru",
    ]);
    expect(valkey.command).toBeUndefined();
    expect(valkey.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 999,
      runAsGroup: 1000,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(valkey.volumeMounts).toEqual([{ name: "data", mountPath: "/data" }]);
    expect(spec.volumes).toEqual([{ name: "data", emptyDir: { sizeLimit: "64Mi" } }]);
    expect(valkey.resources).toEqual({ requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "100m", memory: "128Mi" } });
    expect(valkey.readinessProbe!.exec!.command).toEqual(["valkey-cli", "-p", "6379", "ping"]);
    expect(valkey.livenessProbe!.tcpSocket).toEqual({ port: "valkey" });
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.tolerations).toBeUndefined();
    expect(serviceOf(run, "vllm-valkey").spec).toEqual({
      type: "ClusterIP",
      selector: d.spec!.selector.matchLabels,
      ports: [{ name: "valkey", port: 6379, targetPort: "valkey", protocol: "TCP" }],
    });
    expect(d.metadata!.labels!["app.kubernetes.io/version"]).toBe("8.1.11-alpine");
  });

  test("the gateways are created after the load balancer's Service exists, which waits only for its address", () => {
    const service = named(run, "kubernetes:core/v1:Service", "vllm-auth-service");
    const gatewayComponent = named(run, "vllm-auth:infra:Gateway", "vllm-gateway");
    expect(dependsOn(gatewayComponent, "kubernetes:core/v1:Service", "vllm-auth-service")).toBe(true);
    expect((reveal(service.inputs) as { metadata: { annotations: Record<string, string> } }).metadata.annotations["pulumi.com/waitFor"]).toBe(
      "jsonpath={.status.loadBalancer.ingress[0]}",
    );
    // The Service does not wait for the gateways in turn.
    expect(service.dependencies!.some((urn) => urn.includes("Gateway"))).toBe(false);
  });
});

describe("no limits, no Valkey", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runWith({ "vllm-auth:apiKeys": JSON.stringify([{ name: "alice" }, { name: "bob" }]) });
  });

  test("no Valkey Deployment, Service or policy, and no REDIS_URL for the gateway", () => {
    const names = manifests(run).map((m) => `${m.kind}/${m.metadata.name}`);
    expect(names.filter((n) => n.includes("valkey"))).toEqual([]);
    expect(ofType(run, "vllm-auth:infra:Valkey")).toEqual([]);
    expect(container(deploymentOf(run, "vllm-gateway"), "gateway").env!.map((e) => e.name)).not.toContain("REDIS_URL");
    expect(keysFile(run).keys.every((k) => k.limits === undefined)).toBe(true);
  });
});

describe("rotating and revoking one key, and the internal credential", () => {
  const before = [{ name: "alice" }, { name: "bob" }, { name: "carol" }];
  let first: ProgramRun;
  let rotated: ProgramRun;
  let revoked: ProgramRun;
  beforeAll(async () => {
    first = await runWith({ "vllm-auth:apiKeys": JSON.stringify(before) });
    rotated = await runWith({
      "vllm-auth:apiKeys": JSON.stringify([{ name: "alice" }, { name: "bob", generation: 1 }, { name: "carol" }]),
      "vllm-auth:internalTokenGeneration": "1",
    });
    revoked = await runWith({ "vllm-auth:apiKeys": JSON.stringify([{ name: "alice" }, { name: "carol" }, { name: "dave" }]) });
  });

  const passwords = (run: ProgramRun): Record<string, unknown> =>
    Object.fromEntries(ofType(run, PASSWORD).map((p) => [p.name, (reveal(p.inputs) as { keepers?: unknown }).keepers]));
  const digests = (run: ProgramRun): Record<string, string> => Object.fromEntries(keysFile(run).keys.map((k) => [k.name, k.sha256]));

  test("raising bob's generation replaces bob's key alone: same resources, only bob's keepers and digest change", () => {
    const a = first.outputs.apiKeys.value as Record<string, string>;
    const b = rotated.outputs.apiKeys.value as Record<string, string>;
    expect(b.alice).toBe(a.alice);
    expect(b.carol).toBe(a.carol);
    expect(b.bob).not.toBe(a.bob);
    expect(isWellFormedKey(b.bob)).toBe(true);
    const keysBefore = Object.keys(passwords(first)).filter((n) => n.startsWith("vllm-api-keys-"));
    const keysAfter = Object.keys(passwords(rotated)).filter((n) => n.startsWith("vllm-api-keys-"));
    expect(keysAfter).toEqual(keysBefore);
    expect(passwords(rotated)["vllm-api-keys-bob"]).toEqual({ generation: "1" });
    expect(passwords(rotated)["vllm-api-keys-alice"]).toEqual(passwords(first)["vllm-api-keys-alice"]);
    const [d1, d2] = [digests(first), digests(rotated)];
    expect(d2.alice).toBe(d1.alice);
    expect(d2.carol).toBe(d1.carol);
    expect(d2.bob).toBe(sha256(b.bob));
    expect(d2.bob).not.toBe(d1.bob);
  });

  test("removing bob and adding dave leaves alice's and carol's keys as they were", () => {
    const a = first.outputs.apiKeys.value as Record<string, string>;
    const c = revoked.outputs.apiKeys.value as Record<string, string>;
    expect(Object.keys(c)).toEqual(["alice", "carol", "dave"]);
    expect(c.alice).toBe(a.alice);
    expect(c.carol).toBe(a.carol);
    expect(ofType(revoked, PASSWORD).map((p) => p.name)).not.toContain("vllm-api-keys-bob");
    expect(keysFile(revoked).keys.map((k) => k.name)).toEqual(["alice", "carol", "dave"]);
  });

  test("the internal credential's file has the current token first, then the previous generation's", () => {
    const file = (run: ProgramRun) => (manifestOfKind(run, "Secret", "vllm-internal-token").stringData as Record<string, string>).token;
    expect(file(first)).toBe(`${fakeToken("vllm-internal-token-0")}\n`);
    expect(file(rotated)).toBe(`${fakeToken("vllm-internal-token-1")}\n${fakeToken("vllm-internal-token-0")}\n`);
    expect(ofType(rotated, PASSWORD).map((p) => p.name).filter((n) => n.startsWith("vllm-internal-token-")).sort()).toEqual([
      "vllm-internal-token-0",
      "vllm-internal-token-1",
    ]);
  });
});

describe("the replica count under an autoscaler", () => {
  test("with minReplicas != maxReplicas Pulumi sets spec.replicas only at creation (ignoreChanges) and waits for the first replica", async () => {
    const run = await runWith({ "vllm-auth:minReplicas": "1", "vllm-auth:maxReplicas": "3" });
    const d = named(run, "kubernetes:apps/v1:Deployment", "vllm-deployment");
    expect(d.ignoreChanges).toEqual(["spec.replicas"]);
    expect(deploymentOf(run).spec!.replicas).toBe(1);
    expect(deploymentOf(run).metadata!.annotations!["pulumi.com/timeoutSeconds"]).toBeDefined();
    expect(deploymentOf(run).metadata!.annotations!["pulumi.com/skipAwait"]).toBeUndefined();
    expect(deploymentOf(run).metadata!.annotations!["pulumi.com/patchForce"]).toBeUndefined();
  });

  test("scaled to zero, the Deployment starts at 0 and pulumi up does not wait for a pod that no request has asked for", async () => {
    const run = await runWith({ "vllm-auth:minReplicas": "0", "vllm-auth:maxReplicas": "2" });
    expect(deploymentOf(run).spec!.replicas).toBe(0);
    expect(deploymentOf(run).metadata!.annotations!["pulumi.com/skipAwait"]).toBe("true");
    expect(named(run, "kubernetes:apps/v1:Deployment", "vllm-deployment").ignoreChanges).toEqual(["spec.replicas"]);
    // The gateway still waits for its own pods; it holds requests until a replica is ready.
    expect(deploymentOf(run, "vllm-gateway").metadata!.annotations!["pulumi.com/skipAwait"]).toBeUndefined();
  });

  test("a fixed count stays Pulumi's, and takes spec.replicas back from an autoscaler that owned it before", async () => {
    const run = await runWith({ "vllm-auth:minReplicas": "2", "vllm-auth:maxReplicas": "2" });
    expect(named(run, "kubernetes:apps/v1:Deployment", "vllm-deployment").ignoreChanges).toEqual([]);
    expect(deploymentOf(run).spec!.replicas).toBe(2);
    expect(deploymentOf(run).metadata!.annotations!["pulumi.com/patchForce"]).toBe("true");
  });

  test("one gateway gets a budget that does not block node drains; the gateway announces the served model name", async () => {
    const run = await runWith({
      "vllm-auth:gatewayReplicas": "1",
      "vllm-auth:vllmArgs": JSON.stringify(["--max-model-len", "4096", "--served-model-name", "llama-2-chat"]),
    });
    expect(manifestOfKind(run, "PodDisruptionBudget", "vllm-gateway").spec).toMatchObject({ maxUnavailable: 1 });
    const env = container(deploymentOf(run, "vllm-gateway"), "gateway").env;
    expect(env).toContainEqual({ name: "GATEWAY_REPLICAS", value: "1" });
    expect(env).toContainEqual({ name: "MODEL_ID", value: "llama-2-chat" });
  });
});

describe("key settings the program refuses", () => {
  test("a bad name, a duplicate and a zero limit, each named with what to write", async () => {
    await expect(
      runWith({ "vllm-auth:apiKeys": JSON.stringify([{ name: "Alice" }, { name: "bob" }, { name: "bob", rpm: 0 }]) }),
    ).rejects.toThrow(/vllm-auth:apiKeys: key 1 name "Alice" is not a key name[\s\S]*rpm 0 is out of range[\s\S]*repeats the name "bob"/);
  });
});
