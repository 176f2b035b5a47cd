import * as pulumi from "@pulumi/pulumi";
import { EXAMPLE_ADMIN_ARN, adminArnsProblems } from "../infra/aws/arns";
import { apiKeysProblems } from "../infra/k8s/apiKeys";
import {
  ApiKeySetting,
  AwsSettings,
  ContainerResources,
  GpuPoolSettings,
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
  "replicas",
  "gpusPerReplica",
  "vllmImage",
  "vllmArgs",
  "proxyImage",
  "proxyRegistry",
  "domain",
  "certificateArn",
  "hostedZoneId",
  "allowedCidrs",
  "tokenCount",
  "firstTokenId",
  "nodeSelector",
  "tolerations",
  "vllmResources",
  "proxyResources",
  "modelCacheGiB",
  "apiKeys",
  "internalTokenGeneration",
  "gatewayReplicas",
  "gatewayResources",
  "coldStartTimeoutSeconds",
  "minReplicas",
  "maxReplicas",
  "gpuInstanceTypes",
  "gpuCapacityType",
  "gpuNodes",
  "gpuDiskGiB",
  "gpuPools",
  "kubernetesVersion",
  "clusterAdminArns",
  "vpcId",
  "publicSubnetIds",
  "privateSubnetIds",
  "natGateways",
  "systemInstanceType",
];

/** Keys whose value is an object or a list of objects: Pulumi.yaml cannot declare a type for them. */
export const OBJECT_CONFIG_KEYS: readonly string[] = [
  "nodeSelector",
  "tolerations",
  "vllmResources",
  "proxyResources",
  "gpuNodes",
  "gpuPools",
  "apiKeys",
  "gatewayResources",
];

/** vLLM flags the program sets itself; a second copy in `vllmArgs` would break the sidecar wiring. */
const RESERVED_VLLM_FLAGS: Readonly<Record<string, string>> = {
  "--host": "vLLM must bind 127.0.0.1 so that only the auth proxy can reach it",
  "--port": "the proxy expects vLLM on port 8000",
  "--tensor-parallel-size": "it follows `gpusPerReplica`",
  "-tp": "it follows `gpusPerReplica`",
  "--model": "set the `model` key instead",
  "--api-key": "the auth proxy checks tokens; set `tokenCount` instead",
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
    gpuNodes: "{ min: 2, desired: 2, max: 3 }",
    gpuPools: '[{ name: "spot", capacityType: "SPOT" }, { name: "ondemand", desiredSize: 0 }]',
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

interface NodeCounts {
  readonly min: number;
  readonly desired: number;
  readonly max: number;
}

function parseGpuNodes(r: Reader, replicas: number): NodeCounts {
  // One node per replica, and one spare so that a rolling update can surge a pod.
  const fallback: NodeCounts = { min: replicas, desired: replicas, max: replicas + 1 };
  const parsed = r.json("gpuNodes", "an object with min, desired and max");
  if (parsed === undefined) {
    return fallback;
  }
  if (!isRecord(parsed)) {
    r.problem("gpuNodes", `expected an object with min, desired and max, e.g. ${shapeExample("gpuNodes")}.`);
    return fallback;
  }
  const field = (name: keyof NodeCounts): number => {
    const v = parsed[name];
    if (v === undefined) {
      return fallback[name];
    }
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 100) {
      r.problem("gpuNodes", `${name} "${String(v)}" is not a whole number from 0 to 100, e.g. ${shapeExample("gpuNodes")}.`);
      return fallback[name];
    }
    return v;
  };
  const counts = { min: field("min"), desired: field("desired"), max: field("max") };
  if (!(counts.min <= counts.desired && counts.desired <= counts.max) || counts.max < 1) {
    r.problem("gpuNodes", `needs min <= desired <= max and max >= 1 (got min ${counts.min}, desired ${counts.desired}, max ${counts.max}).`);
    return fallback;
  }
  return counts;
}

