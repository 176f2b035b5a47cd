import * as pulumi from "@pulumi/pulumi";
import { EXAMPLE_ADMIN_ARN, adminArnsProblems } from "../infra/aws/arns";
import { KEY_NAME_PATTERN } from "../proxy/src/keys/format";
import {
  ApiKeySetting,
  AutoscalingSettings,
  AwsSettings,
  ContainerResources,
  GpuCapacityType,
  NodeCounts,
  Settings,
  Target,
  TlsSettings,
  TolerationSetting,
} from "./settings";

/** The config namespace of every key this program reads (besides `aws:region`). */
export const CONFIG_NAMESPACE = "vllm-auth";

/** vLLM release the stack serves by default: pinned so a redeploy never changes the engine by surprise. */
export const DEFAULT_VLLM_IMAGE = "vllm/vllm-openai:v0.29.0";
export const DEFAULT_MODEL = "meta-llama/Llama-2-7b-chat-hf";
/** vLLM's CPU build of the same release (x86_64), for trials without a GPU. */
export const DEFAULT_CPU_VLLM_IMAGE = "public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.29.0";
/** Llama-2's context length; vLLM would otherwise size the KV cache for the model's full config. */
export const DEFAULT_VLLM_ARGS: readonly string[] = ["--max-model-len", "4096"];
export const DEFAULT_GPU_INSTANCE_TYPES: readonly string[] = ["g6.xlarge", "g5.xlarge"];
/** The newest EKS version with pinned add-ons (infra/aws/addons.ts): the longest standard support ahead. */
export const DEFAULT_KUBERNETES_VERSION = "1.36";
/** Fits a g6.xlarge / g5.xlarge (4 vCPU, 16 GiB) beside the proxy and the node's daemons. */
export const DEFAULT_VLLM_RESOURCES: ContainerResources = { cpu: "3", memory: "12Gi" };
export const DEFAULT_PROXY_RESOURCES: ContainerResources = { cpu: "250m", memory: "256Mi" };
export const DEFAULT_GATEWAY_RESOURCES: ContainerResources = { cpu: "500m", memory: "256Mi" };
/** One key named `default`: the seed's single token. */
export const DEFAULT_API_KEYS: readonly ApiKeySetting[] = [{ name: "default", generation: 0 }];
/** Spot first; Karpenter falls back to on-demand by itself when both are allowed. */
export const DEFAULT_GPU_CAPACITY_TYPES: readonly GpuCapacityType[] = ["spot", "on-demand"];
export const DEFAULT_SYSTEM_NODES: NodeCounts = { min: 2, desired: 2, max: 3 };

