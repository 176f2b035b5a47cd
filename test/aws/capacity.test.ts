import * as pulumi from "@pulumi/pulumi";
import type { ServingDeps, ServingOutputs } from "../../stacks/serving";
import type { Settings } from "../../stacks/settings";
import { valueOf } from "../pulumi/harness";
import { RecordingMocks, installMocks, settle } from "./mocks";
import { settingsFor } from "./settings";

/** The serving stack is another component's job: here it only records what the aws target hands it. */
const servingCalls: { settings: Settings; deps: ServingDeps }[] = [];
jest.mock(
  "../../stacks/serving",
  () => ({
    deployServing: (settings: Settings, deps: ServingDeps): ServingOutputs => {
      servingCalls.push({ settings, deps });
      const out = pulumi.output;
      return {
        endpoint: out("lb.example.com"),
        url: out("http://lb.example.com"),
        openaiBaseUrl: out("http://lb.example.com/v1"),
        loadBalancerHostname: out("lb.example.com"),
        model: settings.model,
        namespace: out(settings.namespace),
      } as unknown as ServingOutputs;
    },
  }),
  { virtual: true },
);

import { awsSettingsProblems, deployAws } from "../../stacks/aws";

const T = {
  subnet: "aws:ec2/subnet:Subnet",
  tag: "aws:ec2/tag:Tag",
  addon: "aws:eks/addon:Addon",
  nodeGroup: "aws:eks/nodeGroup:NodeGroup",
  launchTemplate: "aws:ec2/launchTemplate:LaunchTemplate",
  release: "kubernetes:helm.sh/v3:Release",
  nodePool: "kubernetes:karpenter.sh/v1:NodePool",
  nodeClass: "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass",
} as const;

type Inputs = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function run(settings: Settings): Promise<{ mocks: RecordingMocks; deps: ServingDeps }> {
  const mocks = await installMocks();
  servingCalls.length = 0;
  const outputs = deployAws(settings);
  await valueOf(outputs.kubeconfig);
  await settle(mocks);
  expect(servingCalls).toHaveLength(1);
  return { mocks, deps: servingCalls[0].deps };
}

const inputs = (mocks: RecordingMocks, type: string, name: string): Inputs => mocks.named(type, name).inputs;
const DISCOVERY = { "karpenter.sh/discovery": "vllm-0a1b2c3d" };

describe("aws target GPU capacity, default settings", () => {
  let mocks: RecordingMocks;
  let deps: ServingDeps;
  beforeAll(async () => {
    ({ mocks, deps } = await run(settingsFor()));
  });

  it("makes no GPU node group: the system node group is the only one, sized 2/2/3", () => {
    expect(mocks.ofType(T.nodeGroup).map((g) => g.name)).toEqual(["vllm-system"]);
    expect(mocks.ofType(T.launchTemplate)).toHaveLength(0);
    expect(inputs(mocks, T.nodeGroup, "vllm-system").scalingConfig).toEqual({ minSize: 2, desiredSize: 2, maxSize: 3 });
  });

  it("has Karpenter launch up to maxGpus GPUs of the configured types, spot first, with on-demand allowed", () => {
    const spec = inputs(mocks, T.nodePool, "vllm-gpu-nodepool").spec;
    expect(spec.limits).toEqual({ "nvidia.com/gpu": 3 });
    const requirements = Object.fromEntries(spec.template.spec.requirements.map((r: Inputs) => [r.key, r.values]));
    expect(requirements["node.kubernetes.io/instance-type"]).toEqual(["g6.xlarge", "g5.xlarge"]);
    expect(requirements["karpenter.sh/capacity-type"]).toEqual(["spot", "on-demand"]);
    expect(spec.template.metadata.labels).toEqual({ "vllm-auth.dev/pool": "gpu", "nvidia.com/gpu.present": "true" });
  });

  it("finds subnets and the cluster security group by the stack's discovery tag, which the network and cluster put on them", () => {
    const nodeClass = inputs(mocks, T.nodeClass, "vllm-gpu-nodeclass").spec;
    expect(nodeClass.subnetSelectorTerms).toEqual([{ tags: DISCOVERY }]);
    expect(nodeClass.securityGroupSelectorTerms).toEqual([{ tags: DISCOVERY }]);
    const privateSubnets = mocks.ofType(T.subnet).filter((s) => s.name.startsWith("vllm-private-"));
    expect(privateSubnets).toHaveLength(3);
    for (const s of privateSubnets) expect(s.inputs.tags).toMatchObject(DISCOVERY);
    for (const s of mocks.ofType(T.subnet).filter((s) => s.name.startsWith("vllm-public-"))) {
      expect(s.inputs.tags).not.toHaveProperty("karpenter.sh/discovery");
    }
    expect(inputs(mocks, T.tag, "vllm-sg-discovery")).toMatchObject({
      resourceId: expect.stringMatching(/^sg-/),
      key: "karpenter.sh/discovery",
      value: "vllm-0a1b2c3d",
    });
    expect(mocks.waitsFor(`${T.nodeClass}::vllm-gpu-nodeclass`, `${T.tag}::vllm-sg-discovery`)).toBe(true);
  });

  it("sizes the GPU nodes' data volume from gpuDiskGiB", () => {
    const devices = inputs(mocks, T.nodeClass, "vllm-gpu-nodeclass").spec.blockDeviceMappings;
    expect(devices[1]).toEqual({ deviceName: "/dev/xvdb", ebs: { volumeSize: "100Gi", volumeType: "gp3", encrypted: true, deleteOnTermination: true } });
  });

  it("installs Karpenter on the cluster it runs in, two replicas on the system nodes, after the system node group", () => {
    const release = mocks.named(T.release, "vllm-karpenter-release");
    expect(release.provider).toContain("::vllm-k8s::");
    expect(release.inputs.values).toMatchObject({
      settings: { clusterName: "vllm-eks-c0ffee" },
      replicas: 2,
      nodeSelector: { "vllm-auth.dev/pool": "system" },
    });
    expect(mocks.waitsFor(`${T.release}::vllm-karpenter-crd`, `${T.nodeGroup}::vllm-system`)).toBe(true);
    expect(mocks.waitsFor(`${T.release}::vllm-karpenter-release`, `${T.nodeGroup}::vllm-system`)).toBe(true);
  });

  it("scopes the controller's permissions to the cluster's ARN", () => {
    const policy = JSON.parse(inputs(mocks, "aws:iam/policy:Policy", "vllm-karpenter-KarpenterControllerEKSIntegrationPolicy").policy);
    expect(policy.Statement[0].Resource).toBe("arn:aws:eks:us-east-1:123456789012:cluster/vllm-eks-c0ffee");
  });

  it("turns on network policy enforcement in the VPC CNI add-on, and only there", () => {
    const addons = Object.fromEntries(mocks.ofType(T.addon).map((a) => [a.inputs.addonName, a.inputs.configurationValues]));
    expect(JSON.parse(addons["vpc-cni"])).toEqual({ enableNetworkPolicy: "true" });
    for (const name of ["kube-proxy", "coredns", "eks-pod-identity-agent"]) expect(addons[name]).toBeUndefined();
  });

  it("hands the serving stack the NodePool to wait for, so replicas are created once GPU nodes can come", async () => {
    const waited = await Promise.all((deps.dependsOn ?? []).map((r) => valueOf((r as pulumi.Resource).urn)));
    expect(waited.some((u) => u.endsWith("::vllm-gpu-nodepool"))).toBe(true);
    expect(waited.some((u) => u.endsWith("::vllm-lbc-release"))).toBe(true);
  });
});

