import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

/** A capacity type Karpenter may launch GPU nodes with (the `karpenter.sh/capacity-type` label's values). */
export type GpuCapacityType = "spot" | "on-demand";

/** One selector term of an EC2NodeClass: resources carrying all these tags, or the resource with this ID. */
export type SelectorTerm = { readonly tags: Readonly<Record<string, string>> } | { readonly id: string };

/** Arguments of {@link GpuNodePool}. */
export interface GpuNodePoolArgs {
  /** Provider for the cluster Karpenter runs in. */
  readonly provider: k8s.Provider;
  /** The node role Karpenter turns into an instance profile (`Karpenter.nodeRoleName`). */
  readonly nodeRoleName: pulumi.Input<string>;
  /** x86_64 NVIDIA instance types Karpenter may launch, for example `["g6.xlarge", "g5.xlarge"]`. */
  readonly instanceTypes: readonly string[];
  /** `spot`, `on-demand` or both: with both, Karpenter launches spot and falls back to on-demand. */
  readonly capacityTypes: readonly GpuCapacityType[];
  /** The most GPUs the pool may run at once; Karpenter launches nothing beyond it. */
  readonly maxGpus: number;
  /** Size of the Bottlerocket data volume (`/dev/xvdb`) that holds images, emptyDirs and the model cache. */
  readonly diskGiB: number;
  /** Subnets the nodes may launch in: by discovery tag, or by ID for subnets this stack does not own. */
  readonly subnetSelectorTerms: pulumi.Input<readonly SelectorTerm[]>;
  /** Security groups the nodes get: the cluster security group, by its discovery tag. */
  readonly securityGroupSelectorTerms: pulumi.Input<readonly SelectorTerm[]>;
  /** Extra node labels, on top of {@link GPU_NODE_LABELS}. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Tags Karpenter puts on the instances, volumes and launch templates it creates. */
  readonly tags?: Readonly<Record<string, string>>;
  /** What must exist first: Karpenter's release (its CRDs and controller) and the node role's access entry. */
  readonly dependsOn?: readonly pulumi.Resource[];
}

/** Name of both the NodePool and its EC2NodeClass. */
export const GPU_POOL_NAME = "gpu";

/**
 * Bottlerocket pinned by alias, never `latest` (a new release would drift every node). Karpenter maps
 * `bottlerocket@<version>` to the `aws-k8s-<k8s>-nvidia` SSM path for GPU instance types
 * (karpenter-provider-aws `pkg/providers/amifamily/bottlerocket.go`, VariantNvidia). v1.66.0
 * (2026-09-22) has aws-k8s-1.34 to 1.37 NVIDIA variants, all on the R580 driver (bottlerocket #4737).
 */
export const BOTTLEROCKET_ALIAS = "bottlerocket@v1.66.0";

/** Label the serving stack may select GPU nodes by (the name NVIDIA's GPU feature discovery uses). */
export const GPU_NODE_LABELS: Readonly<Record<string, string>> = { "nvidia.com/gpu.present": "true" };

/** Keeps every pod without a matching toleration off the expensive nodes (Kubernetes spelling). */
export const GPU_TAINT = { key: "nvidia.com/gpu", value: "true", effect: "NoSchedule" } as const;

/** Bottlerocket's second volume; the first (`/dev/xvda`) holds only the read-only OS. */
export const BOTTLEROCKET_DATA_DEVICE = "/dev/xvdb";
/** The root volume Karpenter 1.15 gives Bottlerocket by default (nodeclasses.md, blockDeviceMappings). */
export const BOTTLEROCKET_ROOT_GIB = 6;

/** Room the pinned vLLM image takes on the data volume once pulled and unpacked. */
export const VLLM_IMAGE_GIB = 30;

/**
 * How long an empty GPU node waits before Karpenter removes it. A replica that KEDA removes and wants
 * back within 10 minutes (a lull between bursts) lands on a node that is up and has the image, which
 * saves the node launch and the 10 GB image pull; an empty g6.xlarge costs at most $0.13 for the wait.
 */
export const CONSOLIDATE_AFTER = "10m";

/**
 * x86_64 instance families with NVIDIA GPUs that the Bottlerocket NVIDIA variants run and the pinned
 * vLLM image supports. Not p3/p3dn: V100 is Volta, which CUDA 13 (vLLM's image since v0.20) dropped.
 */