/** Reads raw config values; injected so that config errors are tested without the Pulumi engine. */
export interface ConfigReader {
  /** The raw text of `vllm-auth:<key>` (JSON for lists and objects), or undefined when unset. */
  get(key: string): string | undefined;
  /** Whether `vllm-auth:<key>` is stored encrypted. */
  isSecret(key: string): boolean;
  /** The raw text of `aws:region`, or undefined. */
  awsRegion(): string | undefined;
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

/** Keys holding a secret: read as Outputs and never echoed in an error. */
const SECRET_KEYS = new Set(["hfToken", "kubeconfig"]);

/** Every key `parseSettings` reads; the README and Pulumi.yaml are checked against this list. */
export const CONFIG_KEYS: readonly string[] = [
  "target",
  "kubeconfig",
  "kubeContext",
  "namespace",
  "createNamespace",
  "model",
  "hfToken",
  "gpusPerReplica",
  "vllmImage",
  "vllmArgs",
  "proxyImage",
  "proxyRegistry",
  "domain",
  "certificateArn",
  "hostedZoneId",
  "allowedCidrs",
  "apiKeys",
  "internalTokenGeneration",
  "gatewayReplicas",
  "gatewayResources",
  "coldStartTimeoutSeconds",
  "minReplicas",
  "maxReplicas",
  "targetPerReplica",
  "scaleDownStabilizationSeconds",
  "scaleToZeroAfterSeconds",
  "pollingIntervalSeconds",
  "installKeda",
  "installMonitoring",
  "prometheusUrl",
  "nodeSelector",
  "tolerations",
  "vllmResources",
  "proxyResources",
  "modelCacheGiB",
  "gpuInstanceTypes",
  "gpuCapacityTypes",
  "maxGpus",
  "gpuDiskGiB",
  "kubernetesVersion",
  "clusterAdminArns",
  "vpcId",
  "publicSubnetIds",
  "privateSubnetIds",
  "natGateways",
  "systemInstanceType",
  "systemNodes",
];

/** Keys whose value is an object or a list of objects: Pulumi.yaml cannot declare a type for them. */
export const OBJECT_CONFIG_KEYS: readonly string[] = [
  "nodeSelector",
  "tolerations",
  "vllmResources",
  "proxyResources",
  "gatewayResources",
  "apiKeys",
  "systemNodes",
];

/** Keys an earlier version read, and what to write instead; setting one is an error. */
export const REMOVED_CONFIG_KEYS: Readonly<Record<string, string>> = {
  replicas:
    "was replaced by minReplicas and maxReplicas. For a fixed count write both to the same number, e.g. minReplicas: 2 and maxReplicas: 2; " +
    "for autoscaling, e.g. minReplicas: 1 and maxReplicas: 4",
  tokenCount:
    'was replaced by apiKeys, one named key per user or app, e.g. apiKeys: [{ name: "alice" }, { name: "ci-bot" }]. ' +
    "The old tokens stop working; the new keys are in: pulumi stack output apiKeys --show-secrets",
  firstTokenId:
    'was replaced by apiKeys: to replace one key, raise its generation, e.g. apiKeys: [{ name: "alice", generation: 1 }]; ' +
    "to revoke one, remove its name. The new keys are in: pulumi stack output apiKeys --show-secrets",
  gpuPools:
    'was replaced by gpuCapacityTypes and maxGpus: GPU nodes are launched on demand, spot first with on-demand as the fallback, e.g. gpuCapacityTypes: ["spot", "on-demand"] and maxGpus: 3',
  gpuNodes:
    "was replaced by maxGpus (the most GPUs the stack may run) and minReplicas/maxReplicas: GPU nodes are launched on demand, e.g. maxGpus: 3",
  gpuCapacityType:
    'was replaced by gpuCapacityTypes, a list, e.g. gpuCapacityTypes: ["on-demand"] (ON_DEMAND) or ["spot", "on-demand"] (spot, falling back to on-demand)',
};

/** vLLM flags the program sets itself; a second copy in `vllmArgs` would break the sidecar wiring. */
const RESERVED_VLLM_FLAGS: Readonly<Record<string, string>> = {
  "--host": "vLLM must bind 127.0.0.1 so that only the auth proxy can reach it",
  "--port": "the proxy expects vLLM on port 8000",
  "--tensor-parallel-size": "it follows `gpusPerReplica`",
  "-tp": "it follows `gpusPerReplica`",
  "--model": "set the `model` key instead",
  "--api-key": "the auth proxy checks keys; set `apiKeys` instead",
  "--uds": "the proxy reaches vLLM over TCP on 127.0.0.1:8000",
};

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const CERT_ARN = /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/;
const HOSTED_ZONE_ID = /^Z[A-Z0-9]{1,31}$/;
const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|Pi|Ei|M|G|T|P|E)?$/;
const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

/** Collects problems while each key is read, so that one run reports all of them. */
class Reader {
  readonly problems: string[] = [];

  constructor(private readonly source: ConfigReader) {}

  /** The key's text, with an empty string treated as unset (Pulumi.yaml declares optional keys with `""`). */
  raw(key: string): string | undefined {
    const value = this.source.get(key);
    return value === undefined || value.trim() === "" ? undefined : value;
  }

  problem(key: string, message: string): void {
    this.problems.push(`${CONFIG_NAMESPACE}:${key}: ${message}`);
  }

  string(key: string, fallback: string): string;
  string(key: string): string | undefined;
  string(key: string, fallback?: string): string | undefined {
    const value = this.raw(key);
    return value === undefined ? fallback : value.trim();
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(key)?.trim();
    if (value === undefined) {
      return fallback;
    }
    if ((allowed as readonly string[]).includes(value)) {
      return value as T;
    }
    this.problem(key, `"${value}" is not allowed. Write one of: ${allowed.join(", ")}.`);
    return fallback;
  }

  integer(key: string, fallback: number, min: number, max: number, example: string): number {
    const value = this.raw(key)?.trim();
    if (value === undefined) {
      return fallback;
    }
    if (!/^-?\d+$/.test(value)) {
      this.problem(key, `"${value}" is not a whole number. Write a number from ${min} to ${max}, e.g. ${example}.`);
      return fallback;
    }
    const n = Number(value);
    if (n < min || n > max) {
      this.problem(key, `${n} is out of range. Write a number from ${min} to ${max}, e.g. ${example}.`);
      return fallback;
    }
    return n;
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.raw(key)?.trim();
    if (value === undefined) {
      return fallback;
    }
    if (value === "true" || value === "false") {
      return value === "true";
    }
    this.problem(key, `"${value}" is not a boolean. Write true or false.`);
    return fallback;
  }