describe("aws target GPU capacity in your own VPC, on-demand only, one system node", () => {
  const privateIds = ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"];
  let mocks: RecordingMocks;
  beforeAll(async () => {
    ({ mocks } = await run(
      settingsFor(
        {},
        {
          vpcId: "vpc-0a1b2c3d4e5f60718",
          publicSubnetIds: ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
          privateSubnetIds: privateIds,
          gpuCapacityTypes: ["on-demand"],
          gpuInstanceTypes: ["g6.xlarge"],
          maxGpus: 5,
          gpuDiskGiB: 150,
          systemNodes: { min: 1, desired: 1, max: 2 },
        },
      ),
    ));
  });

  it("names your private subnets by ID instead of tagging them, and still finds the cluster security group by tag", () => {
    const spec = inputs(mocks, T.nodeClass, "vllm-gpu-nodeclass").spec;
    expect(spec.subnetSelectorTerms).toEqual(privateIds.map((id) => ({ id })));
    expect(spec.securityGroupSelectorTerms).toEqual([{ tags: DISCOVERY }]);
    expect(mocks.ofType(T.subnet)).toHaveLength(0);
    expect(mocks.ofType(T.tag).map((t) => t.name)).toEqual(["vllm-sg-discovery"]);
  });

  it("launches only on-demand, caps at maxGpus, sizes the disk, and runs one Karpenter controller on the one system node", () => {
    const spec = inputs(mocks, T.nodePool, "vllm-gpu-nodepool").spec;
    expect(spec.limits).toEqual({ "nvidia.com/gpu": 5 });
    const capacity = spec.template.spec.requirements.find((r: Inputs) => r.key === "karpenter.sh/capacity-type");
    expect(capacity.values).toEqual(["on-demand"]);
    expect(inputs(mocks, T.nodeClass, "vllm-gpu-nodeclass").spec.blockDeviceMappings[1].ebs.volumeSize).toBe("150Gi");
    expect(inputs(mocks, T.release, "vllm-karpenter-release").values.replicas).toBe(1);
  });
});

describe("aws target GPU checks, before anything is created", () => {
  it("names every problem with the GPU pool and the disk, with what to write", () => {
    const settings = settingsFor({ modelCacheGiB: 80 }, { gpuInstanceTypes: ["g6.xlarge", "m5.xlarge"], gpuCapacityTypes: [], maxGpus: 2 });
    expect(awsSettingsProblems(settings)).toEqual([
      expect.stringMatching(/^GPU node pool: "m5\.xlarge" is not an x86_64 NVIDIA GPU type/),
      'GPU node pool: capacityTypes is empty; write ["spot", "on-demand"], ["on-demand"] or ["spot"]',
      "gpuDiskGiB 100 is less than modelCacheGiB (80) plus about 30 GiB for the vLLM image: set gpuDiskGiB to at least 110",
      "maxGpus 2 leaves no GPU for a rolling update at maxReplicas: (maxReplicas + 1) x gpusPerReplica = 3; set maxGpus to at least 3",
    ]);
  });
});
