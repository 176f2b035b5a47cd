import { parse } from "yaml";
import { mapSecrets } from "../../stacks/manifests";
import {
  LB_HOSTNAME,
  PROXY_DIGEST,
  ProgramRun,
  dependsOn,
  deploymentOf,
  manifests,
  named,
  ofType,
  podSpec,
  runProgram,
  serviceOf,
  single,
  validateManifest,
} from "../pulumi/harness";
import { AWS_MOCKS, DEPLOYER_ROLE_ARN, NLB_ZONE_ID } from "./mocks";
import { AWS_SECRET_KEYS, awsConfig } from "./settings";

/** The inputs of an EKS node group that scheduling depends on. */
interface NodeGroupInputs {
  readonly taints?: readonly { key: string; value: string; effect: string }[];
  readonly labels: Readonly<Record<string, string>>;
}

const nodeGroup = (run: ProgramRun, name: string): NodeGroupInputs =>
  named(run, "aws:eks/nodeGroup:NodeGroup", name).inputs as unknown as NodeGroupInputs;

/** The inputs of Karpenter's GPU NodePool that scheduling depends on. */
interface NodePoolInputs {
  readonly spec: {
    readonly limits: Readonly<Record<string, number>>;
    readonly template: {
      readonly metadata: { readonly labels: Readonly<Record<string, string>> };
      readonly spec: {
        readonly taints: readonly { key: string; value: string; effect: string }[];
        readonly requirements: readonly { key: string; operator: string; values: readonly string[] }[];
      };
    };
  };
}

const nodePool = (run: ProgramRun): NodePoolInputs =>
  named(run, "kubernetes:karpenter.sh/v1:NodePool", "vllm-gpu-nodepool").inputs as unknown as NodePoolInputs;

/** The whole program (stacks/index.ts) as `pulumi up` runs it on the aws target, AWS answered by test/aws/mocks.ts. */
const runAws = (extra: Record<string, string> = {}): Promise<ProgramRun> => runProgram(awsConfig(extra), AWS_SECRET_KEYS, AWS_MOCKS);