export const NVIDIA_X86_FAMILIES: readonly string[] = [
  "g4dn", "g5", "g6", "g6e", "g7e", "gr6", "p4d", "p4de", "p5", "p5e", "p5en", "p6-b200", "p6-b300",
];

/** The family part of an instance type: `g6` for `g6.xlarge`. */
export function instanceFamily(instanceType: string): string {
  return instanceType.split(".")[0];
}

/** The inputs the checks read, so the config layer can check before any resource exists. */
export type GpuPoolShape = Pick<GpuNodePoolArgs, "instanceTypes" | "capacityTypes" | "maxGpus" | "diskGiB">;

/** Every problem with the pool's shape, one sentence each, each saying what to change. */
export function gpuNodePoolProblems(args: GpuPoolShape): string[] {
  const problems: string[] = [];
  if (args.instanceTypes.length === 0) problems.push("instanceTypes is empty; list at least one GPU type such as g6.xlarge");
  for (const type of args.instanceTypes) {
    if (!/^[a-z0-9-]+\.[a-z0-9]+$/.test(type)) {
      problems.push(`"${type}" is not an EC2 instance type such as g6.xlarge`);
    } else if (!NVIDIA_X86_FAMILIES.includes(instanceFamily(type))) {
      problems.push(`"${type}" is not an x86_64 NVIDIA GPU type that Bottlerocket's NVIDIA variant and the vLLM image run on (families: ${NVIDIA_X86_FAMILIES.join(", ")})`);
    }
  }
  if (new Set(args.instanceTypes).size !== args.instanceTypes.length) problems.push("instanceTypes lists a type twice");
  if (args.capacityTypes.length === 0) problems.push('capacityTypes is empty; write ["spot", "on-demand"], ["on-demand"] or ["spot"]');
  for (const c of args.capacityTypes) {
    if (c !== "spot" && c !== "on-demand") problems.push(`capacity type "${String(c)}" is neither "spot" nor "on-demand"`);
  }
  if (new Set(args.capacityTypes).size !== args.capacityTypes.length) problems.push("capacityTypes lists a type twice");
  if (!Number.isInteger(args.maxGpus) || args.maxGpus < 1) problems.push(`maxGpus ${args.maxGpus} must be a whole number >= 1`);
  if (!Number.isInteger(args.diskGiB) || args.diskGiB < VLLM_IMAGE_GIB + 20 || args.diskGiB > 16384) {
    problems.push(
      `diskGiB ${args.diskGiB} must be a whole number from ${VLLM_IMAGE_GIB + 20} to 16384: the vLLM image alone ` +
        `takes about ${VLLM_IMAGE_GIB} GiB unpacked, and the model cache lives on the same volume`,
    );
  }
  return problems;
}

/** Throws one error naming every problem with the pool's shape. */
export function validateGpuNodePoolArgs(args: GpuPoolShape): void {
  const problems = gpuNodePoolProblems(args);
  if (problems.length > 0) throw new Error(`GPU node pool: ${problems.join("; ")}.`);
}

/** An EBS volume of an EC2NodeClass: encrypted gp3, deleted with the node. */
function volume(deviceName: string, gib: number) {
  return { deviceName, ebs: { volumeSize: `${gib}Gi`, volumeType: "gp3", encrypted: true, deleteOnTermination: true } };
}

/** The data volume (`/dev/xvdb`) that `gpuDiskGiB` sizes: images, emptyDirs and the model cache. */
export function dataVolume(diskGiB: number): ReturnType<typeof volume> {
  return volume(BOTTLEROCKET_DATA_DEVICE, diskGiB);
}

/** The EC2NodeClass spec: how a GPU node is launched. */
export function ec2NodeClassSpec(args: {
  nodeRoleName: string;
  subnetSelectorTerms: readonly SelectorTerm[];
  securityGroupSelectorTerms: readonly SelectorTerm[];
  diskGiB: number;
  tags: Readonly<Record<string, string>>;
}): Record<string, unknown> {
  return {
    amiSelectorTerms: [{ alias: BOTTLEROCKET_ALIAS }],
    role: args.nodeRoleName,
    subnetSelectorTerms: args.subnetSelectorTerms.map((t) => ({ ...t })),
    securityGroupSelectorTerms: args.securityGroupSelectorTerms.map((t) => ({ ...t })),
    // Hop limit 1: pods cannot reach instance metadata and borrow the node role.
    metadataOptions: { httpEndpoint: "enabled", httpProtocolIPv6: "disabled", httpPutResponseHopLimit: 1, httpTokens: "required" },
    // Listing one device replaces all of Karpenter's defaults, so the OS volume is listed at its default size.
    blockDeviceMappings: [volume("/dev/xvda", BOTTLEROCKET_ROOT_GIB), dataVolume(args.diskGiB)],
    tags: { ...args.tags },
  };
}