  /** A JSON value (lists and objects arrive as JSON text), or `undefined` after recording a problem. */
  json(key: string, shape: string): unknown {
    const value = this.raw(key);
    if (value === undefined) {
      return undefined;
    }
    try {
      return JSON.parse(value);
    } catch {
      this.problem(key, `expected ${shape}, got the text "${value}". Write it as YAML in the stack file, e.g. ${shapeExample(key)}.`);
      return undefined;
    }
  }

  stringList(key: string, fallback: readonly string[]): readonly string[] {
    if (this.raw(key) === undefined) {
      return fallback;
    }
    const parsed = this.json(key, "a list of strings");
    if (parsed === undefined) {
      return fallback;
    }
    if (!Array.isArray(parsed) || !parsed.every((v) => typeof v === "string")) {
      this.problem(key, `expected a list of strings. Write it as a YAML list, e.g. ${shapeExample(key)}.`);
      return fallback;
    }
    return parsed.map((v: string) => v.trim());
  }

  secret(key: string): pulumi.Output<string> | undefined {
    const value = this.raw(key);
    return value === undefined ? undefined : pulumi.secret(value);
  }
}

/** A one-line example for each structured key, used in error messages. */
function shapeExample(key: string): string {
  const examples: Record<string, string> = {
    vllmArgs: '["--max-model-len", "4096"]',
    allowedCidrs: '["203.0.113.0/24"]',
    gpuInstanceTypes: '["g6.xlarge", "g5.xlarge"]',
    publicSubnetIds: '["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]',
    privateSubnetIds: '["subnet-0123456789abcdef1", "subnet-0fedcba9876543211"]',
    nodeSelector: "{ node.kubernetes.io/instance-type: g6.xlarge }",
    tolerations: '[{ key: "dedicated", operator: "Equal", value: "llm", effect: "NoSchedule" }]',
    vllmResources: '{ cpu: "3", memory: "12Gi" }',
    proxyResources: '{ cpu: "250m", memory: "256Mi" }',
    gatewayResources: '{ cpu: "500m", memory: "256Mi" }',
    systemNodes: "{ min: 2, desired: 2, max: 3 }",
    apiKeys: '[{ name: "alice" }, { name: "ci-bot", rpm: 60 }]',
    gpuCapacityTypes: '["spot", "on-demand"]',
    clusterAdminArns: `["${EXAMPLE_ADMIN_ARN}"]`,
  };
  return examples[key] ?? "a YAML value";
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** An image reference that names a fixed release: a tag other than `latest`, or a digest. */
export function isPinnedImage(ref: string): boolean {
  if (/\s/.test(ref) || ref.includes("://")) {
    return false;
  }
  if (/@sha256:[a-f0-9]{64}$/.test(ref)) {
    return true;
  }
  const lastSegment = ref.split("/").pop() ?? "";
  const colon = lastSegment.lastIndexOf(":");
  if (colon <= 0) {
    return false;
  }
  const tag = lastSegment.slice(colon + 1);
  return /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(tag) && tag !== "latest";
}

function isCidr(value: string): boolean {
  const [address, prefix, ...rest] = value.split("/");
  if (rest.length > 0 || prefix === undefined || !/^\d{1,3}$/.test(prefix)) {
    return false;
  }
  const bits = Number(prefix);
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) {
    return bits <= 32 && address.split(".").every((o) => Number(o) <= 255);
  }
  return bits <= 128 && address.includes(":") && /^[0-9a-fA-F:]+$/.test(address) && address.split("::").length <= 2;
}

function parseResources(r: Reader, key: string, fallback: ContainerResources): ContainerResources {
  const parsed = r.json(key, "an object with cpu and memory");
  if (parsed === undefined) {
    return fallback;
  }
  if (!isRecord(parsed)) {
    r.problem(key, `expected an object with cpu and memory, e.g. ${shapeExample(key)}.`);
    return fallback;
  }
  const unknown = Object.keys(parsed).filter((k) => k !== "cpu" && k !== "memory");
  if (unknown.length > 0) {
    r.problem(key, `unknown field ${unknown.join(", ")}. Only cpu and memory are read, e.g. ${shapeExample(key)}.`);
  }
  const quantity = (field: "cpu" | "memory"): string => {
    const v = parsed[field];
    if (v === undefined) {
      return fallback[field];
    }
    const text = typeof v === "number" ? String(v) : v;
    if (typeof text !== "string" || !QUANTITY.test(text)) {
      r.problem(key, `${field} "${String(v)}" is not a Kubernetes quantity. Write e.g. ${field === "cpu" ? '"500m" or "2"' : '"512Mi" or "12Gi"'}.`);
      return fallback[field];
    }
    return text;
  };
  return { cpu: quantity("cpu"), memory: quantity("memory") };
}