function parseGpuPools(r: Reader, base: GpuPoolSettings): readonly GpuPoolSettings[] {
  const parsed = r.json("gpuPools", "a list of node pools");
  if (parsed === undefined) {
    return [base];
  }
  if (!Array.isArray(parsed) || parsed.length === 0) {
    r.problem("gpuPools", `expected a non-empty list of node pools, e.g. ${shapeExample("gpuPools")}.`);
    return [base];
  }
  const allowed = new Set(["name", "instanceTypes", "capacityType", "minSize", "desiredSize", "maxSize", "diskGiB"]);
  const pools: GpuPoolSettings[] = [];
  const names = new Set<string>();
  parsed.forEach((item: unknown, i: number) => {
    const where = `pool ${i + 1}`;
    if (!isRecord(item)) {
      r.problem("gpuPools", `${where} is not an object, e.g. ${shapeExample("gpuPools")}.`);
      return;
    }
    const unknown = Object.keys(item).filter((k) => !allowed.has(k));
    if (unknown.length > 0) {
      r.problem("gpuPools", `${where} has unknown field ${unknown.join(", ")}. Fields: ${[...allowed].join(", ")}.`);
    }
    const name = item.name;
    if (typeof name !== "string" || !/^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$/.test(name) || names.has(name)) {
      r.problem("gpuPools", `${where} needs a unique name of lowercase letters, digits and dashes (at most 32), e.g. "spot".`);
      return;
    }
    names.add(name);
    const instanceTypes = item.instanceTypes ?? base.instanceTypes;
    if (!Array.isArray(instanceTypes) || instanceTypes.length === 0 || !instanceTypes.every((t) => typeof t === "string" && INSTANCE_TYPE.test(t))) {
      r.problem("gpuPools", `${where} (${name}) instanceTypes must be a list of EC2 instance types, e.g. ["g6.xlarge"].`);
      return;
    }
    const capacityType = item.capacityType ?? base.capacityType;
    if (capacityType !== "ON_DEMAND" && capacityType !== "SPOT") {
      r.problem("gpuPools", `${where} (${name}) capacityType "${String(capacityType)}" is not allowed. Write ON_DEMAND or SPOT.`);
      return;
    }
    // Pools after the first are fallbacks: empty unless the config says otherwise.
    const first = i === 0;
    const size = (field: "minSize" | "desiredSize" | "maxSize" | "diskGiB", fallback: number, min: number): number | undefined => {
      const v = item[field] ?? fallback;
      if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > 16384) {
        r.problem("gpuPools", `${where} (${name}) ${field} "${String(v)}" must be a whole number of at least ${min}.`);
        return undefined;
      }
      return v;
    };
    const minSize = size("minSize", first ? base.minSize : 0, 0);
    const desiredSize = size("desiredSize", first ? base.desiredSize : 0, 0);
    const maxSize = size("maxSize", base.maxSize, 1);
    const diskGiB = size("diskGiB", base.diskGiB, 20);
    if (minSize === undefined || desiredSize === undefined || maxSize === undefined || diskGiB === undefined) {
      return;
    }
    if (!(minSize <= desiredSize && desiredSize <= maxSize)) {
      r.problem("gpuPools", `${where} (${name}) needs minSize <= desiredSize <= maxSize (got ${minSize}, ${desiredSize}, ${maxSize}).`);
      return;
    }
    pools.push({ name, instanceTypes: instanceTypes as string[], capacityType, minSize, desiredSize, maxSize, diskGiB });
  });
  return pools.length > 0 ? pools : [base];
}

function parseAws(r: Reader, source: ConfigReader, replicas: number, modelCacheGiB: number, target: Target): AwsSettings {
  const instanceTypes = r.stringList("gpuInstanceTypes", DEFAULT_GPU_INSTANCE_TYPES);
  if (instanceTypes.length === 0 || !instanceTypes.every((t) => INSTANCE_TYPE.test(t))) {
    r.problem("gpuInstanceTypes", `expected EC2 instance types such as ${shapeExample("gpuInstanceTypes")}.`);
  }
  const capacityType = r.oneOf("gpuCapacityType", ["ON_DEMAND", "SPOT"] as const, "ON_DEMAND");
  const nodes = parseGpuNodes(r, replicas);
  const diskGiB = r.integer("gpuDiskGiB", 100, 20, 16384, "100");
  if (target === "aws" && diskGiB < modelCacheGiB + 30) {
    r.problem("gpuDiskGiB", `${diskGiB} GiB leaves no room for the vLLM image (about 30 GiB) beside modelCacheGiB (${modelCacheGiB} GiB). Write at least ${modelCacheGiB + 30}.`);
  }
  const base: GpuPoolSettings = {
    name: "gpu",
    instanceTypes: instanceTypes.length > 0 ? instanceTypes : DEFAULT_GPU_INSTANCE_TYPES,
    capacityType,
    minSize: nodes.min,
    desiredSize: nodes.desired,
    maxSize: nodes.max,
    diskGiB,
  };
  const gpuPools = parseGpuPools(r, base);

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
    gpuPools,
    ...(useOwnNetwork ? { vpcId, publicSubnetIds, privateSubnetIds } : {}),
    natGateways,
    systemInstanceType,
  };
}