/** The NodePool spec: which GPU nodes Karpenter may launch, how many GPUs at most, and when it removes them. */
export function nodePoolSpec(args: {
  instanceTypes: readonly string[];
  capacityTypes: readonly GpuCapacityType[];
  maxGpus: number;
  labels?: Readonly<Record<string, string>>;
}): Record<string, unknown> {
  return {
    template: {
      metadata: { labels: { ...args.labels, ...GPU_NODE_LABELS } },
      spec: {
        nodeClassRef: { group: "karpenter.k8s.aws", kind: "EC2NodeClass", name: GPU_POOL_NAME },
        taints: [{ ...GPU_TAINT }],
        requirements: [
          { key: "node.kubernetes.io/instance-type", operator: "In", values: [...args.instanceTypes] },
          // Both allowed: Karpenter prefers spot and falls back to on-demand when EC2 has none (scheduling.md, Capacity Type).
          { key: "karpenter.sh/capacity-type", operator: "In", values: [...args.capacityTypes] },
          { key: "kubernetes.io/arch", operator: "In", values: ["amd64"] },
          { key: "kubernetes.io/os", operator: "In", values: ["linux"] },
        ],
        // Expiration is forceful: it drains a serving node whatever the budgets say (disruption.md, Expiration).
        expireAfter: "Never",
      },
    },
    // A bug or a flood of requests cannot buy more GPUs than this.
    limits: { "nvidia.com/gpu": args.maxGpus },
    disruption: {
      consolidationPolicy: "WhenEmpty",
      consolidateAfter: CONSOLIDATE_AFTER,
      budgets: [
        { nodes: "100%", reasons: ["Empty"] },
        // A serving node is never replaced for drift (a new AMI pin): it changes when its replica moves.
        { nodes: "0", reasons: ["Drifted"] },
      ],
    },
  };
}

/**
 * GPU capacity from Karpenter: an EC2NodeClass (Bottlerocket NVIDIA, data volume sized for the vLLM
 * image and the model, IMDSv2 with hop limit 1) and a NodePool of tainted, labelled GPU nodes, spot
 * with on-demand fallback, capped at `maxGpus`, removed only when empty.
 */
export class GpuNodePool extends pulumi.ComponentResource {
  public readonly nodeClass: k8s.apiextensions.CustomResource;
  public readonly nodePool: k8s.apiextensions.CustomResource;

  constructor(name: string, args: GpuNodePoolArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:GpuNodePool", name, {}, opts);
    validateGpuNodePoolArgs(args);
    const tags = args.tags ?? {};
    const after = { parent: this, provider: args.provider, dependsOn: [...(args.dependsOn ?? [])] };

    this.nodeClass = new k8s.apiextensions.CustomResource(
      `${name}-nodeclass`,
      {
        apiVersion: "karpenter.k8s.aws/v1",
        kind: "EC2NodeClass",
        metadata: { name: GPU_POOL_NAME },
        spec: pulumi
          .all([args.nodeRoleName, args.subnetSelectorTerms, args.securityGroupSelectorTerms])
          .apply(([nodeRoleName, subnetSelectorTerms, securityGroupSelectorTerms]) =>
            ec2NodeClassSpec({ nodeRoleName, subnetSelectorTerms, securityGroupSelectorTerms, diskGiB: args.diskGiB, tags }),
          ),
      },
      after,
    );
    this.nodePool = new k8s.apiextensions.CustomResource(
      `${name}-nodepool`,
      {
        apiVersion: "karpenter.sh/v1",
        kind: "NodePool",
        metadata: { name: GPU_POOL_NAME },
        spec: nodePoolSpec(args),
      },
      { ...after, dependsOn: [...after.dependsOn, this.nodeClass] },
    );
    this.registerOutputs({});
  }
}
