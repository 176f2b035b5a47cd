import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
  Cluster,
  DnsAlias,
  GpuNodePool,
  GpuNodePoolArgs,
  LoadBalancerController,
  Network,
  ProxyImage,
  SYSTEM_NODE_LABELS,
  SystemNodeScaling,
  Tls,
  VLLM_IMAGE_GIB,
  validateClusterArgs,
  validateExistingNetwork,
  validateGpuNodePoolArgs,
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

/** The GPU node group's name and sizing; Karpenter's NodePool replaces it. */
export type GpuPoolSizing = { readonly name: string } & Pick<
  GpuNodePoolArgs,
  "instanceTypes" | "capacityType" | "minSize" | "desiredSize" | "maxSize" | "diskGiB"
>;

/**
 * One managed GPU node group: a node per replica that always runs (at least one), and up to
 * `maxGpus` worth of nodes; on-demand whenever the config allows it, as a node group has one capacity type.
 */
export function gpuPoolSizing(settings: Settings): GpuPoolSizing {
  const s = settings.aws;
  const running = Math.max(1, settings.autoscaling.minReplicas);
  const maxSize = Math.max(running, Math.floor(s.maxGpus / Math.max(1, settings.gpusPerReplica)));
  return {
    name: "gpu",
    instanceTypes: s.gpuInstanceTypes,
    capacityType: s.gpuCapacityTypes.includes("on-demand") ? "ON_DEMAND" : "SPOT",
    minSize: running,
    desiredSize: running,
    maxSize,
    diskGiB: s.gpuDiskGiB,
  };
}

/** The system node group's size, as the cluster component spells it. */
export function systemNodeScaling(settings: Settings): SystemNodeScaling {
  const n = settings.aws.systemNodes;
  return { minSize: n.min, desiredSize: n.desired, maxSize: n.max };
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
  for (const pool of [gpuPoolSizing(settings)]) {
    problems.push(...problemOf(() => validateGpuNodePoolArgs(pool.name, { ...pool, clusterName: "", kubernetesVersion: s.kubernetesVersion, subnetIds: [] })));
    if (pool.diskGiB < settings.modelCacheGiB + VLLM_IMAGE_GIB) {
      problems.push(
        `GPU pool "${pool.name}" has diskGiB ${pool.diskGiB}, less than modelCacheGiB (${settings.modelCacheGiB}) plus ` +
          `about ${VLLM_IMAGE_GIB} GiB for the vLLM image: set gpuDiskGiB to at least ` +
          `${settings.modelCacheGiB + VLLM_IMAGE_GIB}`,
      );
    }
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
 * The default target: a VPC, an EKS cluster with GPU node pools, the load balancer controller, the
 * proxy image in ECR and (optionally) a TLS certificate and DNS name, then the serving stack on top.
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

  const network = new Network("vllm", { natGateways: s.natGateways, ...(existing ? { existing } : {}), tags });
  const cluster = new Cluster("vllm", {
    kubernetesVersion: s.kubernetesVersion,
    subnetIds: network.privateSubnetIds,
    systemInstanceType: s.systemInstanceType,
    systemNodes: systemNodeScaling(settings),
    adminPrincipalArns: s.clusterAdminArns,
    tags,
  });

  const pools = [gpuPoolSizing(settings)].map(
    (pool) =>
      new GpuNodePool(`vllm-${pool.name}`, {
        clusterName: cluster.name,
        kubernetesVersion: s.kubernetesVersion,
        subnetIds: network.privateSubnetIds,
        instanceTypes: pool.instanceTypes,
        capacityType: pool.capacityType,
        minSize: pool.minSize,
        desiredSize: pool.desiredSize,
        maxSize: pool.maxSize,
        diskGiB: pool.diskGiB,
        labels: { "vllm-auth.dev/pool": pool.name },
        waitFor: cluster.nodePrerequisites,
        tags,
      }),
  );

  const loadBalancers = new LoadBalancerController("vllm-lbc", {
    provider: cluster.provider,
    clusterName: cluster.name,
    vpcId: network.vpcId,
    region: aws.getRegionOutput().region,
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
    // GPU nodes to run on, and the controller whose webhook and NLB the Service needs.
    dependsOn: [...pools.map((p) => p.nodeGroup), loadBalancers.release],
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
