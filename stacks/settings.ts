import * as pulumi from "@pulumi/pulumi";
import type { GpuNodePoolArgs } from "../infra/aws/gpuNodePool";
import type { ApiKeySpec } from "../infra/k8s/apiKeys";
import type { ResourceSpec, TolerationSpec } from "../infra/k8s/vllmPod";

/** Where the serving stack runs: a new AWS VPC + EKS cluster, or a cluster the user already has. */
export type Target = "aws" | "existing";

/** A Kubernetes toleration, as written in config for the `existing` target. */
export type TolerationSetting = TolerationSpec;

/** CPU/memory requests and limits for one container. */
export type ContainerResources = ResourceSpec;

/** One named API key: a name, a generation (raise it to replace this key alone), optional limits. */
export type ApiKeySetting = ApiKeySpec;

/** How many replicas run: KEDA moves the count between the bounds on demand. */
export interface AutoscalingSettings {
  readonly minReplicas: number;
  readonly maxReplicas: number;
}

/** TLS and the 308 redirect: on when `domain` is set together with `certificateArn` or `hostedZoneId`. */
export interface TlsSettings {
  readonly domain: string;
  /** An existing ACM certificate for `domain`. */
  readonly certificateArn?: string;
  /** A Route 53 zone: the aws target issues and DNS-validates a certificate and adds an alias record. */
  readonly hostedZoneId?: string;
}

/** One EKS managed GPU node group: the node pool component's sizing, plus its name. */
export type GpuPoolSettings = { readonly name: string } & Pick<
  GpuNodePoolArgs,
  "instanceTypes" | "capacityType" | "minSize" | "desiredSize" | "maxSize" | "diskGiB"
>;

/** Settings only the `aws` target reads. */
export interface AwsSettings {
  /** `aws:region`; undefined means the provider's ambient region. */
  readonly region?: string;
  readonly kubernetesVersion: string;
  /** IAM roles and users made cluster admin; empty means the identity running Pulumi (its role, for a session). */
  readonly clusterAdminArns: readonly string[];
  /** One entry per node group; the first is the primary (spot first, on-demand fallback is two entries). */
  readonly gpuPools: readonly GpuPoolSettings[];
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
  readonly replicas: number;
  readonly gpusPerReplica: number;
  readonly vllmImage: string;
  readonly vllmArgs: readonly string[];
  /** A prebuilt proxy image; when unset the image is built from proxy/ and pushed. */
  readonly proxyImage?: string;
  /** A registry to build and push the proxy image to (existing target). */
  readonly proxyRegistry?: string;
  readonly tls?: TlsSettings;
  readonly allowedCidrs: readonly string[];
  readonly tokenCount: number;
  /**
   * Tokens are numbered; the valid ones are `firstTokenId` .. `firstTokenId + tokenCount - 1`, so a
   * rotation retires the oldest token without touching the others. Defaults to `0`.
   */
  readonly firstTokenId?: number;
  /** existing target: a kubeconfig (secret) and a context in it; both unset means the ambient kubeconfig. */
  readonly kubeconfig?: pulumi.Output<string>;
  readonly kubeContext?: string;
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly tolerations: readonly TolerationSetting[];
  readonly vllmResources: ContainerResources;
  readonly proxyResources: ContainerResources;
  readonly modelCacheGiB: number;
  readonly apiKeys: readonly ApiKeySetting[];
  readonly internalTokenGeneration: number;
  readonly gatewayReplicas: number;
  readonly gatewayResources: ContainerResources;
  readonly coldStartTimeoutSeconds: number;
  readonly autoscaling: AutoscalingSettings;
  readonly aws: AwsSettings;
}