function parseNodeSelector(r: Reader): Readonly<Record<string, string>> {
  const parsed = r.json("nodeSelector", "an object of label: value");
  if (parsed === undefined) {
    return {};
  }
  if (!isRecord(parsed)) {
    r.problem("nodeSelector", `expected an object of label: value, e.g. ${shapeExample("nodeSelector")}.`);
    return {};
  }
  const result: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (typeof v !== "string" || !LABEL_KEY.test(k) || !LABEL_VALUE.test(v)) {
      r.problem("nodeSelector", `"${k}: ${String(v)}" is not a valid label selector entry. Write a label key and a string value, e.g. ${shapeExample("nodeSelector")}.`);
      continue;
    }
    result[k] = v;
  }
  return result;
}

function parseTolerations(r: Reader): readonly TolerationSetting[] {
  const parsed = r.json("tolerations", "a list of tolerations");
  if (parsed === undefined) {
    return [];
  }
  if (!Array.isArray(parsed)) {
    r.problem("tolerations", `expected a list of tolerations, e.g. ${shapeExample("tolerations")}.`);
    return [];
  }
  const effects = ["NoSchedule", "PreferNoSchedule", "NoExecute"] as const;
  const result: TolerationSetting[] = [];
  parsed.forEach((item: unknown, i: number) => {
    const where = `entry ${i + 1}`;
    if (!isRecord(item) || typeof item.key !== "string" || !LABEL_KEY.test(item.key)) {
      r.problem("tolerations", `${where} needs a key (a taint key such as "dedicated"), e.g. ${shapeExample("tolerations")}.`);
      return;
    }
    const operator = item.operator ?? (item.value === undefined ? "Exists" : "Equal");
    if (operator !== "Exists" && operator !== "Equal") {
      r.problem("tolerations", `${where} has operator "${String(operator)}". Write Exists or Equal.`);
      return;
    }
    if (item.value !== undefined && typeof item.value !== "string") {
      r.problem("tolerations", `${where} has a value that is not a string. Quote it, e.g. value: "true".`);
      return;
    }
    if (operator === "Exists" && item.value !== undefined) {
      r.problem("tolerations", `${where} sets a value with operator Exists. Remove the value or write operator: Equal.`);
      return;
    }
    if (item.effect !== undefined && !effects.includes(item.effect as (typeof effects)[number])) {
      r.problem("tolerations", `${where} has effect "${String(item.effect)}". Write one of: ${effects.join(", ")}, or leave it out to tolerate every effect.`);
      return;
    }
    result.push({
      key: item.key,
      operator,
      ...(typeof item.value === "string" ? { value: item.value } : {}),
      ...(item.effect !== undefined ? { effect: item.effect as TolerationSetting["effect"] } : {}),
    });
  });
  return result;
}

function parseTls(r: Reader, target: Target): TlsSettings | undefined {
  const domain = r.string("domain")?.toLowerCase();
  const certificateArn = r.string("certificateArn");
  const hostedZoneId = r.string("hostedZoneId");
  let ok = true;
  if (domain !== undefined && !HOSTNAME.test(domain)) {
    r.problem("domain", `"${domain}" is not a DNS name. Write the name clients will use, e.g. llm.example.com (no scheme, no port, no path).`);
    ok = false;
  }
  if (certificateArn !== undefined && !CERT_ARN.test(certificateArn)) {
    r.problem("certificateArn", `"${certificateArn}" is not an ACM certificate ARN. Write e.g. arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-...`);
    ok = false;
  }
  if (hostedZoneId !== undefined && !HOSTED_ZONE_ID.test(hostedZoneId)) {
    r.problem("hostedZoneId", `"${hostedZoneId}" is not a Route 53 hosted zone ID. Write the ID that starts with Z, e.g. Z0123456789ABCDEFGHIJ.`);
    ok = false;
  }
  if (domain === undefined) {
    if (certificateArn !== undefined || hostedZoneId !== undefined) {
      r.problem("domain", "is unset, but certificateArn or hostedZoneId is set. Set domain to the name on the certificate, or remove the TLS keys for plain HTTP.");
    }
    return undefined;
  }
  if (certificateArn === undefined && hostedZoneId === undefined) {
    r.problem("domain", "is set without certificateArn or hostedZoneId. Set certificateArn (an ACM certificate for the domain) or hostedZoneId (target aws issues one), or remove domain for plain HTTP.");
    return undefined;
  }
  if (target === "existing" && certificateArn === undefined) {
    r.problem("certificateArn", "is required for TLS on target existing (hostedZoneId is used only by target aws). Set an ACM certificate ARN for the domain.");
    return undefined;
  }
  if (!ok) {
    return undefined;
  }
  return {
    domain,
    ...(certificateArn !== undefined ? { certificateArn } : {}),
    ...(hostedZoneId !== undefined ? { hostedZoneId } : {}),
  };
}

