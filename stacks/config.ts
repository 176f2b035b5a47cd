/**
 * The only entry point to config for the program: reads every `vllm-auth:*` key, checks it against
 * the schema (stacks/configSchema.ts), and returns typed `Settings` or one error listing every problem.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import {
  CONFIG_NAMESPACE,
  CONFIG_SHAPE,
  CROSS_CHECKS,
  KEY_SCHEMAS,
  ConfigKey,
  ConfigValues,
  DEFAULT_CPU_VLLM_IMAGE,
  REMOVED_CONFIG_KEYS,
  metaOf,
  neededGpus,
} from "./configSchema";
import { Settings, TlsSettings, TolerationSetting } from "./settings";
import { closest } from "./suggest";

export {
  CONFIG_NAMESPACE,
  DEFAULT_API_KEYS,
  DEFAULT_CPU_VLLM_IMAGE,
  DEFAULT_GATEWAY_RESOURCES,
  DEFAULT_GPU_CAPACITY_TYPES,
  DEFAULT_GPU_INSTANCE_TYPES,
  DEFAULT_KUBERNETES_VERSION,
  DEFAULT_MODEL,
  DEFAULT_PROXY_RESOURCES,
  DEFAULT_SYSTEM_NODES,
  DEFAULT_VLLM_ARGS,
  DEFAULT_VLLM_IMAGE,
  DEFAULT_VLLM_RESOURCES,
  REMOVED_CONFIG_KEYS,
  isPinnedImage,
} from "./configSchema";

/** Reads raw config values; injected so that config errors are tested without the Pulumi engine. */
export interface ConfigReader {
  /** The raw text of `vllm-auth:<key>` (JSON for lists and objects), or undefined when unset. */
  get(key: string): string | undefined;
  /** Whether `vllm-auth:<key>` is stored encrypted. */
  isSecret(key: string): boolean;
  /** The raw text of `aws:region`, or undefined. */
  awsRegion(): string | undefined;
  /** Every `vllm-auth:<key>` the stack sets (Pulumi.yaml's defaults included), without the namespace. */
  keys(): readonly string[];
}

/** Every problem found in the stack's config, reported together. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(
      `Invalid configuration (${problems.length} ${problems.length === 1 ? "problem" : "problems"}):\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

/** Every key `parseSettings` reads, in the reference page's order. */
export const CONFIG_KEYS: readonly ConfigKey[] = Object.keys(CONFIG_SHAPE) as ConfigKey[];

/** Keys held as secrets: read as Outputs and never echoed in an error. */
const SECRET_KEYS: readonly ConfigKey[] = CONFIG_KEYS.filter((key) => metaOf(key).secret === true);

/** The message for a key this program does not read: a removed key's replacement, or the nearest key. */
export function unknownKeyProblem(key: string): string {
  const removed = REMOVED_CONFIG_KEYS[key];
  if (removed !== undefined) return `${removed.instead}.`;
  const nearest = closest(key, [...CONFIG_KEYS, ...Object.keys(REMOVED_CONFIG_KEYS)]);
  if (nearest === undefined) return "is not a key this program reads. The keys are listed in docs/configuration.md.";
  const replaced = REMOVED_CONFIG_KEYS[nearest];
  if (replaced === undefined) return `is not a key this program reads. Did you mean ${CONFIG_NAMESPACE}:${nearest}?`;
  const instead = replaced.replacedBy.map((k) => `${CONFIG_NAMESPACE}:${k}`).join(" or ");
  return `is not a key this program reads. Did you mean ${instead}? (${nearest} ${replaced.instead}.)`;
}

/** One problem, placed by the key it concerns so that the list reads in the reference page's order. */
interface Problem {
  readonly order: number;
  readonly text: string;
}

/** `vllm-auth:<key>: [<item> <n>] <message>`: list entries are numbered from 1, fields are named by the message. */
function issueText(key: ConfigKey, issue: z.core.$ZodIssue): string {
  const item = metaOf(key).item ?? "entry";
  const where = issue.path.filter((p): p is number => typeof p === "number").map((i) => `${item} ${i + 1}`);
  return `${CONFIG_NAMESPACE}:${key}: ${[...where, issue.message].join(" ")}`;
}

