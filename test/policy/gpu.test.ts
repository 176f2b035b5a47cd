import { checkGpuLimitsAndTaints, isGpuNodeGroup, isGpuNodePool } from "../../infra/policy/checks/gpu";
import { deployment, nodeGroup, nodePool, proxyContainer, vllmContainer } from "./fixtures";

describe("policy 5: gpu-limits-and-taints", () => {
  it("passes vLLM with a GPU limit and a tainted GPU node group", () => {
    expect(checkGpuLimitsAndTaints(deployment())).toEqual([]);
    expect(checkGpuLimitsAndTaints(nodeGroup())).toEqual([]);
  });

  it("fails vLLM without an nvidia.com/gpu limit and says how to set it", () => {
    const noGpu = vllmContainer({ resources: { limits: { cpu: "4", memory: "24Gi" } } });
    const [message] = checkGpuLimitsAndTaints(deployment({ containers: [noGpu, proxyContainer()] }));
    expect(message).toMatch(/GPU container "vllm" sets no nvidia.com\/gpu limit/);
    expect(message).toMatch(/resources.limits\["nvidia.com\/gpu"\]/);
  });

  it("fails a GPU request without a matching limit, and a zero limit", () => {
    const requestOnly = vllmContainer({ resources: { requests: { "nvidia.com/gpu": 1 } } });
    expect(checkGpuLimitsAndTaints(deployment({ containers: [requestOnly, proxyContainer()] }))).toHaveLength(1);
    const zero = vllmContainer({ resources: { limits: { "nvidia.com/gpu": 0 } } });
    expect(checkGpuLimitsAndTaints(deployment({ containers: [zero, proxyContainer()] }))).toHaveLength(1);
    const mismatch = vllmContainer({ resources: { requests: { "nvidia.com/gpu": "2" }, limits: { "nvidia.com/gpu": "1" } } });
    expect(checkGpuLimitsAndTaints(deployment({ containers: [mismatch, proxyContainer()] }))[0]).toMatch(/cannot be overcommitted/);
  });

  it("does not ask a CPU build of vLLM or the proxy for a GPU", () => {
    const cpu = vllmContainer({ image: "public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.10.1", resources: {} });
    expect(checkGpuLimitsAndTaints(deployment({ containers: [cpu, proxyContainer()] }))).toEqual([]);
    const flagged = vllmContainer({ command: ["vllm", "serve", "m", "--host", "127.0.0.1", "--device", "cpu"], resources: {} });
    expect(checkGpuLimitsAndTaints(deployment({ containers: [flagged, proxyContainer()] }))).toEqual([]);
  });

  it("fails a GPU node group without the nvidia.com/gpu taint and shows the taint to add", () => {
    const [message] = checkGpuLimitsAndTaints(nodeGroup({ taints: [] }));
    expect(message).toMatch(/EKS node group "gpu-l4" has GPUs but no nvidia.com\/gpu taint/);
    expect(message).toMatch(/effect: "NO_SCHEDULE"/);
    const wrongEffect = nodeGroup({ taints: [{ key: "nvidia.com/gpu", value: "true", effect: "PREFER_NO_SCHEDULE" }] });
    expect(checkGpuLimitsAndTaints(wrongEffect)).toHaveLength(1);
    const byInstanceType = nodeGroup({ amiType: "AL2023_x86_64_STANDARD", instanceTypes: ["g5.xlarge"], taints: undefined });
    expect(checkGpuLimitsAndTaints(byInstanceType)).toHaveLength(1);
  });

  it("leaves CPU node groups untainted", () => {
    const system = nodeGroup({ amiType: "BOTTLEROCKET_x86_64", instanceTypes: ["t3.large"], taints: [] });
    expect(checkGpuLimitsAndTaints(system)).toEqual([]);
    expect(isGpuNodeGroup({ amiType: "AL2023_x86_64_NVIDIA" })).toBe(true);
    expect(isGpuNodeGroup({ instanceTypes: ["p5.48xlarge"] })).toBe(true);
    expect(isGpuNodeGroup({ instanceTypes: ["m7i.large", "c7g.xlarge"] })).toBe(false);
  });

  it("passes the aws target's GPU NodePool: tainted and capped", () => {
    expect(checkGpuLimitsAndTaints(nodePool())).toEqual([]);
  });

  it("fails a GPU NodePool without the taint, and one without a GPU limit, each saying what to add", () => {
    const [untainted] = checkGpuLimitsAndTaints(nodePool({}, { taints: [] }));
    expect(untainted).toMatch(/Karpenter NodePool "gpu" launches GPU instances without a nvidia.com\/gpu taint/);
    expect(untainted).toMatch(/effect: "NoSchedule"/);
    const soft = nodePool({}, { taints: [{ key: "nvidia.com/gpu", value: "true", effect: "PreferNoSchedule" }] });
    expect(checkGpuLimitsAndTaints(soft)).toHaveLength(1);
    const [uncapped] = checkGpuLimitsAndTaints(nodePool({ limits: { cpu: 100 } }));
    expect(uncapped).toMatch(/no nvidia.com\/gpu limit, so a bug or a flood of requests can buy GPUs/);
    expect(checkGpuLimitsAndTaints(nodePool({ limits: undefined }, { taints: undefined }))).toHaveLength(2);
  });

  it("tells GPU NodePools from CPU ones by their requirements", () => {
    expect(isGpuNodePool(nodePool().props)).toBe(true);
    const byGpuLabel = nodePool({}, { requirements: [{ key: "karpenter.k8s.aws/instance-gpu-manufacturer", operator: "In", values: ["nvidia"] }] });
    expect(isGpuNodePool(byGpuLabel.props)).toBe(true);
    const cpu = nodePool({ limits: undefined }, { taints: [], requirements: [{ key: "node.kubernetes.io/instance-type", operator: "In", values: ["m7i.large"] }] });
    expect(isGpuNodePool(cpu.props)).toBe(false);
    expect(checkGpuLimitsAndTaints(cpu)).toEqual([]);
  });
});
