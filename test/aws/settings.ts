import { AwsSettings, Settings } from "../../stacks/settings";
import { StackConfig } from "../pulumi/harness";

/** A new user's aws stack config: the target, the Hugging Face token (a secret) and a region; the rest defaults. */
export function awsConfig(extra: StackConfig = {}): StackConfig {
  return {
    "aws:region": "us-east-1",
    "vllm-auth:target": "aws",
    "vllm-auth:hfToken": "hf_testtoken_0123456789",
    ...extra,
  };
}

/** The config keys `awsConfig` sets that the CLI passes as secrets. */
export const AWS_SECRET_KEYS: readonly string[] = ["vllm-auth:hfToken"];

/** The aws section of a default stack: up to 3 GPUs (2 replicas and a surge pod), one NAT gateway, Kubernetes 1.36. */
export function awsDefaults(overrides: Partial<AwsSettings> = {}): AwsSettings {
  return {
    region: "us-east-1",
    kubernetesVersion: "1.36",
    clusterAdminArns: [],
    gpuInstanceTypes: ["g6.xlarge", "g5.xlarge"],
    gpuCapacityTypes: ["spot", "on-demand"],
    maxGpus: 3,
    gpuDiskGiB: 100,
    systemNodes: { min: 2, desired: 2, max: 3 },
    natGateways: "single",
    systemInstanceType: "t3.large",
    ...overrides,
  };
}

/** A complete, valid Settings for the aws target; the serving fields are what config.ts defaults to. */
export function settingsFor(overrides: Partial<Settings> = {}, aws: Partial<AwsSettings> = {}): Settings {
  return {
    target: "aws",
    namespace: "vllm",
    model: "meta-llama/Llama-2-7b-chat-hf",
    gpusPerReplica: 1,
    vllmImage: "vllm/vllm-openai:v0.29.0",
    vllmArgs: ["--max-model-len", "4096"],
    allowedCidrs: ["0.0.0.0/0"],
    nodeSelector: {},
    tolerations: [],
    vllmResources: { cpu: "3", memory: "12Gi" },
    proxyResources: { cpu: "250m", memory: "256Mi" },
    modelCacheGiB: 40,
    apiKeys: [{ name: "default", generation: 0 }],
    internalTokenGeneration: 0,
    gatewayReplicas: 2,
    gatewayResources: { cpu: "500m", memory: "256Mi" },
    coldStartTimeoutSeconds: 600,
    autoscaling: {
      minReplicas: 1,
      maxReplicas: 2,
      targetPerReplica: 16,
      scaleDownStabilizationSeconds: 300,
      scaleToZeroAfterSeconds: 900,
      pollingIntervalSeconds: 10,
    },
    installKeda: true,
    installMonitoring: true,
    aws: awsDefaults(aws),
    ...overrides,
  };
}