/** The text the CLI gave for `key`, with blank (Pulumi.yaml's default for optional keys) as unset. */
function rawValue(read: ConfigReader, key: string): string | undefined {
  const value = read.get(key);
  return value === undefined || value.trim() === "" ? undefined : value;
}

/** Turns raw config into validated `Settings`, or throws one `ConfigError` listing every problem. */
export function parseSettings(read: ConfigReader): Settings {
  const problems: Problem[] = [];
  const order = (key: ConfigKey) => CONFIG_KEYS.indexOf(key);

  for (const key of read.keys()) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      problems.push({ order: -1, text: `${CONFIG_NAMESPACE}:${key}: ${unknownKeyProblem(key)}` });
    }
  }

  const values: Partial<Record<ConfigKey, unknown>> = {};
  const failed = new Set<ConfigKey>();
  for (const key of CONFIG_KEYS) {
    const result = z.safeParse(KEY_SCHEMAS[key], rawValue(read, key));
    if (result.success) {
      values[key] = result.data;
    } else {
      failed.add(key);
      for (const issue of result.error.issues) problems.push({ order: order(key), text: issueText(key, issue) });
    }
  }

  for (const rule of CROSS_CHECKS) {
    if (rule.reads.some((key) => failed.has(key))) continue;
    rule.check(values as ConfigValues, (key, message) => problems.push({ order: order(key), text: `${CONFIG_NAMESPACE}:${key}: ${message}` }));
  }

  if (problems.length > 0) {
    throw new ConfigError([...problems].sort((a, b) => a.order - b.order).map((p) => p.text));
  }
  return toSettings(values as ConfigValues, read.awsRegion()?.trim() || undefined);
}

/** `operator` as Kubernetes defaults it: `Equal` with a value, `Exists` without. */
function toleration(t: ConfigValues["tolerations"][number]): TolerationSetting {
  return {
    key: t.key,
    operator: t.operator ?? (t.value === undefined ? "Exists" : "Equal"),
    ...(t.value !== undefined ? { value: t.value } : {}),
    ...(t.effect !== undefined ? { effect: t.effect } : {}),
  };
}

/** The settings the components read, grouped as `Settings` declares them. */
function toSettings(v: ConfigValues, region: string | undefined): Settings {
  const tls: TlsSettings | undefined =
    v.domain !== undefined && (v.certificateArn !== undefined || v.hostedZoneId !== undefined)
      ? {
          domain: v.domain,
          ...(v.certificateArn !== undefined ? { certificateArn: v.certificateArn } : {}),
          ...(v.hostedZoneId !== undefined ? { hostedZoneId: v.hostedZoneId } : {}),
        }
      : undefined;
  const ownNetwork = v.vpcId !== undefined && v.publicSubnetIds !== undefined && v.privateSubnetIds !== undefined;
  return {
    target: v.target,
    namespace: v.namespace,
    createNamespace: v.createNamespace,
    model: v.model,
    ...(v.hfToken !== undefined ? { hfToken: pulumi.secret(v.hfToken) } : {}),
    gpusPerReplica: v.gpusPerReplica,
    vllmImage: v.vllmImage,
    vllmArgs: v.vllmArgs,
    ...(v.proxyImage !== undefined ? { proxyImage: v.proxyImage } : {}),
    ...(v.proxyRegistry !== undefined ? { proxyRegistry: v.proxyRegistry } : {}),
    ...(tls !== undefined ? { tls } : {}),
    allowedCidrs: v.allowedCidrs,
    ...(v.kubeconfig !== undefined ? { kubeconfig: pulumi.secret(v.kubeconfig) } : {}),
    ...(v.kubeContext !== undefined ? { kubeContext: v.kubeContext } : {}),
    nodeSelector: v.nodeSelector,
    tolerations: v.tolerations.map(toleration),
    vllmResources: v.vllmResources,
    proxyResources: v.proxyResources,
    modelCacheGiB: v.modelCacheGiB,
    apiKeys: v.apiKeys,
    internalTokenGeneration: v.internalTokenGeneration,
    gatewayReplicas: v.gatewayReplicas,
    gatewayResources: v.gatewayResources,
    coldStartTimeoutSeconds: v.coldStartTimeoutSeconds,
    autoscaling: {
      minReplicas: v.minReplicas,
      maxReplicas: v.maxReplicas,
      targetPerReplica: v.targetPerReplica,
      scaleDownStabilizationSeconds: v.scaleDownStabilizationSeconds,
      scaleToZeroAfterSeconds: v.scaleToZeroAfterSeconds,
      pollingIntervalSeconds: v.pollingIntervalSeconds,
    },
    installKeda: v.installKeda,
    installMonitoring: v.installMonitoring,
    ...(v.prometheusUrl !== undefined ? { prometheusUrl: v.prometheusUrl } : {}),
    aws: {
      ...(region !== undefined ? { region } : {}),
      kubernetesVersion: v.kubernetesVersion,
      clusterAdminArns: v.clusterAdminArns,
      gpuInstanceTypes: v.gpuInstanceTypes,
      gpuCapacityTypes: v.gpuCapacityTypes,
      // 0, Pulumi.yaml's default, means just enough for every replica and a surge pod.
      maxGpus: v.maxGpus === 0 ? neededGpus(v) : v.maxGpus,
      gpuDiskGiB: v.gpuDiskGiB,
      systemNodes: v.systemNodes,
      ...(ownNetwork ? { vpcId: v.vpcId, publicSubnetIds: v.publicSubnetIds, privateSubnetIds: v.privateSubnetIds } : {}),
      natGateways: v.natGateways,
      systemInstanceType: v.systemInstanceType,
    },
  };
}