describe("the whole program, target aws, default config", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runAws();
  }, 30000);

  it("deploys every Kubernetes object through the new cluster's provider, never the ambient kubeconfig", () => {
    const k8sObjects = run.resources.filter((r) => r.type.startsWith("kubernetes:"));
    expect(k8sObjects.length).toBeGreaterThan(4);
    for (const r of k8sObjects) expect(r.provider).toMatch(/\$pulumi:providers:kubernetes::vllm-k8s::/);
    expect(ofType(run, "pulumi:providers:kubernetes").map((p) => p.name)).toEqual(["vllm-k8s"]);
  });

  it("makes Kubernetes objects the Kubernetes schema knows, field by field", () => {
    const objects = manifests(run);
    expect(objects.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
      "ConfigMap/vllm-auth-endpoint-vllm",
      "ConfigMap/vllm-auth-vllm-vllm",
      "Deployment/vllm",
      "Deployment/vllm-gateway",
      "EC2NodeClass/gpu",
      "Namespace/monitoring",
      "Namespace/vllm",
      "NetworkPolicy/vllm-gateway",
      "NetworkPolicy/vllm-replicas",
      "NodePool/gpu",
      "PodDisruptionBudget/vllm",
      "PodDisruptionBudget/vllm-gateway",
      "PodMonitor/vllm-gateway",
      "PodMonitor/vllm-replicas",
      "ScaledObject/vllm",
      "Secret/grafana-admin",
      "Secret/vllm-api-keys",
      "Secret/vllm-hf-token",
      "Secret/vllm-internal-token",
      "Service/vllm-auth",
      "Service/vllm-replicas",
    ]);
    for (const m of objects) expect(() => validateManifest(m)).not.toThrow();
  });

  it("rolls vLLM out with a surge pod, which Karpenter gives a node, so the ready replicas never drop", () => {
    expect(deploymentOf(run).spec!.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    expect(dependsOn(named(run, "vllm-auth:infra:VllmServer", "vllm"), "kubernetes:karpenter.sh/v1:NodePool", "vllm-gpu-nodepool")).toBe(true);
  });

  it("runs the gateways on the untainted system nodes: no GPU toleration, no GPU node selector", () => {
    const spec = podSpec(deploymentOf(run, "vllm-gateway"));
    expect(spec.tolerations).toBeUndefined();
    expect(spec.nodeSelector).toEqual({ "kubernetes.io/os": "linux" });
    expect(nodeGroup(run, "vllm-system").taints).toBeUndefined();
  });

  it("creates the gateways after the load balancer controller and the NLB Service, so the controller's webhook gives their pods the readiness gate", () => {
    const gateway = named(run, "vllm-auth:infra:Gateway", "vllm-gateway");
    expect(dependsOn(gateway, "kubernetes:core/v1:Service", "vllm-auth-service")).toBe(true);
    expect(dependsOn(gateway, "kubernetes:helm.sh/v3:Release", "vllm-lbc-release")).toBe(true);
    const ns = manifests(run).find((m) => m.kind === "Namespace")!;
    expect((ns.metadata.labels as Record<string, string>)["elbv2.k8s.aws/pod-readiness-gate-inject"]).toBe("enabled");
  });

  it("schedules vLLM only where Karpenter's GPU nodes are: the taint is tolerated, the selector matches, the GPU is asked for", () => {
    const template = nodePool(run).spec.template;
    const spec = podSpec(deploymentOf(run));
    for (const taint of template.spec.taints) {
      const tolerated = (spec.tolerations ?? []).some(
        (t) => t.key === taint.key && (t.operator === "Exists" || t.value === taint.value) && (t.effect === undefined || t.effect === taint.effect),
      );
      expect(tolerated).toBe(true);
    }
    for (const [key, value] of Object.entries(spec.nodeSelector ?? {})) {
      expect(template.metadata.labels[key]).toBe(value);
    }
    const vllm = spec.containers.find((c) => c.resources?.limits?.["nvidia.com/gpu"] !== undefined);
    expect(vllm).toBeDefined();
  });

  it("leaves Karpenter room for maxReplicas replicas plus a surge pod, and no more", () => {
    const spec = podSpec(deploymentOf(run));
    const gpusPerPod = spec.containers.reduce((n, c) => n + Number(c.resources?.limits?.["nvidia.com/gpu"] ?? 0), 0);
    expect(nodePool(run).spec.limits["nvidia.com/gpu"]).toBe((2 + 1) * gpusPerPod);
  });

  it("sizes the GPU nodes' data volume for the model cache plus the vLLM image", () => {
    const nodeClass = named(run, "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", "vllm-gpu-nodeclass").inputs as {
      spec: { blockDeviceMappings: { deviceName: string; ebs: { volumeSize: string } }[] };
    };
    const data = nodeClass.spec.blockDeviceMappings.find((d) => d.deviceName === "/dev/xvdb");
    const cache = (podSpec(deploymentOf(run)).volumes ?? []).find((v) => v.name === "model-cache");
    const cacheGiB = Number(/^(\d+)Gi$/.exec(String(cache?.emptyDir?.sizeLimit))?.[1]);
    expect(cacheGiB).toBeGreaterThan(0);
    expect(Number(/^(\d+)Gi$/.exec(String(data?.ebs.volumeSize))?.[1])).toBeGreaterThanOrEqual(cacheGiB + 30);
  });

  it("runs the proxy image built and pushed to ECR, pinned by digest, as sidecar and as gateway", () => {
    const image = `123456789012.dkr.ecr.us-east-1.amazonaws.com/vllm-proxy-repo@${PROXY_DIGEST}`;
    const proxy = podSpec(deploymentOf(run)).containers.find((c) => String(c.image).includes(".dkr.ecr."));
    expect(proxy?.image).toBe(image);
    expect(podSpec(deploymentOf(run, "vllm-gateway")).containers.map((c) => c.image)).toEqual([image]);
  });

  it("asks for an NLB the installed AWS Load Balancer Controller can build", () => {
    expect(serviceOf(run).metadata?.annotations?.["service.beta.kubernetes.io/aws-load-balancer-type"]).toBe("external");
    expect(named(run, "kubernetes:helm.sh/v3:Release", "vllm-lbc-release").inputs.chart).toBe("aws-load-balancer-controller");
  });

  it("exports the endpoint, secret keys, a secret kubeconfig that calls aws eks get-token, and the cluster's name", () => {
    expect(run.outputs.endpoint).toEqual({ value: LB_HOSTNAME, secret: false });
    expect(run.outputs.token.secret).toBe(true);
    expect(run.outputs.apiKeys.secret).toBe(true);
    expect(Object.keys(run.outputs.apiKeys.value as object)).toEqual(["default"]);
    expect(run.outputs.kubeconfig.secret).toBe(true);
    const kubeconfig = parse(run.outputs.kubeconfig.value as string);
    expect(kubeconfig.users[0].user.exec.args).toContain("get-token");
    expect(run.outputs.clusterName).toEqual({ value: "vllm-eks-c0ffee", secret: false });
    expect(kubeconfig.users[0].user.exec.args).toContain("vllm-eks-c0ffee");
  });

  it("creates the cluster on the default Kubernetes version, 1.36, with its pinned add-ons", () => {
    const version = named(run, "aws:eks/cluster:Cluster", "vllm-eks").inputs.version;
    expect(version).toBe("1.36");
    const kubeProxy = ofType(run, "aws:eks/addon:Addon").find((a) => a.inputs.addonName === "kube-proxy");
    expect(String(kubeProxy?.inputs.addonVersion)).toMatch(/^v1\.36\./);
  });

  it("makes the deploying identity's role the cluster admin", () => {
    const admins = ofType(run, "aws:eks/accessEntry:AccessEntry").filter((e) => e.inputs.type === "STANDARD");
    expect(admins.map((e) => [e.name, e.inputs.principalArn])).toEqual([["vllm-admin", DEPLOYER_ROLE_ARN]]);
  });

  it("keeps the Hugging Face token and the API key out of every plain-text input", () => {
    const key = run.outputs.token.value as string;
    expect(key).toMatch(/^vllmauth_/);
    for (const r of run.resources) {
      const plain = JSON.stringify(mapSecrets(r.inputs, () => "[secret]"));
      expect(plain).not.toContain("hf_testtoken_0123456789");
      expect(plain).not.toContain(key);
    }
  });
});

