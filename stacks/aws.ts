import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import {
  Cluster,
  DnsAlias,
  GpuNodePool,
  GpuPoolShape,
  KARPENTER_DISCOVERY_TAG,
  Karpenter,
  LoadBalancerController,
  Network,
  ProxyImage,
  SYSTEM_NODE_LABELS,
  SelectorTerm,
  SystemNodeScaling,
  Tls,
  VLLM_IMAGE_GIB,
  gpuNodePoolProblems,
  validateClusterArgs,
  validateExistingNetwork,
  validateTlsArgs,
} from "../infra/aws";
import { proxyBuildPaths } from "./buildContext";
import { Settings } from "./settings";
import { ServingOutputs, deployServing } from "./serving";

/** What the aws target exports: the serving stack's outputs plus how to reach the cluster. */
export type AwsOutputs = ServingOutputs & {
  /** Secret; uses `aws eks get-token`, so it works for whoever has AWS access to the cluster. */
  kubeconfig: pulumi.Output<string>;
  clusterName: pulumi.Output<string>;
};

/** Labels of the GPU nodes besides `nvidia.com/gpu.present`, so `kubectl get nodes -l` finds them like the system ones. */
export const GPU_POOL_LABELS: Readonly<Record<string, string>> = { "vllm-auth.dev/pool": "gpu" };

/** The GPU NodePool's shape from the settings: which instances, which capacity, how many GPUs, how much disk. */
export function gpuPoolShape(settings: Settings): GpuPoolShape {
  const s = settings.aws;
  return { instanceTypes: s.gpuInstanceTypes, capacityTypes: s.gpuCapacityTypes, maxGpus: s.maxGpus, diskGiB: s.gpuDiskGiB };
}

/** The system node group's size, as the cluster component spells it. */
export function systemNodeScaling(settings: Settings): SystemNodeScaling {
  const n = settings.aws.systemNodes;
  return { minSize: n.min, desiredSize: n.desired, maxSize: n.max };
}

/** Karpenter's controller replicas: a standby needs a second system node (the chart spreads them over hosts). */
export function karpenterReplicas(settings: Settings): 1 | 2 {
  return settings.aws.systemNodes.desired >= 2 ? 2 : 1;
}

/** The message of whatever `check` throws, or nothing. */
function problemOf(check: () => void): string[] {
  try {
    check();
    return [];
  } catch (e) {
    return [(e as Error).message.replace(/\.$/, "")];
  }
}

/**
 * Every problem with the aws settings, found before any resource exists: the components' own
 * checks plus the cross-checks between settings that no single component sees.
 */
export function awsSettingsProblems(settings: Settings): string[] {
  const s = settings.aws;
  const problems: string[] = [
    ...problemOf(() =>
      validateClusterArgs({
        kubernetesVersion: s.kubernetesVersion,
        subnetIds: [],
        systemInstanceType: s.systemInstanceType,
        systemNodes: systemNodeScaling(settings),
        adminPrincipalArns: s.clusterAdminArns,
      }),
    ),
  ];
  if (s.vpcId && s.publicSubnetIds && s.privateSubnetIds) {
    const network = { vpcId: s.vpcId, publicSubnetIds: s.publicSubnetIds, privateSubnetIds: s.privateSubnetIds };
    problems.push(...problemOf(() => validateExistingNetwork(network)));
  }
  problems.push(...gpuNodePoolProblems(gpuPoolShape(settings)).map((p) => `GPU node pool: ${p}`));
  if (s.gpuDiskGiB < settings.modelCacheGiB + VLLM_IMAGE_GIB) {
    problems.push(
      `gpuDiskGiB ${s.gpuDiskGiB} is less than modelCacheGiB (${settings.modelCacheGiB}) plus about ${VLLM_IMAGE_GIB} GiB ` +
        `for the vLLM image: set gpuDiskGiB to at least ${settings.modelCacheGiB + VLLM_IMAGE_GIB}`,
    );
  }
  const surge = (settings.autoscaling.maxReplicas + 1) * settings.gpusPerReplica;
  if (s.maxGpus < surge) {
    problems.push(
      `maxGpus ${s.maxGpus} leaves no GPU for a rolling update at maxReplicas: (maxReplicas + 1) x gpusPerReplica = ${surge}; ` +
        `set maxGpus to at least ${surge}`,
    );
  }
  const tls = settings.tls;
  if (tls) problems.push(...problemOf(() => validateTlsArgs(tls)));
  return problems;
}