/** `{min, desired, max}` node counts, each a whole number from 0 to 100, in order and max >= 1. */
function parseNodeCounts(r: Reader, key: string, fallback: NodeCounts): NodeCounts {
  const parsed = r.json(key, "an object with min, desired and max");
  if (parsed === undefined) {
    return fallback;
  }
  if (!isRecord(parsed)) {
    r.problem(key, `expected an object with min, desired and max, e.g. ${shapeExample(key)}.`);
    return fallback;
  }
  const field = (name: keyof NodeCounts): number => {
    const v = parsed[name];
    if (v === undefined) {
      return fallback[name];
    }
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 100) {
      r.problem(key, `${name} "${String(v)}" is not a whole number from 0 to 100, e.g. ${shapeExample(key)}.`);
      return fallback[name];
    }
    return v;
  };
  const counts = { min: field("min"), desired: field("desired"), max: field("max") };
  if (!(counts.min <= counts.desired && counts.desired <= counts.max) || counts.max < 1) {
    r.problem(key, `needs min <= desired <= max and max >= 1 (got min ${counts.min}, desired ${counts.desired}, max ${counts.max}).`);
    return fallback;
  }
  return counts;
}

const LIMIT_FIELDS = ["rpm", "tpm", "concurrency"] as const;

function parseApiKeys(r: Reader): readonly ApiKeySetting[] {
  const parsed = r.json("apiKeys", "a list of keys");
  if (parsed === undefined) {
    return DEFAULT_API_KEYS;
  }
  if (!Array.isArray(parsed) || parsed.length === 0) {
    r.problem("apiKeys", `expected a non-empty list of named keys, e.g. ${shapeExample("apiKeys")}.`);
    return DEFAULT_API_KEYS;
  }
  const allowed = new Set(["name", "generation", ...LIMIT_FIELDS]);
  const keys: ApiKeySetting[] = [];
  const names = new Set<string>();
  parsed.forEach((item: unknown, i: number) => {
    const where = `key ${i + 1}`;
    if (!isRecord(item)) {
      r.problem("apiKeys", `${where} is not an object, e.g. ${shapeExample("apiKeys")}.`);
      return;
    }
    const unknown = Object.keys(item).filter((k) => !allowed.has(k));
    if (unknown.length > 0) {
      r.problem("apiKeys", `${where} has unknown field ${unknown.join(", ")}. Fields: ${[...allowed].join(", ")}.`);
    }
    const name = item.name;
    if (typeof name !== "string" || !KEY_NAME_PATTERN.test(name)) {
      r.problem("apiKeys", `${where} needs a name of lowercase letters, digits and dashes (at most 32), e.g. "alice".`);
      return;
    }
    if (names.has(name)) {
      r.problem("apiKeys", `${where} repeats the name "${name}". Give each key its own name.`);
      return;
    }
    names.add(name);
    const whole = (field: string, v: unknown, min: number): number | undefined => {
      if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
        r.problem("apiKeys", `${where} (${name}) ${field} "${String(v)}" must be a whole number of at least ${min}.`);
        return undefined;
      }
      return v;
    };
    const generation = item.generation === undefined ? 0 : (whole("generation", item.generation, 0) ?? 0);
    const limits: { rpm?: number; tpm?: number; concurrency?: number } = {};
    for (const field of LIMIT_FIELDS) {
      if (item[field] !== undefined) {
        const v = whole(field, item[field], 1);
        if (v !== undefined) limits[field] = v;
      }
    }
    keys.push({ name, generation, ...limits });
  });
  return keys.length > 0 ? keys : DEFAULT_API_KEYS;
}

function parseAutoscaling(r: Reader): AutoscalingSettings {
  const minReplicas = r.integer("minReplicas", 1, 0, 100, "1");
  const maxReplicas = r.integer("maxReplicas", Math.max(2, minReplicas), 1, 100, "2");
  if (maxReplicas < Math.max(1, minReplicas)) {
    r.problem("maxReplicas", `${maxReplicas} is less than minReplicas (${minReplicas}). Write at least ${Math.max(1, minReplicas)}.`);
  }
  return {
    minReplicas,
    maxReplicas,
    targetPerReplica: r.integer("targetPerReplica", 16, 1, 10000, "16"),
    scaleDownStabilizationSeconds: r.integer("scaleDownStabilizationSeconds", 300, 0, 86400, "300"),
    scaleToZeroAfterSeconds: r.integer("scaleToZeroAfterSeconds", 900, 0, 86400, "900"),
    pollingIntervalSeconds: r.integer("pollingIntervalSeconds", 10, 1, 3600, "10"),
  };
}

