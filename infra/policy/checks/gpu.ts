import { at, describe, list, peek, record, records, ResourceInput, str, strings } from "../values";
import { commandLine, ContainerView, envValues, flagValue, imageRepository, isVllmContainer, podOf } from "../workloads";

export const GPU_RESOURCE = "nvidia.com/gpu";
const NODE_GROUP = "aws:eks/nodeGroup:NodeGroup";
/** Karpenter's NodePool as Pulumi registers the custom resource. */
const NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool";
/** EC2 families with NVIDIA GPUs: g4dn, g5, g5g, g6, g6e, gr6, p3, p4d, p5, ... */
const GPU_INSTANCE = /^(g\d+[a-z]*|gr\d+[a-z]*|p\d+[a-z]*)\./;

function quantity(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "string" && /^\d+$/.test(value.trim())) return Number(value.trim());
  return undefined;
}

/** Whether an EKS managed node group has GPUs, from its AMI type or instance types. */
export function isGpuNodeGroup(props: Readonly<Record<string, unknown>>): boolean {
  const amiType = str(peek(() => props.amiType)) ?? "";
  if (/NVIDIA|GPU/i.test(amiType)) return true;
  return strings(peek(() => props.instanceTypes)).some((type) => GPU_INSTANCE.test(type));
}

/** A vLLM build for CPUs (a `cpu` image, `--device cpu` or VLLM_TARGET_DEVICE=cpu) needs no GPU. */
export function isCpuOnlyVllm(container: ContainerView): boolean {
  const image = str(peek(() => container.raw.image)) ?? "";
  return (
    /(^|[/_-])cpu([/_-]|$)/i.test(imageRepository(image)) ||
    flagValue(commandLine(container), "--device") === "cpu" ||
    envValues(container)["VLLM_TARGET_DEVICE"] === "cpu"
  );
}

function checkPod(resource: ResourceInput): string[] {
  const pod = podOf(resource);
  if (!pod) return [];
  const where = describe(resource);
  return pod.containers.flatMap((container) => {
    const limits = record(at(container.raw, "resources", "limits")) ?? {};
    const requests = record(at(container.raw, "resources", "requests")) ?? {};
    const gpuVllm = isVllmContainer(container, pod) && !isCpuOnlyVllm(container);
    const wantsGpu = gpuVllm || GPU_RESOURCE in limits || GPU_RESOURCE in requests;
    if (!wantsGpu) return [];
    const limit = quantity(limits[GPU_RESOURCE]);
    if (limit === undefined || limit < 1) {
      return [
        `${where}: GPU container "${container.name}" sets no ${GPU_RESOURCE} limit, so the scheduler may place it on a node without a GPU ` +
          `or share one GPU between replicas. Set resources.limits["${GPU_RESOURCE}"] to a whole number of GPUs (1 for Llama-2-7b), ` +
          `or run a CPU build of vLLM (--device cpu) if no GPU is intended.`,
      ];
    }
    const request = requests[GPU_RESOURCE];
    if (request !== undefined && quantity(request) !== limit) {
      return [
        `${where}: container "${container.name}" requests ${String(request)} ${GPU_RESOURCE} but limits ${limit}; extended resources ` +
          `cannot be overcommitted. Drop the request or set it equal to the limit.`,
      ];
    }
    return [];
  });
}

function checkNodeGroup(resource: ResourceInput): string[] {
  if (!isGpuNodeGroup(resource.props)) return [];
  const tainted = records(resource.props.taints).some(
    (taint) => str(taint.key) === GPU_RESOURCE && ["NO_SCHEDULE", "NO_EXECUTE"].includes(str(taint.effect) ?? ""),
  );
  if (tainted) return [];
  const name = str(peek(() => resource.props.nodeGroupName)) ?? resource.name ?? "(unnamed)";
  const existing = list(resource.props.taints).length;
  return [
    `EKS node group "${name}" has GPUs but no ${GPU_RESOURCE} taint${existing > 0 ? " among its taints" : ""}, so any pod can land on ` +
      `(and block) the expensive GPU nodes. Add taints: [{ key: "${GPU_RESOURCE}", value: "true", effect: "NO_SCHEDULE" }] ` +
      `and give the vLLM pods a matching toleration.`,
  ];
}

/**
 * Whether a Karpenter NodePool launches GPU instances: an instance-type requirement naming GPU types,
 * or a requirement on the GPU labels Karpenter sets (`karpenter.k8s.aws/instance-gpu-*`).
 */
export function isGpuNodePool(props: Readonly<Record<string, unknown>>): boolean {
  return records(at(props, "spec", "template", "spec", "requirements")).some((req) => {
    const key = str(req.key) ?? "";
    if (key.startsWith("karpenter.k8s.aws/instance-gpu-")) return str(req.operator) !== "DoesNotExist";
    return key === "node.kubernetes.io/instance-type" && strings(req.values).some((type) => GPU_INSTANCE.test(type));
  });
}

function checkNodePool(resource: ResourceInput): string[] {
  if (!isGpuNodePool(resource.props)) return [];
  const name = str(at(resource.props, "metadata", "name")) ?? resource.name ?? "(unnamed)";
  const problems: string[] = [];
  const tainted = records(at(resource.props, "spec", "template", "spec", "taints")).some(
    (taint) => str(taint.key) === GPU_RESOURCE && ["NoSchedule", "NoExecute"].includes(str(taint.effect) ?? ""),
  );
  if (!tainted) {
    problems.push(
      `Karpenter NodePool "${name}" launches GPU instances without a ${GPU_RESOURCE} taint, so any pending pod can make it buy ` +
        `(and then block) a GPU node. Add spec.template.spec.taints: [{ key: "${GPU_RESOURCE}", value: "true", effect: "NoSchedule" }] ` +
        `and give the vLLM pods a matching toleration.`,
    );
  }
  if (quantity(record(at(resource.props, "spec", "limits"))?.[GPU_RESOURCE]) === undefined) {
    problems.push(
      `Karpenter NodePool "${name}" launches GPU instances with no ${GPU_RESOURCE} limit, so a bug or a flood of requests can buy GPUs ` +
        `without end. Set spec.limits["${GPU_RESOURCE}"] to the most GPUs the stack may run (maxGpus).`,
    );
  }
  return problems;
}

/**
 * Policy 5: GPU containers set `nvidia.com/gpu` limits; GPU node groups and Karpenter GPU NodePools
 * carry the `nvidia.com/gpu` taint, and GPU NodePools cap their GPUs.
 */
export function checkGpuLimitsAndTaints(resource: ResourceInput): string[] {
  if (resource.type === NODE_GROUP) return checkNodeGroup(resource);
  if (resource.type === NODE_POOL) return checkNodePool(resource);
  return checkPod(resource);
}
