import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { createNodeRole } from "./iam";

/** Arguments of {@link GpuNodePool}. */
export interface GpuNodePoolArgs {
  /** The EKS cluster the nodes join. */
  readonly clusterName: pulumi.Input<string>;
  /** Kubernetes minor version of the nodes; keep it equal to the cluster's. */
  readonly kubernetesVersion: string;
  /** Private subnets for the nodes; more zones give more chances of GPU capacity. */
  readonly subnetIds: pulumi.Input<pulumi.Input<string>[]>;
  /** x86_64 NVIDIA instance types, most preferred first, for example `["g6.xlarge", "g5.xlarge"]`. */
  readonly instanceTypes: readonly string[];
  /** `ON_DEMAND` or `SPOT` (cheaper, can be reclaimed with two minutes' notice). */
  readonly capacityType: "ON_DEMAND" | "SPOT";
  readonly minSize: number;
  readonly desiredSize: number;
  readonly maxSize: number;
  /** Size of the Bottlerocket data volume (`/dev/xvdb`) that holds images, emptyDirs and the model cache. */
  readonly diskGiB: number;
  /** Extra Kubernetes node labels, on top of `nvidia.com/gpu.present=true`. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Resources the node group waits for, such as the cluster's CNI add-on (`Cluster.nodePrerequisites`). */
  readonly waitFor?: readonly pulumi.Resource[];
  /** Tags for every AWS resource created. */
  readonly tags?: Readonly<Record<string, string>>;
}

/** The AMI type: Bottlerocket's NVIDIA variant ships the driver and the NVIDIA device plugin. */
export const GPU_AMI_TYPE = "BOTTLEROCKET_x86_64_NVIDIA";

/** Label the serving stack selects GPU nodes by (the name NVIDIA's GPU feature discovery uses). */
export const GPU_NODE_LABELS: Readonly<Record<string, string>> = { "nvidia.com/gpu.present": "true" };

/** Keeps every pod without a matching toleration off the expensive nodes. */
export const GPU_TAINT = { key: "nvidia.com/gpu", value: "true", effect: "NO_SCHEDULE" } as const;

/** Bottlerocket's second volume; the first (`/dev/xvda`) holds only the read-only OS. */
export const BOTTLEROCKET_DATA_DEVICE = "/dev/xvdb";

/** Room the pinned vLLM image takes on the data volume once pulled and unpacked. */
export const VLLM_IMAGE_GIB = 30;

/** x86_64 instance families with NVIDIA GPUs that the Bottlerocket NVIDIA AMIs support. */
export const NVIDIA_X86_FAMILIES: readonly string[] = [
  "g4dn", "g5", "g6", "g6e", "g7e", "gr6", "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "p6-b200", "p6-b300",
];

/** The family part of an instance type: `g6` for `g6.xlarge`. */
export function instanceFamily(instanceType: string): string {
  return instanceType.split(".")[0];
}

/** Checks one pool's arguments; every message names the pool and says what to change. */
export function validateGpuNodePoolArgs(pool: string, args: GpuNodePoolArgs): void {
  const problems: string[] = [];
  if (args.instanceTypes.length === 0) problems.push("instanceTypes is empty; list at least one GPU type such as g6.xlarge");
  for (const type of args.instanceTypes) {
    if (!/^[a-z0-9-]+\.[a-z0-9]+$/.test(type)) {
      problems.push(`"${type}" is not an EC2 instance type such as g6.xlarge`);
    } else if (!NVIDIA_X86_FAMILIES.includes(instanceFamily(type))) {
      problems.push(
        `"${type}" is not an x86_64 NVIDIA GPU type that ${GPU_AMI_TYPE} runs on ` +
          `(families: ${NVIDIA_X86_FAMILIES.join(", ")})`,
      );
    }
  }
  if (new Set(args.instanceTypes).size !== args.instanceTypes.length) problems.push("instanceTypes lists a type twice");
  const { minSize, desiredSize, maxSize } = args;
  if (![minSize, desiredSize, maxSize].every((n) => Number.isInteger(n) && n >= 0)) {
    problems.push(`minSize/desiredSize/maxSize must be whole numbers >= 0, got ${minSize}/${desiredSize}/${maxSize}`);
  } else if (!(minSize <= desiredSize && desiredSize <= maxSize && maxSize >= 1)) {
    problems.push(`sizes must satisfy minSize <= desiredSize <= maxSize and maxSize >= 1, got ${minSize}/${desiredSize}/${maxSize}`);
  }
  if (!Number.isInteger(args.diskGiB) || args.diskGiB < VLLM_IMAGE_GIB + 20 || args.diskGiB > 16384) {
    problems.push(
      `diskGiB ${args.diskGiB} must be a whole number from ${VLLM_IMAGE_GIB + 20} to 16384: the vLLM image alone ` +
        `takes about ${VLLM_IMAGE_GIB} GiB unpacked, and the model cache lives on the same volume`,
    );
  }
  if (problems.length > 0) throw new Error(`GPU node pool "${pool}": ${problems.join("; ")}.`);
}