function parseCapacityTypes(r: Reader): readonly GpuCapacityType[] {
  const list = r.stringList("gpuCapacityTypes", DEFAULT_GPU_CAPACITY_TYPES);
  const bad = list.filter((t) => t !== "spot" && t !== "on-demand");
  if (list.length === 0 || bad.length > 0 || new Set(list).size !== list.length) {
    r.problem("gpuCapacityTypes", `expected spot, on-demand or both, each once, e.g. ${shapeExample("gpuCapacityTypes")}.`);
    return DEFAULT_GPU_CAPACITY_TYPES;
  }
  return list as GpuCapacityType[];
}

function parseAws(r: Reader, source: ConfigReader, autoscaling: AutoscalingSettings, gpusPerReplica: number, modelCacheGiB: number, target: Target): AwsSettings {
  const gpuInstanceTypes = r.stringList("gpuInstanceTypes", DEFAULT_GPU_INSTANCE_TYPES);
  if (gpuInstanceTypes.length === 0 || !gpuInstanceTypes.every((t) => INSTANCE_TYPE.test(t))) {
    r.problem("gpuInstanceTypes", `expected EC2 instance types such as ${shapeExample("gpuInstanceTypes")}.`);
  }
  const gpuCapacityTypes = parseCapacityTypes(r);
  // Room for every replica plus the surge pod of a rolling update.
  const neededGpus = (autoscaling.maxReplicas + 1) * gpusPerReplica;
  // 0 (Pulumi.yaml's default) means just enough.
  const configuredGpus = r.integer("maxGpus", 0, 0, 10000, String(Math.max(neededGpus, 3)));
  const maxGpus = configuredGpus === 0 ? neededGpus : configuredGpus;
  if (target === "aws" && maxGpus < neededGpus) {
    r.problem(
      "maxGpus",
      `${maxGpus} leaves no room for maxReplicas (${autoscaling.maxReplicas}) plus the surge pod of a rolling update at ${gpusPerReplica} GPU(s) each. Write at least ${neededGpus}.`,
    );
  }
  const gpuDiskGiB = r.integer("gpuDiskGiB", 100, 20, 16384, "100");
  if (target === "aws" && gpuDiskGiB < modelCacheGiB + 30) {
    r.problem("gpuDiskGiB", `${gpuDiskGiB} GiB leaves no room for the vLLM image (about 30 GiB) beside modelCacheGiB (${modelCacheGiB} GiB). Write at least ${modelCacheGiB + 30}.`);
  }
  const systemNodes = parseNodeCounts(r, "systemNodes", DEFAULT_SYSTEM_NODES);

  const kubernetesVersion = r.string("kubernetesVersion", DEFAULT_KUBERNETES_VERSION);
  if (!/^1\.\d{2}$/.test(kubernetesVersion)) {
    r.problem("kubernetesVersion", `"${kubernetesVersion}" is not an EKS version. Write major.minor, e.g. "${DEFAULT_KUBERNETES_VERSION}".`);
  }

  const clusterAdminArns = r.stringList("clusterAdminArns", []);
  for (const problem of adminArnsProblems(clusterAdminArns)) {
    r.problem("clusterAdminArns", problem);
  }

  const vpcId = r.string("vpcId");
  if (vpcId !== undefined && !/^vpc-[0-9a-f]{8,17}$/.test(vpcId)) {
    r.problem("vpcId", `"${vpcId}" is not a VPC ID. Write e.g. vpc-0123456789abcdef0.`);
  }
  const subnets = (key: "publicSubnetIds" | "privateSubnetIds"): readonly string[] | undefined => {
    const list = r.stringList(key, []);
    const bad = list.filter((s) => !/^subnet-[0-9a-f]{8,17}$/.test(s));
    if (bad.length > 0) {
      r.problem(key, `${bad.map((b) => `"${b}"`).join(", ")} ${bad.length === 1 ? "is not a subnet ID" : "are not subnet IDs"}. Write e.g. ${shapeExample(key)}.`);
    } else if (list.length === 1) {
      r.problem(key, `lists one subnet; EKS needs subnets in at least two availability zones. Write e.g. ${shapeExample(key)}.`);
    }
    return list.length > 0 ? list : undefined;
  };
  const publicSubnetIds = subnets("publicSubnetIds");
  const privateSubnetIds = subnets("privateSubnetIds");
  const network = [vpcId, publicSubnetIds, privateSubnetIds];
  if (network.some((v) => v !== undefined) && network.some((v) => v === undefined)) {
    const missing = (["vpcId", "publicSubnetIds", "privateSubnetIds"] as const).filter((_, i) => network[i] === undefined);
    r.problem(missing[0], `set vpcId, publicSubnetIds and privateSubnetIds together to use your own network, or none of them for a new VPC (missing: ${missing.join(", ")}).`);
  }

  const natGateways = r.oneOf("natGateways", ["single", "perAz"] as const, "single");
  const systemInstanceType = r.string("systemInstanceType", "t3.large");
  if (!INSTANCE_TYPE.test(systemInstanceType)) {
    r.problem("systemInstanceType", `"${systemInstanceType}" is not an EC2 instance type. Write e.g. t3.large.`);
  }
  const region = source.awsRegion()?.trim() || undefined;
  const useOwnNetwork = vpcId !== undefined && publicSubnetIds !== undefined && privateSubnetIds !== undefined;
  return {
    ...(region !== undefined ? { region } : {}),
    kubernetesVersion,
    clusterAdminArns,
    gpuInstanceTypes: gpuInstanceTypes.length > 0 ? gpuInstanceTypes : DEFAULT_GPU_INSTANCE_TYPES,
    gpuCapacityTypes,
    maxGpus,
    gpuDiskGiB,
    systemNodes,
    ...(useOwnNetwork ? { vpcId, publicSubnetIds, privateSubnetIds } : {}),
    natGateways,
    systemInstanceType,
  };
}

