import { DEFINITIONS, PolicyDefinition } from "../../infra/policy/policies";
import { ResourceInput } from "../../infra/policy/values";
import { AWS_MOCKS } from "../aws/mocks";
import { AWS_SECRET_KEYS, awsConfig } from "../aws/settings";
import { Diagnostic, PackServer } from "./pack-server";
import { existingConfig, Recorded, reveal, runProgram, StackConfig } from "../pulumi/harness";

/** Every resource of a run as a policy receives it: type, name and plain (unwrapped) inputs. */
type Resources = readonly ResourceInput[];

function asInputs(recorded: readonly Recorded[]): Resources {
  return recorded.map((r) => ({
    type: r.type,
    name: r.name,
    urn: `urn:pulumi:dev::vllm-auth::${r.type}::${r.name}`,
    props: reveal(r.inputs) as Record<string, unknown>,
  }));
}

async function existingRun(extra: StackConfig = {}, secrets: readonly string[] = []): Promise<Resources> {
  const run = await runProgram(existingConfig(extra), ["vllm-auth:hfToken", ...secrets]);
  return asInputs(run.resources);
}

/** The whole program for the aws target, with the AWS provider functions answered by test/aws/mocks.ts. */
async function awsRun(extra: StackConfig = {}): Promise<Resources> {
  const run = await runProgram(awsConfig(extra), AWS_SECRET_KEYS, AWS_MOCKS);
  return asInputs(run.resources);
}

function findings(definition: PolicyDefinition, resources: Resources): string[] {
  const check = definition.check;
  return check.kind === "stack"
    ? check.run(resources).map((f) => f.message)
    : resources.flatMap((r) => check.run(r).map((m) => `${r.type} ${r.name ?? ""}: ${m}`));
}

const mandatory = DEFINITIONS.filter((d) => d.enforcementLevel === "mandatory");
const byName = (name: string): PolicyDefinition => {
  const found = DEFINITIONS.find((d) => d.name === name);
  if (!found) throw new Error(`no policy ${name}`);
  return found;
};

function ofType(resources: Resources, type: string): ResourceInput[] {
  return resources.filter((r) => r.type === type);
}

/** The fields the negative controls below change. */
interface ServiceProps {
  spec: { type?: string; selector: Record<string, string>; ports: { targetPort?: number | string }[]; loadBalancerSourceRanges?: string[] };
}
interface DeploymentProps {
  spec: { template: { spec: { containers: { name: string; env?: { name: string; value?: string }[] }[] } } };
}
interface NetworkPolicyProps {
  spec: { ingress: { from?: unknown[]; ports?: unknown[] }[] };
}

const SERVICE = "kubernetes:core/v1:Service";
const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
const NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy";

/** The object's `metadata.name`. */
const objectName = (r: ResourceInput): string => String((r.props.metadata as { name?: unknown } | undefined)?.name);

/** A copy of the run with the object of `type` named `name` changed, to show the checks read the program's real shapes. */
function mutate<T>(resources: Resources, type: string, name: string, change: (props: T) => void): Resources {
  let done = false;
  const changed = resources.map((r) => {
    if (done || r.type !== type || objectName(r) !== name) return r;
    done = true;
    const props = structuredClone(r.props);
    change(props as unknown as T);
    return { ...r, props };
  });
  if (!done) throw new Error(`no ${type} named ${name} to change`);
  return changed;
}

const cases: readonly [string, () => Promise<Resources>, boolean][] = [
  ["existing target, plain HTTP, default allowedCidrs", () => existingRun(), true],
  [
    "existing target, TLS with the 308 redirect, narrowed allowedCidrs",
    () =>
      existingRun({
        "vllm-auth:domain": "llm.example.com",
        "vllm-auth:certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789",
        "vllm-auth:allowedCidrs": JSON.stringify(["203.0.113.0/24"]),
      }),
    false,
  ],
  [
    "existing target, proxy image built from proxy/ and pushed",
    () =>
      existingRun(
        { "vllm-auth:proxyImage": "", "vllm-auth:proxyRegistry": "registry.example.com/team/", "vllm-auth:kubeconfig": "apiVersion: v1\nkind: Config\n" },
        ["vllm-auth:kubeconfig"],
      ),
    true,
  ],
  ["aws target, defaults (VPC, EKS, GPU node group, image built and pushed to ECR)", () => awsRun(), true],
  [
    "existing target, named keys with limits (Valkey and its policy), scale to zero",
    () =>
      existingRun({
        "vllm-auth:apiKeys": JSON.stringify([{ name: "alice" }, { name: "ci-bot", rpm: 60 }]),
        "vllm-auth:minReplicas": "0",
        "vllm-auth:maxReplicas": "2",
        "vllm-auth:allowedCidrs": JSON.stringify(["203.0.113.0/24"]),
      }),
    false,
  ],
  [
    "aws target, Route 53 TLS, spot GPU nodes, prebuilt proxy",
    () =>
      awsRun({
        "vllm-auth:domain": "llm.example.com",
        "vllm-auth:hostedZoneId": "Z0123456789ABCDEFGHIJ",
        "vllm-auth:proxyImage": "ghcr.io/acme/vllm-auth-proxy:0.1.0",
        "vllm-auth:gpuCapacityTypes": '["spot"]',
        "vllm-auth:allowedCidrs": JSON.stringify(["198.51.100.0/24"]),
      }),
    false,
  ],
];