/** The launch template's data volume: encrypted gp3, deleted with the node. */
export function dataVolume(diskGiB: number): aws.types.input.ec2.LaunchTemplateBlockDeviceMapping {
  return {
    deviceName: BOTTLEROCKET_DATA_DEVICE,
    ebs: { volumeSize: diskGiB, volumeType: "gp3", encrypted: "true", deleteOnTermination: "true" },
  };
}

/**
 * An EKS managed node group of NVIDIA GPU nodes on Bottlerocket, labelled and tainted for GPU pods,
 * with its own node role and a data volume sized for the vLLM image and the model.
 */
export class GpuNodePool extends pulumi.ComponentResource {
  public readonly nodeGroup: aws.eks.NodeGroup;
  public readonly nodeGroupName: pulumi.Output<string>;
  public readonly nodeRoleArn: pulumi.Output<string>;

  constructor(name: string, args: GpuNodePoolArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:GpuNodePool", name, {}, opts);
    validateGpuNodePoolArgs(name, args);

    const self = { parent: this };
    const tags = args.tags ?? {};
    const nodeRole = createNodeRole(`${name}-role`, this, tags);

    const launchTemplate = new aws.ec2.LaunchTemplate(
      `${name}-lt`,
      {
        description: `GPU nodes of ${name}: Bottlerocket data volume sized for vLLM and the model`,
        blockDeviceMappings: [dataVolume(args.diskGiB)],
        // Hop limit 1: pods cannot reach instance metadata and borrow the node role.
        metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
        tagSpecifications: ["instance", "volume"].map((resourceType) => ({
          resourceType,
          tags: { ...tags, Name: `${name}-gpu-node` },
        })),
        updateDefaultVersion: true,
        tags,
      },
      self,
    );

    this.nodeGroup = new aws.eks.NodeGroup(
      `${name}-ng`,
      {
        clusterName: args.clusterName,
        version: args.kubernetesVersion,
        nodeRoleArn: nodeRole.role.arn,
        subnetIds: args.subnetIds,
        amiType: GPU_AMI_TYPE,
        capacityType: args.capacityType,
        instanceTypes: [...args.instanceTypes],
        launchTemplate: { id: launchTemplate.id, version: launchTemplate.latestVersion.apply(String) },
        scalingConfig: { minSize: args.minSize, desiredSize: args.desiredSize, maxSize: args.maxSize },
        // One node at a time: a replica is down for minutes while a new node pulls the image and model.
        updateConfig: { maxUnavailable: 1 },
        labels: { ...args.labels, ...GPU_NODE_LABELS },
        taints: [{ ...GPU_TAINT }],
        tags,
      },
      { parent: this, dependsOn: [...nodeRole.attachments, ...(args.waitFor ?? [])] },
    );

    this.nodeGroupName = this.nodeGroup.nodeGroupName;
    this.nodeRoleArn = nodeRole.role.arn;
    this.registerOutputs({ nodeGroupName: this.nodeGroupName, nodeRoleArn: this.nodeRoleArn });
  }
}