/** Tags on every AWS resource of the stack, so the bill and the console show what belongs together. */
function stackTags(): Record<string, string> {
  return { "vllm-auth:project": pulumi.getProject(), "vllm-auth:stack": pulumi.getStack() };
}

/**
 * The default target: a VPC, an EKS cluster with a system node group, Karpenter with a GPU NodePool,
 * the load balancer controller, the proxy image in ECR and (optionally) a TLS certificate and DNS
 * name, then the serving stack on top.
 */
export function deployAws(settings: Settings): AwsOutputs {
  const problems = awsSettingsProblems(settings);
  if (problems.length > 0) throw new Error(`aws target: ${problems.join("; ")}.`);

  const s = settings.aws;
  const tags = stackTags();
  const existing =
    s.vpcId && s.publicSubnetIds && s.privateSubnetIds
      ? { vpcId: s.vpcId, publicSubnetIds: s.publicSubnetIds, privateSubnetIds: s.privateSubnetIds }
      : undefined;

  // One value per stack, made once and kept: Karpenter finds subnets and security groups by tag across
  // the whole region, so a name another stack might share (project and stack) would not do.
  const discovery = new random.RandomId("vllm-karpenter-discovery", { byteLength: 4, prefix: "vllm-" }).hex;

  const network = new Network("vllm", {
    natGateways: s.natGateways,
    ...(existing ? { existing } : { karpenterDiscovery: discovery }),
    tags,
  });
  const cluster = new Cluster("vllm", {
    kubernetesVersion: s.kubernetesVersion,
    subnetIds: network.privateSubnetIds,
    systemInstanceType: s.systemInstanceType,
    systemNodes: systemNodeScaling(settings),
    adminPrincipalArns: s.clusterAdminArns,
    karpenterDiscovery: discovery,
    tags,
  });
  const region = aws.getRegionOutput().region;

  const karpenter = new Karpenter("vllm-karpenter", {
    provider: cluster.provider,
    clusterName: cluster.name,
    clusterArn: cluster.arn,
    region,
    replicas: karpenterReplicas(settings),
    systemNodeSelector: SYSTEM_NODE_LABELS,
    waitFor: [cluster.systemNodeGroup],
    tags,
  });

  const byDiscoveryTag: pulumi.Output<SelectorTerm[]> = discovery.apply((d) => [{ tags: { [KARPENTER_DISCOVERY_TAG]: d } }]);
  const gpu = new GpuNodePool("vllm-gpu", {
    provider: cluster.provider,
    nodeRoleName: karpenter.nodeRoleName,
    ...gpuPoolShape(settings),
    // Subnets of your own VPC are named by ID: the stack does not tag what it does not own.
    subnetSelectorTerms: existing ? existing.privateSubnetIds.map((id) => ({ id })) : byDiscoveryTag,
    securityGroupSelectorTerms: byDiscoveryTag,
    labels: GPU_POOL_LABELS,
    tags,
    dependsOn: [karpenter.release, karpenter.nodeAccess, ...cluster.discoveryTags],
  });

  const loadBalancers = new LoadBalancerController("vllm-lbc", {
    provider: cluster.provider,
    clusterName: cluster.name,
    vpcId: network.vpcId,
    region,
    waitFor: [cluster.systemNodeGroup],
    tags,
  });

  const proxyImage: pulumi.Input<string> =
    settings.proxyImage ??
    new ProxyImage("vllm-proxy", { ...proxyBuildPaths(), tags }).imageRef;

  const tls = settings.tls ? new Tls("vllm-tls", { ...settings.tls, tags }) : undefined;

  const serving = deployServing(settings, {
    provider: cluster.provider,
    proxyImage,
    ...(tls ? { certificateArn: tls.certificateArn } : {}),
    systemNodeSelector: SYSTEM_NODE_LABELS,
    // Karpenter launches a node for the surge pod, so a rollout never lowers the ready replicas.
    rollout: "surge",
    // The NodePool that brings GPU nodes, and the controller whose webhook and NLB the Service needs.
    dependsOn: [gpu.nodePool, loadBalancers.release],
  });

  if (settings.tls?.hostedZoneId) {
    new DnsAlias("vllm-dns", {
      hostedZoneId: settings.tls.hostedZoneId,
      name: settings.tls.domain,
      loadBalancerHostname: serving.loadBalancerHostname,
    });
  }

  return { ...serving, kubeconfig: cluster.kubeconfig, clusterName: cluster.name };
}