describe.each(cases)("the real program under mocks: %s", (_label, run, openToAll) => {
  let resources: Resources = [];
  beforeAll(async () => {
    resources = await run();
  }, 60_000);

  it("creates what the policies are about: the replicas with their sidecar, the gateways, the LoadBalancer, the network policies", () => {
    const containers = (name: string) =>
      (ofType(resources, DEPLOYMENT).find((d) => objectName(d) === name)?.props as unknown as DeploymentProps).spec.template.spec.containers.map((c) => c.name);
    expect(containers("vllm").sort()).toEqual(["proxy", "vllm"]);
    expect(containers("vllm-gateway")).toEqual(["gateway"]);
    const services = ofType(resources, SERVICE);
    expect(services.map((s) => (s.props as { spec: { type: string } }).spec.type)).toContain("LoadBalancer");
    const policies = ofType(resources, NETWORK_POLICY).map(objectName).sort();
    const valkey = ofType(resources, DEPLOYMENT).some((d) => objectName(d) === "vllm-valkey");
    expect(policies).toEqual(valkey ? ["vllm-gateway", "vllm-replicas", "vllm-valkey"] : ["vllm-gateway", "vllm-replicas"]);
  });

  it.each(mandatory.map((d) => [d.name, d] as const))("passes the mandatory policy %s", (_name, definition) => {
    expect(findings(definition, resources)).toEqual([]);
  });

  it(`${openToAll ? "warns" : "does not warn"} that the load balancer is open to the whole internet`, () => {
    expect(findings(byName("load-balancer-source-ranges-not-open"), resources)).toHaveLength(openToAll ? 1 : 0);
  });

  it("fails the exposure, sidecar, isolation and source-range policies once the real objects are broken", () => {
    const exposed = mutate<ServiceProps>(resources, SERVICE, "vllm-auth", (p) => {
      for (const port of p.spec.ports) port.targetPort = "metrics";
    });
    expect(findings(byName("vllm-port-not-exposed"), exposed).length).toBeGreaterThan(0);
    // The replicas' headless Service turned into a load balancer: a replica faces the internet.
    const replicasPublic = mutate<ServiceProps>(resources, SERVICE, "vllm-replicas", (p) => {
      p.spec.type = "LoadBalancer";
    });
    expect(findings(byName("vllm-port-not-exposed"), replicasPublic).join("\n")).toMatch(/selects the vLLM replicas/);
    const alone = mutate<DeploymentProps>(resources, DEPLOYMENT, "vllm", (p) => {
      p.spec.template.spec.containers = p.spec.template.spec.containers.filter((c) => c.name !== "proxy");
    });
    expect(findings(byName("vllm-loopback-with-auth-proxy"), alone)).toHaveLength(1);
    const keyed = mutate<DeploymentProps>(resources, DEPLOYMENT, "vllm", (p) => {
      p.spec.template.spec.containers.find((c) => c.name === "proxy")!.env!.push({ name: "KEYS_FILE", value: "/etc/vllm-auth/keys/keys.json" });
    });
    expect(findings(byName("vllm-loopback-with-auth-proxy"), keyed)).toHaveLength(1);
    const unguarded = resources.filter((r) => !(r.type === NETWORK_POLICY && objectName(r) === "vllm-replicas"));
    expect(findings(byName("replicas-admit-only-gateways"), unguarded)).toHaveLength(1);
    const widened = mutate<NetworkPolicyProps>(resources, NETWORK_POLICY, "vllm-replicas", (p) => {
      delete p.spec.ingress[0]!.from;
    });
    expect(findings(byName("replicas-admit-only-gateways"), widened)).toHaveLength(1);
    const unlimited = mutate<ServiceProps>(resources, SERVICE, "vllm-auth", (p) => {
      delete p.spec.loadBalancerSourceRanges;
    });
    expect(findings(byName("load-balancer-source-ranges-set"), unlimited)).toHaveLength(1);
  });
});

describe("GPU node groups of the aws target", () => {
  let resources: Resources = [];
  beforeAll(async () => {
    resources = await awsRun({ "vllm-auth:gpuCapacityTypes": '["spot"]' });
  }, 60_000);

  it("are tainted, and the policy would catch one that is not", () => {
    const groups = ofType(resources, "aws:eks/nodeGroup:NodeGroup");
    const gpu = groups.filter((g) => /NVIDIA/.test(String(g.props.amiType)));
    expect(gpu.length).toBe(1);
    expect(groups.length).toBeGreaterThan(gpu.length);
    expect(findings(byName("gpu-limits-and-taints"), resources)).toEqual([]);
    const untainted = resources.map((r) => (r === gpu[0] ? { ...r, props: { ...r.props, taints: [] } } : r));
    expect(findings(byName("gpu-limits-and-taints"), untainted)).toHaveLength(1);
  });
});

describe("the real program's resources, judged by the pack as the CLI runs it", () => {
  let resources: Resources = [];
  let pack: PackServer | undefined;
  beforeAll(async () => {
    resources = await awsRun();
    pack = await PackServer.start();
  }, 60_000);
  afterAll(async () => {
    await pack?.stop();
  });

  it("raises no mandatory violation on any resource, nor on the whole stack", async () => {
    if (!pack) throw new Error("the pack did not start");
    const diagnostics: Diagnostic[] = [];
    for (const resource of resources) diagnostics.push(...(await pack.analyze(resource)));
    diagnostics.push(...(await pack.analyzeStack(resources)));
    expect(diagnostics.filter((d) => d.level === "mandatory")).toEqual([]);
    // The default allowedCidrs is the whole internet: the advisory policy says so, once.
    expect(diagnostics.map((d) => d.policy)).toEqual(["load-balancer-source-ranges-not-open"]);
  });
});