/** Turns raw config into validated `Settings`, or throws one `ConfigError` listing every problem. */
export function parseSettings(read: ConfigReader): Settings {
  const r = new Reader(read);
  for (const [key, instead] of Object.entries(REMOVED_CONFIG_KEYS)) {
    if (r.raw(key) !== undefined) {
      r.problem(key, `${instead}.`);
    }
  }
  const target = r.oneOf("target", ["aws", "existing"] as const, "aws");

  const namespace = r.string("namespace", "vllm");
  if (!DNS_LABEL.test(namespace)) {
    r.problem("namespace", `"${namespace}" is not a valid namespace name. Write lowercase letters, digits and dashes (at most 63), e.g. vllm.`);
  }
  const createNamespace = r.boolean("createNamespace", true);

  const model = r.string("model", DEFAULT_MODEL);
  if (/\s/.test(model)) {
    r.problem("model", `"${model}" contains whitespace. Write a Hugging Face model ID such as ${DEFAULT_MODEL}.`);
  }
  const hfToken = r.secret("hfToken");

  const gpusPerReplica = r.integer("gpusPerReplica", 1, 0, 8, "1");
  if (gpusPerReplica === 0 && target === "aws") {
    r.problem("gpusPerReplica", "0 (CPU only) is allowed only on target existing; the aws target runs vLLM on GPU nodes. Write 1 or more.");
  }

  const vllmImage = r.string("vllmImage", DEFAULT_VLLM_IMAGE);
  if (!isPinnedImage(vllmImage)) {
    r.problem("vllmImage", `"${vllmImage}" is not pinned. Write a release tag or a digest, e.g. ${DEFAULT_VLLM_IMAGE}.`);
  }
  const vllmArgs = r.stringList("vllmArgs", DEFAULT_VLLM_ARGS);
  for (const arg of vllmArgs) {
    const flag = arg.split("=")[0];
    const reason = RESERVED_VLLM_FLAGS[flag];
    if (reason !== undefined) {
      r.problem("vllmArgs", `remove ${flag}: ${reason}.`);
    }
  }

  const proxyImage = r.string("proxyImage");
  if (proxyImage !== undefined && !isPinnedImage(proxyImage)) {
    r.problem("proxyImage", `"${proxyImage}" is not pinned. Write a release tag or a digest, e.g. ghcr.io/acme/vllm-auth-proxy:0.1.0.`);
  }
  const proxyRegistry = r.string("proxyRegistry")?.replace(/\/+$/, "");
  if (proxyRegistry !== undefined && (proxyRegistry.includes("://") || /[:@][^/]*$/.test(proxyRegistry.split("/").slice(1).join("/")) || /\s/.test(proxyRegistry))) {
    r.problem("proxyRegistry", `"${proxyRegistry}" is not a registry path. Write a registry host and path without scheme or tag, e.g. ghcr.io/acme.`);
  }
  if (proxyImage !== undefined && proxyRegistry !== undefined) {
    r.problem("proxyRegistry", "is set together with proxyImage. Keep proxyImage to use a prebuilt image, or proxyRegistry to build and push one.");
  }
  if (target === "existing" && proxyImage === undefined && proxyRegistry === undefined) {
    r.problem("proxyImage", "is required on target existing. Set proxyImage to a prebuilt proxy image, or proxyRegistry to a registry the program pushes the image to.");
  }

  const tls = parseTls(r, target);

  const allowedCidrs = r.stringList("allowedCidrs", ["0.0.0.0/0"]);
  if (allowedCidrs.length === 0) {
    r.problem("allowedCidrs", 'is empty, which would block everyone. Write ["0.0.0.0/0"] for the whole internet, or your client ranges.');
  }
  const badCidrs = allowedCidrs.filter((c) => !isCidr(c));
  if (badCidrs.length > 0) {
    r.problem("allowedCidrs", `${badCidrs.map((c) => `"${c}"`).join(", ")} ${badCidrs.length === 1 ? "is not a CIDR block" : "are not CIDR blocks"}. Write e.g. ${shapeExample("allowedCidrs")}.`);
  }


  const kubeconfig = r.secret("kubeconfig");
  const kubeContext = r.string("kubeContext");

  const nodeSelector = parseNodeSelector(r);
  const tolerations = parseTolerations(r);
  const vllmResources = parseResources(r, "vllmResources", DEFAULT_VLLM_RESOURCES);
  const proxyResources = parseResources(r, "proxyResources", DEFAULT_PROXY_RESOURCES);
  const modelCacheGiB = r.integer("modelCacheGiB", 40, 1, 4096, "40");

  const apiKeys = parseApiKeys(r);
  const internalTokenGeneration = r.integer("internalTokenGeneration", 0, 0, 100000, "1");
  const gatewayReplicas = r.integer("gatewayReplicas", 2, 1, 20, "2");
  const gatewayResources = parseResources(r, "gatewayResources", DEFAULT_GATEWAY_RESOURCES);
  const coldStartTimeoutSeconds = r.integer("coldStartTimeoutSeconds", 600, 30, 3600, "600");
  const autoscaling = parseAutoscaling(r);
  const installKeda = r.boolean("installKeda", true);
  const installMonitoring = r.boolean("installMonitoring", true);
  const prometheusUrl = r.string("prometheusUrl");
  if (prometheusUrl !== undefined && !/^https?:\/\/[^\s/]+/.test(prometheusUrl)) {
    r.problem("prometheusUrl", `"${prometheusUrl}" is not an http(s) URL. Write e.g. http://prometheus-operated.monitoring.svc:9090.`);
  }
  if (prometheusUrl === undefined && !installMonitoring && autoscaling.minReplicas !== autoscaling.maxReplicas) {
    r.problem(
      "prometheusUrl",
      "is required when installMonitoring is false and autoscaling is on (minReplicas differs from maxReplicas). Write the Prometheus KEDA should query, e.g. http://prometheus-operated.monitoring.svc:9090, or set minReplicas equal to maxReplicas.",
    );
  }

  const aws = parseAws(r, read, autoscaling, gpusPerReplica, modelCacheGiB, target);

  if (r.problems.length > 0) {
    throw new ConfigError(r.problems);
  }
  return {
    target,
    namespace,
    createNamespace,
    model,
    ...(hfToken !== undefined ? { hfToken } : {}),
    gpusPerReplica,
    vllmImage,
    vllmArgs,
    ...(proxyImage !== undefined ? { proxyImage } : {}),
    ...(proxyRegistry !== undefined ? { proxyRegistry } : {}),
    ...(tls !== undefined ? { tls } : {}),
    allowedCidrs,
    ...(kubeconfig !== undefined ? { kubeconfig } : {}),
    ...(kubeContext !== undefined ? { kubeContext } : {}),
    nodeSelector,
    tolerations,
    vllmResources,
    proxyResources,
    modelCacheGiB,
    apiKeys,
    internalTokenGeneration,
    gatewayReplicas,
    gatewayResources,
    coldStartTimeoutSeconds,
    autoscaling,
    installKeda,
    installMonitoring,
    ...(prometheusUrl !== undefined ? { prometheusUrl } : {}),
    aws,
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
  return {
    get: (key) => pulumi.runtime.getConfig(`${CONFIG_NAMESPACE}:${key}`),
    isSecret: (key) => runtime.isConfigSecret?.(`${CONFIG_NAMESPACE}:${key}`) ?? true,
    awsRegion: () => pulumi.runtime.getConfig("aws:region"),
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