describe("the whole program, target aws, Route 53 TLS, prebuilt proxy, spot only, named admins", () => {
  const admins = ["arn:aws:iam::123456789012:role/vllm-auth-deploy", "arn:aws:iam::123456789012:user/alice"];
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runAws({
      "vllm-auth:domain": "llm.example.com",
      "vllm-auth:hostedZoneId": "Z0123456789ABCDEFGHIJ",
      "vllm-auth:proxyImage": "ghcr.io/acme/vllm-auth-proxy:0.1.0",
      "vllm-auth:gpuCapacityTypes": '["spot"]',
      "vllm-auth:minReplicas": "2",
      "vllm-auth:maxReplicas": "3",
      "vllm-auth:clusterAdminArns": JSON.stringify(admins),
    });
  }, 30000);

  it("terminates TLS on the NLB with the certificate the program issued and validated", () => {
    expect(serviceOf(run).metadata?.annotations?.["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"]).toBe(
      "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555",
    );
    expect(single(run, "aws:acm/certificateValidation:CertificateValidation")).toBeDefined();
  });

  it("points the domain at the load balancer and exports the domain as the endpoint", () => {
    const alias = named(run, "aws:route53/record:Record", "vllm-dns-alias").inputs;
    expect(alias.aliases).toEqual([{ name: LB_HOSTNAME, zoneId: NLB_ZONE_ID, evaluateTargetHealth: true }]);
    expect(run.outputs.endpoint.value).toBe("llm.example.com");
  });

  it("builds no image and runs the prebuilt proxy", () => {
    expect(ofType(run, "docker-build:index:Image")).toHaveLength(0);
    expect(podSpec(deploymentOf(run)).containers.map((c) => c.image)).toContain("ghcr.io/acme/vllm-auth-proxy:0.1.0");
    expect(podSpec(deploymentOf(run, "vllm-gateway")).containers.map((c) => c.image)).toEqual(["ghcr.io/acme/vllm-auth-proxy:0.1.0"]);
  });

  it("lets Karpenter launch spot only, with room for maxReplicas plus a surge pod", () => {
    const pool = nodePool(run).spec;
    expect(pool.template.spec.requirements.find((r) => r.key === "karpenter.sh/capacity-type")?.values).toEqual(["spot"]);
    expect(pool.limits["nvidia.com/gpu"]).toBe(4);
  });

  it("makes the listed admins cluster admin without asking who runs the program", () => {
    const principals = ofType(run, "aws:eks/accessEntry:AccessEntry")
      .filter((e) => e.inputs.type === "STANDARD")
      .map((e) => e.inputs.principalArn);
    expect(principals.sort()).toEqual(admins);
    expect(run.calls).not.toContain("aws:iam/getSessionContext:getSessionContext");
  });
});
