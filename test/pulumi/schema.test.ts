import { NodePool } from "@kubernetes-models/karpenter/karpenter.sh/v1/NodePool";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Secret } from "kubernetes-models/v1/Secret";
import { nodePoolSpec } from "../../infra/aws/gpuNodePool";
import { Manifest } from "../../stacks/manifests";
import { ProgramRun, existingConfig, manifestOfKind, manifests, runProgram, validateManifest } from "./harness";
import { unknownFields } from "./schema";

/** Index of the proxy in a Deployment manifest's containers. */
function proxyIndex(deployment: Manifest): number {
  const spec = deployment.spec as { template: { spec: { containers: { name: string }[] } } };
  return spec.template.spec.containers.findIndex((c) => c.name === "proxy");
}

/** The proxy container of a Deployment manifest, for changing one field. */
function proxyOf(deployment: Manifest): Record<string, unknown> {
  const spec = deployment.spec as { template: { spec: { containers: Record<string, unknown>[] } } };
  return spec.template.spec.containers[proxyIndex(deployment)];
}

describe("strict schema validation of Kubernetes objects", () => {
  let run: ProgramRun;
  let deployment: Manifest;
  beforeAll(async () => {
    run = await runProgram(existingConfig(), ["vllm-auth:hfToken"]);
    deployment = manifestOfKind(run, "Deployment", "vllm");
  });

  test("a misspelt field passes kubernetes-models' own validate, and fails the strict check by its path", () => {
    const misspelt = structuredClone(deployment);
    const proxy = proxyOf(misspelt);
    proxy.readinesProbe = proxy.readinessProbe;
    delete proxy.readinessProbe;
    expect(() => new Deployment(misspelt as ConstructorParameters<typeof Deployment>[0]).validate()).not.toThrow();
    expect(() => validateManifest(misspelt)).toThrow(
      `apps/v1 Deployment vllm: spec.template.spec.containers[${proxyIndex(misspelt)}].readinesProbe is not a field of the Kubernetes schema`,
    );
  });

  test("unknown fields are found at every depth, all of them at once", () => {
    const wrong = structuredClone(deployment);
    wrong.metadata.lables = { a: "b" };
    (wrong.spec as Record<string, unknown>).replica = 3;
    proxyOf(wrong).securityContext = { ...(proxyOf(wrong).securityContext as object), runAsNonroot: true };
    expect(unknownFields(new Deployment(wrong as ConstructorParameters<typeof Deployment>[0])).sort()).toEqual([
      "metadata.lables",
      "spec.replica",
      `spec.template.spec.containers[${proxyIndex(wrong)}].securityContext.runAsNonroot`,
    ]);
  });

  test("maps the schema leaves open take any key: labels, annotations, resource limits, Secret data", () => {
    const open = structuredClone(deployment);
    open.metadata.labels = { "example.com/any-label": "x" };
    open.metadata.annotations = { "example.com/any-annotation": "y" };
    proxyOf(open).resources = { limits: { "example.com/widget": "1", cpu: "1" }, requests: { "example.com/widget": "1" } };
    expect(() => validateManifest(open)).not.toThrow();
    const secret = new Secret({ metadata: { name: "s" }, data: { "any.key": "eA==" }, stringData: { other_key: "x" } });
    expect(unknownFields(secret)).toEqual([]);
  });

  test("a NetworkPolicy with a misspelt selector field fails by its path", () => {
    const wrong = structuredClone(manifestOfKind(run, "NetworkPolicy", "vllm-replicas"));
    const spec = wrong.spec as { podSelector: Record<string, unknown> };
    spec.podSelector.matchLabel = spec.podSelector.matchLabels;
    delete spec.podSelector.matchLabels;
    expect(() => validateManifest(wrong)).toThrow("networking.k8s.io/v1 NetworkPolicy vllm-replicas: spec.podSelector.matchLabel is not a field of the Kubernetes schema");
  });

  test("the program's real objects pass", () => {
    const objects = manifests(run);
    expect([...new Set(objects.map((m) => m.kind))].sort()).toEqual([
      "ConfigMap",
      "Deployment",
      "Namespace",
      "NetworkPolicy",
      "PodDisruptionBudget",
      "PodMonitor",
      "ScaledObject",
      "Secret",
      "Service",
    ]);
    for (const m of objects) expect(() => validateManifest(m)).not.toThrow();
  });
});

describe("strict schema validation of custom resources", () => {
  const nodePool = (): Manifest => ({
    apiVersion: "karpenter.sh/v1",
    kind: "NodePool",
    metadata: { name: "gpu" },
    spec: nodePoolSpec({ instanceTypes: ["g6.xlarge"], capacityTypes: ["spot", "on-demand"], maxGpus: 3 }),
  });

  test("a CRD model is walked the same way: a misspelt field its own validate accepts fails by its path", () => {
    const misspelt = nodePool();
    const spec = misspelt.spec as { template: { spec: Record<string, unknown> } };
    spec.template.spec.expireAfterr = spec.template.spec.expireAfter;
    delete spec.template.spec.expireAfter;
    expect(() => new NodePool(misspelt as unknown as ConstructorParameters<typeof NodePool>[0]).validate()).not.toThrow();
    expect(() => validateManifest(misspelt)).toThrow(
      "karpenter.sh/v1 NodePool gpu: spec.template.spec.expireAfterr is not a field of the karpenter.sh CRD schema",
    );
  });

  test("a CRD model's own rules still apply, and its open maps (limits, labels) take any key", () => {
    const wrong = nodePool();
    (wrong.spec as { disruption: Record<string, unknown> }).disruption.consolidateAfter = "ten minutes";
    expect(() => validateManifest(wrong)).toThrow(/consolidateAfter must match pattern/);
    const open = nodePool();
    (open.spec as { limits: Record<string, unknown> }).limits = { "nvidia.com/gpu": 3, cpu: "100" };
    expect(() => validateManifest(open)).not.toThrow();
  });
});
