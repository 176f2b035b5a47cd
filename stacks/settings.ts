import * as pulumi from "@pulumi/pulumi";
import type { ReplicaScaling } from "../infra/k8s/autoscaling";
import type { ResourceSpec, TolerationSpec } from "../infra/k8s/vllmPod";

/** Where the serving stack runs: a new AWS VPC + EKS cluster, or a cluster the user already has. */
export type Target = "aws" | "existing";

/** A Kubernetes toleration, as written in config for the `existing` target. */
export type TolerationSetting = TolerationSpec;

/** CPU/memory requests and limits for one container. */
export type ContainerResources = ResourceSpec;

/** TLS and the 308 redirect: on when `domain` is set together with `certificateArn` or `hostedZoneId`. */
export interface TlsSettings {
  readonly domain: string;
  /** An existing ACM certificate for `domain`. */
  readonly certificateArn?: string;
  /** A Route 53 zone: the aws target issues and DNS-validates a certificate and adds an alias record. */
  readonly hostedZoneId?: string;
}

/** One named API key: one per user or app, revocable alone. */
export interface ApiKeySetting {
  /** Matches `KEY_NAME_PATTERN` (proxy/src/keys/format.ts); unique in the list. */
  readonly name: string;
  /** Raising it replaces this key alone. Defaults to `0`. */
  readonly generation: number;
  /** Requests per minute; unset means no limit. */
  readonly rpm?: number;
  /** Prompt plus completion tokens per minute; unset means no limit. */
  readonly tpm?: number;
  /** Requests in flight at once; unset means no limit. */
  readonly concurrency?: number;
}

/** Replicas of the vLLM Deployment, scaled by KEDA on the gateways' in-flight plus held requests (defaults: `stacks/configSchema.ts`). */
export type AutoscalingSettings = ReplicaScaling;

/** Node counts of an EKS managed node group. */
export interface NodeCounts {
  readonly min: number;
  readonly desired: number;
  readonly max: number;
}

/** A capacity type GPU nodes may be launched with. */
export type GpuCapacityType = "spot" | "on-demand";

/** Settings only the `aws` target reads. */
export interface AwsSettings {
  /** `aws:region`; undefined means the provider's ambient region. */
  readonly region?: string;
  readonly kubernetesVersion: string;
  /** IAM roles and users made cluster admin; empty means the identity running Pulumi (its role, for a session). */
  readonly clusterAdminArns: readonly string[];
  /** GPU instance types Karpenter may launch; it picks among them by price. */
  readonly gpuInstanceTypes: readonly string[];
  /** Capacity types GPU nodes may be launched with; with both, spot first and on-demand as the fallback. */
  readonly gpuCapacityTypes: readonly GpuCapacityType[];
  /** The most GPUs the stack may run at once; at least `(maxReplicas + 1) * gpusPerReplica`. */
  readonly maxGpus: number;
  /** Size of each GPU node's Bottlerocket data volume (images and the model cache). */
  readonly gpuDiskGiB: number;
  /** The CPU node group for the controllers and the gateways. */
  readonly systemNodes: NodeCounts;
  /** Bring-your-own network: all three set together, or none. */
  readonly vpcId?: string;
  readonly publicSubnetIds?: readonly string[];
  readonly privateSubnetIds?: readonly string[];
  /** `single` (one NAT gateway, the default) or `perAz`. */
  readonly natGateways: "single" | "perAz";
  readonly systemInstanceType: string;
}

/** The whole stack's validated configuration; `stacks/config.ts` is the only producer. */
export interface Settings {
  readonly target: Target;
  readonly namespace: string;
  /** Create `namespace` (the default); `false` deploys into a namespace that already exists. */
  readonly createNamespace?: boolean;
  readonly model: string;
  readonly hfToken?: pulumi.Output<string>;
  readonly gpusPerReplica: number;
  readonly vllmImage: string;
  readonly vllmArgs: readonly string[];
  /** A prebuilt proxy image; when unset the image is built from proxy/ and pushed. */
  readonly proxyImage?: string;
  /** A registry to build and push the proxy image to (existing target). */
  readonly proxyRegistry?: string;
  readonly tls?: TlsSettings;
  readonly allowedCidrs: readonly string[];
  /** existing target: a kubeconfig (secret) and a context in it; both unset means the ambient kubeconfig. */
  readonly kubeconfig?: pulumi.Output<string>;
  readonly kubeContext?: string;
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly tolerations: readonly TolerationSetting[];
  readonly vllmResources: ContainerResources;
  readonly proxyResources: ContainerResources;
  readonly modelCacheGiB: number;
  /** The API keys, in order; the first is the `token` output. */
  readonly apiKeys: readonly ApiKeySetting[];
  /** Raising it replaces the credential the gateways send to the replicas. */
  readonly internalTokenGeneration: number;
  /** Gateway pods behind the load balancer, 1..20. */
  readonly gatewayReplicas: number;
  readonly gatewayResources: ContainerResources;
  /** Longest a request is held while no replica is ready, then 503 with Retry-After. */
  readonly coldStartTimeoutSeconds: number;
  readonly autoscaling: AutoscalingSettings;
  /** Install KEDA; `false` when the cluster already runs it. */
  readonly installKeda: boolean;
  /** Install kube-prometheus-stack (Prometheus and Grafana). */
  readonly installMonitoring: boolean;
  /** The Prometheus KEDA queries when `installMonitoring` is false. */
  readonly prometheusUrl?: string;
  readonly aws: AwsSettings;
}