/** Things that deploy but probably not as the user hopes; printed as warnings at preview and up. */
export function settingsWarnings(settings: Settings, read: ConfigReader): string[] {
  const warnings: string[] = [];
  if (settings.hfToken === undefined && settings.model.startsWith("meta-llama/")) {
    warnings.push(
      `${CONFIG_NAMESPACE}:hfToken is not set and ${settings.model} is a gated model: vLLM will fail to download it. ` +
        `Accept the license on huggingface.co, then run: pulumi config set --secret ${CONFIG_NAMESPACE}:hfToken hf_...`,
    );
  }
  const repository = settings.vllmImage.split("@")[0].replace(/:[^/:]*$/, "");
  if (settings.gpusPerReplica === 0 && !/(^|[/_-])cpu([/_-]|$)/i.test(repository)) {
    warnings.push(
      `${CONFIG_NAMESPACE}:gpusPerReplica is 0 but ${settings.vllmImage} looks like a GPU build of vLLM, which does not start without a GPU. ` +
        `Set ${CONFIG_NAMESPACE}:vllmImage to a CPU build, e.g. ${DEFAULT_CPU_VLLM_IMAGE}.`,
    );
  }
  for (const key of SECRET_KEYS) {
    if (read.get(key)?.trim() && !read.isSecret(key)) {
      warnings.push(`${CONFIG_NAMESPACE}:${key} is stored in plain text in the stack file. Set it again with: pulumi config set --secret ${CONFIG_NAMESPACE}:${key} ...`);
    }
  }
  return warnings;
}

/** The engine-backed reader: `vllm-auth:*` keys and `aws:region` as the Pulumi CLI passes them. */
export function pulumiConfigReader(): ConfigReader {
  // The SDK exports isConfigSecret without typings; without it, assume secret so that nothing warns wrongly.
  const runtime = pulumi.runtime as unknown as { isConfigSecret?: (key: string) => boolean };
  const prefix = `${CONFIG_NAMESPACE}:`;
  return {
    get: (key) => pulumi.runtime.getConfig(`${prefix}${key}`),
    isSecret: (key) => runtime.isConfigSecret?.(`${prefix}${key}`) ?? true,
    awsRegion: () => pulumi.runtime.getConfig("aws:region"),
    // The language host passes every key of the stack (and Pulumi.yaml's defaults) in PULUMI_CONFIG.
    keys: () =>
      Object.keys(pulumi.runtime.allConfig())
        .filter((k) => k.startsWith(prefix))
        .map((k) => k.slice(prefix.length)),
  };
}

/** Reads and validates the stack's config; the only entry point to config for the program. */
export function loadSettings(read: ConfigReader = pulumiConfigReader()): Settings {
  const settings = parseSettings(read);
  for (const warning of settingsWarnings(settings, read)) {
    void pulumi.log.warn(warning);
  }
  return settings;
}