/** The named API keys; each entry `{name, generation?, rpm?, tpm?, concurrency?}`. */
function parseApiKeys(r: Reader): readonly ApiKeySetting[] {
  const fallback: readonly ApiKeySetting[] = [{ name: "default", generation: 0 }];
  const parsed = r.json("apiKeys", "a list of keys");
  if (parsed === undefined) {
    return fallback;
  }
  if (!Array.isArray(parsed) || !parsed.every(isRecord)) {
    r.problem("apiKeys", 'expected a list of keys, e.g. [{name: alice}, {name: ci-bot, rpm: 60}].');
    return fallback;
  }
  const keys = parsed.map((k) => ({
    name: String(k.name),
    generation: k.generation === undefined ? 0 : Number(k.generation),
    ...(k.rpm !== undefined ? { rpm: Number(k.rpm) } : {}),
    ...(k.tpm !== undefined ? { tpm: Number(k.tpm) } : {}),
    ...(k.concurrency !== undefined ? { concurrency: Number(k.concurrency) } : {}),
  }));
  for (const problem of apiKeysProblems(keys)) r.problem("apiKeys", `${problem}.`);
  return keys;
}

/** Turns raw config into validated `Settings`, or throws one `ConfigError` listing every problem. */
export function parseSettings(read: ConfigReader): Settings {
  const r = new Reader(read);
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

  const replicas = r.integer("replicas", 2, 1, 100, "2");
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

  const tokenCount = r.integer("tokenCount", 1, 1, 20, "2 while rotating");
  const firstTokenId = r.integer("firstTokenId", 0, 0, 100000, "1 after retiring token 0");

  const kubeconfig = r.secret("kubeconfig");
  const kubeContext = r.string("kubeContext");

  const nodeSelector = parseNodeSelector(r);
  const tolerations = parseTolerations(r);
  const vllmResources = parseResources(r, "vllmResources", DEFAULT_VLLM_RESOURCES);
  const proxyResources = parseResources(r, "proxyResources", DEFAULT_PROXY_RESOURCES);
  const modelCacheGiB = r.integer("modelCacheGiB", 40, 1, 4096, "40");

  const aws = parseAws(r, read, replicas, modelCacheGiB, target);

  const apiKeys = parseApiKeys(r);
  const internalTokenGeneration = r.integer("internalTokenGeneration", 0, 0, 100000, "1");
  const gatewayReplicas = r.integer("gatewayReplicas", 2, 1, 20, "2");
  const gatewayResources = parseResources(r, "gatewayResources", DEFAULT_GATEWAY_RESOURCES);
  const coldStartTimeoutSeconds = r.integer("coldStartTimeoutSeconds", 600, 1, 3600, "600");
  const minReplicas = r.integer("minReplicas", replicas, 0, 100, "1");
  const maxReplicas = r.integer("maxReplicas", Math.max(replicas, minReplicas, 1), 1, 100, "2");

  if (r.problems.length > 0) {
    throw new ConfigError(r.problems);
  }
  return {
    target,
    namespace,
    createNamespace,
    model,
    ...(hfToken !== undefined ? { hfToken } : {}),
    replicas,
    gpusPerReplica,
    vllmImage,
    vllmArgs,
    ...(proxyImage !== undefined ? { proxyImage } : {}),
    ...(proxyRegistry !== undefined ? { proxyRegistry } : {}),
    ...(tls !== undefined ? { tls } : {}),
    allowedCidrs,
    tokenCount,
    firstTokenId,
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
    autoscaling: { minReplicas, maxReplicas },
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
