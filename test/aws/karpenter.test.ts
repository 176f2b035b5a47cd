import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { EC2NodeClass } from "@kubernetes-models/karpenter/karpenter.k8s.aws/v1/EC2NodeClass";
import { NodePool } from "@kubernetes-models/karpenter/karpenter.sh/v1/NodePool";
import {
  ADDED_STATEMENTS,
  BOTTLEROCKET_ALIAS,
  GpuNodePool,
  INTERRUPTION_RULES,
  KARPENTER_NODE_POLICIES,
  Karpenter,
  PolicyDocument,
  PolicyStatement,
  ec2NodeClassSpec,
  gpuNodePoolProblems,
  interruptionQueuePolicy,
  karpenterControllerPolicies,
  karpenterValues,
  nodePoolSpec,
  parseClusterArn,
} from "../../infra/aws";
import { validateStrictly } from "../pulumi/schema";
import { ACCOUNT, RecordingMocks, REGION, installMocks, settle } from "./mocks";

const CLUSTER_ARN = `arn:aws:eks:${REGION}:${ACCOUNT}:cluster/vllm-eks-c0ffee`;
const NODE_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/vllm-karpenter-node`;
const QUEUE_ARN = `arn:aws:sqs:${REGION}:${ACCOUNT}:vllm-karpenter-interruptions`;

/**
 * The controller's actions per policy in Karpenter's v1.15 CloudFormation reference
 * (karpenter-provider-aws website/content/en/v1.15/reference/cloudformation.md, "Controller Authorization"),
 * transcribed statement by statement. The zonal shift policy is left out on purpose (OMITTED_REFERENCE_POLICIES).
 */
const REFERENCE_ACTIONS: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>> = {
  KarpenterControllerNodeLifecyclePolicy: {
    AllowScopedEC2InstanceAccessActions: ["ec2:RunInstances", "ec2:CreateFleet"],
    AllowScopedEC2LaunchTemplateAccessActions: ["ec2:RunInstances", "ec2:CreateFleet"],
    AllowScopedEC2InstanceActionsWithTags: ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
    AllowScopedResourceCreationTagging: ["ec2:CreateTags"],
    AllowScopedResourceTagging: ["ec2:CreateTags"],
    AllowScopedDeletion: ["ec2:TerminateInstances", "ec2:RebootInstances", "ec2:DeleteLaunchTemplate"],
  },
  KarpenterControllerIAMIntegrationPolicy: {
    AllowPassingInstanceRole: ["iam:PassRole"],
    AllowScopedInstanceProfileCreationActions: ["iam:CreateInstanceProfile"],
    AllowScopedInstanceProfileTagActions: ["iam:TagInstanceProfile"],
    AllowScopedInstanceProfileActions: ["iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"],
  },
  KarpenterControllerEKSIntegrationPolicy: { AllowAPIServerEndpointDiscovery: ["eks:DescribeCluster"] },
  KarpenterControllerInterruptionPolicy: {
    AllowInterruptionQueueActions: ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
  },
  KarpenterControllerResourceDiscoveryPolicy: {
    AllowRegionalReadActions: [
      "ec2:DescribeCapacityReservations", "ec2:DescribeImages", "ec2:DescribeInstances", "ec2:DescribeInstanceStatus",
      "ec2:DescribeInstanceTypeOfferings", "ec2:DescribeInstanceTypes", "ec2:DescribeLaunchTemplates",
      "ec2:DescribePlacementGroups", "ec2:DescribeSecurityGroups", "ec2:DescribeSpotPriceHistory", "ec2:DescribeSubnets",
    ],
    AllowSSMReadActions: ["ssm:GetParameter"],
    AllowPricingReadActions: ["pricing:GetProducts"],
    AllowUnscopedInstanceProfileListAction: ["iam:ListInstanceProfiles"],
    AllowInstanceProfileReadActions: ["iam:GetInstanceProfile"],
  },
};

const actionsOf = (s: PolicyStatement): string[] => (typeof s.Action === "string" ? [s.Action] : [...s.Action]);
const resourcesOf = (s: PolicyStatement): string[] => (s.Resource === undefined ? [] : typeof s.Resource === "string" ? [s.Resource] : [...s.Resource]);
const statement = (d: PolicyDocument, sid: string): PolicyStatement => {
  const found = d.Statement.find((s) => s.Sid === sid);
  if (!found) throw new Error(`no statement ${sid}`);
  return found;
};

describe("the Karpenter controller's IAM policies", () => {
  const policies = karpenterControllerPolicies(parseClusterArn(CLUSTER_ARN), NODE_ROLE_ARN, QUEUE_ARN);

  it("grant exactly the actions of Karpenter 1.15's reference policies, statement by statement, plus the listed additions", () => {
    const ours = Object.fromEntries(
      Object.entries(policies).map(([name, d]) => [
        name,
        Object.fromEntries(d.Statement.filter((s) => !((s.Sid ?? "") in ADDED_STATEMENTS)).map((s) => [s.Sid, actionsOf(s)])),
      ]),
    );
    expect(ours).toEqual(REFERENCE_ACTIONS);
    expect(Object.keys(ADDED_STATEMENTS)).toEqual(["AllowSpotServiceLinkedRoleCreation"]);
  });

  it("may create EC2's spot service-linked role and no other role, so a new account's first spot launch works", () => {
    const slr = statement(policies.KarpenterControllerIAMIntegrationPolicy, "AllowSpotServiceLinkedRoleCreation");
    expect(actionsOf(slr)).toEqual(["iam:CreateServiceLinkedRole"]);
    expect(slr.Resource).toBe(`arn:aws:iam::${ACCOUNT}:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot`);
    expect(slr.Condition).toEqual({ StringEquals: { "iam:AWSServiceName": "spot.amazonaws.com" } });
  });

  it("let the controller launch, tag and delete only what carries this cluster's ownership tag", () => {
    const lifecycle = policies.KarpenterControllerNodeLifecyclePolicy;
    for (const sid of ["AllowScopedEC2InstanceActionsWithTags", "AllowScopedResourceCreationTagging"]) {
      expect(statement(lifecycle, sid).Condition?.StringEquals).toMatchObject({
        "aws:RequestTag/kubernetes.io/cluster/vllm-eks-c0ffee": "owned",
        "aws:RequestTag/eks:eks-cluster-name": "vllm-eks-c0ffee",
      });
    }
    expect(statement(lifecycle, "AllowScopedDeletion").Condition?.StringEquals).toEqual({
      "aws:ResourceTag/kubernetes.io/cluster/vllm-eks-c0ffee": "owned",
    });
    for (const s of lifecycle.Statement) for (const r of resourcesOf(s)) expect(r).toMatch(/^arn:aws:ec2:us-east-1:/);
  });

  it("pass only the node role, only to EC2, and read only this queue and this cluster", () => {
    const pass = statement(policies.KarpenterControllerIAMIntegrationPolicy, "AllowPassingInstanceRole");
    expect(pass.Resource).toBe(NODE_ROLE_ARN);
    expect(pass.Condition).toEqual({ StringEquals: { "iam:PassedToService": ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"] } });
    expect(statement(policies.KarpenterControllerInterruptionPolicy, "AllowInterruptionQueueActions").Resource).toBe(QUEUE_ARN);
    expect(statement(policies.KarpenterControllerEKSIntegrationPolicy, "AllowAPIServerEndpointDiscovery").Resource).toBe(CLUSTER_ARN);
    for (const s of policies.KarpenterControllerIAMIntegrationPolicy.Statement.filter((s) => s.Sid?.includes("InstanceProfile"))) {
      expect(s.Resource).toBe(`arn:aws:iam::${ACCOUNT}:instance-profile/*`);
    }
  });

  it("each fit IAM's 6,144-character limit for a managed policy", () => {
    for (const d of Object.values(policies)) expect(JSON.stringify(d).length).toBeLessThan(6144);
  });

  it("take the partition, region and account from the cluster's ARN, and refuse anything else", () => {
    expect(parseClusterArn("arn:aws-cn:eks:cn-north-1:123456789012:cluster/a-b_c")).toEqual({
      partition: "aws-cn",
      region: "cn-north-1",
      accountId: "123456789012",
      clusterName: "a-b_c",
    });
    expect(() => parseClusterArn("arn:aws:iam::123456789012:role/x")).toThrow("is not an EKS cluster ARN");
  });
});

describe("the interruption queue", () => {
  it("takes messages only from EventBridge and SQS, and refuses every request without TLS", () => {
    const policy = interruptionQueuePolicy(QUEUE_ARN);
    expect(policy.Statement[0]).toEqual({
      Effect: "Allow",
      Principal: { Service: ["events.amazonaws.com", "sqs.amazonaws.com"] },
      Action: "sqs:SendMessage",
      Resource: QUEUE_ARN,
    });
    expect(policy.Statement[1]).toMatchObject({ Sid: "DenyHTTP", Effect: "Deny", Action: "sqs:*", Principal: "*" });
    expect(policy.Statement[1].Condition).toEqual({ Bool: { "aws:SecureTransport": "false" } });
  });

  it("is fed the reference's five EventBridge patterns: health, spot interruption, rebalance, state change, reservation interruption", () => {
    expect(INTERRUPTION_RULES).toEqual({
      ScheduledChangeRule: { source: ["aws.health"], "detail-type": ["AWS Health Event"] },
      SpotInterruptionRule: { source: ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"] },
      RebalanceRule: { source: ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"] },
      InstanceStateChangeRule: { source: ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"] },
      CapacityReservationInterruptionRule: { source: ["aws.ec2"], "detail-type": ["EC2 Capacity Reservation Instance Interruption Warning"] },
    });
  });
});

describe("the GPU NodePool and EC2NodeClass", () => {
  const pool = { instanceTypes: ["g6.xlarge", "g5.xlarge"], capacityTypes: ["spot", "on-demand"] as const, maxGpus: 3 };
  const nodePool = () => new NodePool({ metadata: { name: "gpu" }, spec: nodePoolSpec(pool) } as unknown as ConstructorParameters<typeof NodePool>[0]);
  const nodeClass = (diskGiB = 100) =>
    new EC2NodeClass({
      metadata: { name: "gpu" },
      spec: ec2NodeClassSpec({
        nodeRoleName: "vllm-karpenter-node",
        subnetSelectorTerms: [{ tags: { "karpenter.sh/discovery": "vllm-0a1b2c3d" } }],
        securityGroupSelectorTerms: [{ tags: { "karpenter.sh/discovery": "vllm-0a1b2c3d" } }],
        diskGiB,
        tags: { "vllm-auth:stack": "dev" },
      }),
    } as unknown as ConstructorParameters<typeof EC2NodeClass>[0]);

  it("are what Karpenter's CRD schemas define, field by field", () => {
    expect(() => validateStrictly(nodePool(), "NodePool gpu")).not.toThrow();
    expect(() => validateStrictly(nodeClass(), "EC2NodeClass gpu")).not.toThrow();
  });

  it("cap the pool at maxGpus GPUs, spot first with on-demand allowed, only the configured x86_64 types", () => {
    const spec = nodePool().spec;
    expect(spec?.limits).toEqual({ "nvidia.com/gpu": 3 });
    const requirements = Object.fromEntries((spec?.template.spec.requirements ?? []).map((r) => [r.key, [r.operator, r.values]]));
    expect(requirements).toEqual({
      "node.kubernetes.io/instance-type": ["In", ["g6.xlarge", "g5.xlarge"]],
      "karpenter.sh/capacity-type": ["In", ["spot", "on-demand"]],
      "kubernetes.io/arch": ["In", ["amd64"]],
      "kubernetes.io/os": ["In", ["linux"]],
    });
  });

  it("taint and label GPU nodes so that only GPU pods land there", () => {
    const template = nodePool().spec?.template;
    expect(template?.spec.taints).toEqual([{ key: "nvidia.com/gpu", value: "true", effect: "NoSchedule" }]);
    expect(template?.metadata?.labels).toEqual({ "nvidia.com/gpu.present": "true" });
    expect(template?.spec.nodeClassRef).toEqual({ group: "karpenter.k8s.aws", kind: "EC2NodeClass", name: "gpu" });
  });

  it("remove only empty nodes, after 10 minutes, never a serving one: no expiry, no drift replacement", () => {
    const spec = nodePool().spec;
    expect(spec?.disruption).toEqual({
      consolidationPolicy: "WhenEmpty",
      consolidateAfter: "10m",
      budgets: [
        { nodes: "100%", reasons: ["Empty"] },
        { nodes: "0", reasons: ["Drifted"] },
      ],
    });
    expect(spec?.template.spec.expireAfter).toBe("Never");
  });

  it("launch pinned Bottlerocket (never latest), IMDSv2 with hop limit 1, the data volume sized to gpuDiskGiB", () => {
    const spec = nodeClass(120).spec;
    expect(spec?.amiSelectorTerms).toEqual([{ alias: BOTTLEROCKET_ALIAS }]);
    expect(BOTTLEROCKET_ALIAS).toMatch(/^bottlerocket@v\d+\.\d+\.\d+$/);
    expect(spec?.metadataOptions).toEqual({ httpEndpoint: "enabled", httpProtocolIPv6: "disabled", httpPutResponseHopLimit: 1, httpTokens: "required" });
    expect(spec?.blockDeviceMappings).toEqual([
      { deviceName: "/dev/xvda", ebs: { volumeSize: "6Gi", volumeType: "gp3", encrypted: true, deleteOnTermination: true } },
      { deviceName: "/dev/xvdb", ebs: { volumeSize: "120Gi", volumeType: "gp3", encrypted: true, deleteOnTermination: true } },
    ]);
    expect(spec?.role).toBe("vllm-karpenter-node");
  });

  it("refuse a pool that could not run the model, each problem saying what to write", () => {
    expect(gpuNodePoolProblems({ instanceTypes: ["g6.xlarge"], capacityTypes: ["on-demand"], maxGpus: 1, diskGiB: 100 })).toEqual([]);
    expect(gpuNodePoolProblems({ instanceTypes: [], capacityTypes: [], maxGpus: 0, diskGiB: 40 })).toEqual([
      "instanceTypes is empty; list at least one GPU type such as g6.xlarge",
      'capacityTypes is empty; write ["spot", "on-demand"], ["on-demand"] or ["spot"]',
      "maxGpus 0 must be a whole number >= 1",
      "diskGiB 40 must be a whole number from 50 to 16384: the vLLM image alone takes about 30 GiB unpacked, and the model cache lives on the same volume",
    ]);
    expect(gpuNodePoolProblems({ instanceTypes: ["p3.2xlarge", "m5.large", "g5.xlarge", "g5.xlarge"], capacityTypes: ["spot"], maxGpus: 2, diskGiB: 100 })).toEqual([
      expect.stringContaining('"p3.2xlarge" is not an x86_64 NVIDIA GPU type'),
      expect.stringContaining('"m5.large" is not an x86_64 NVIDIA GPU type'),
      "instanceTypes lists a type twice",
    ]);
  });
});

describe("the controller's Helm values", () => {
  const values = karpenterValues({
    clusterName: "vllm-eks-c0ffee",
    queueName: "vllm-karpenter-interruptions-5f5f5f",
    region: "us-east-1",
    replicas: 2,
    systemNodeSelector: { "vllm-auth.dev/pool": "system" },
  });

  it("name the cluster and the interruption queue, as the getting-started guide does", () => {
    expect(values.settings).toEqual({ clusterName: "vllm-eks-c0ffee", interruptionQueue: "vllm-karpenter-interruptions-5f5f5f" });
  });

  it("run the controller on the system nodes, as the ServiceAccount Pod Identity knows, with requests and the guide's limits", () => {
    expect(values.nodeSelector).toEqual({ "kubernetes.io/os": "linux", "vllm-auth.dev/pool": "system" });
    expect(values.serviceAccount).toEqual({ create: true, name: "karpenter" });
    expect(values.controller).toEqual({
      resources: { requests: { cpu: "250m", memory: "512Mi" }, limits: { cpu: "1", memory: "1Gi" } },
      env: [{ name: "AWS_REGION", value: "us-east-1" }],
    });
    expect(values.replicas).toBe(2);
  });
});

describe("Karpenter and the GPU pool under mocks", () => {
  let mocks: RecordingMocks;
  beforeAll(async () => {
    mocks = await installMocks();
    const provider = new k8s.Provider("test-k8s", { kubeconfig: "{}" });
    const karpenter = new Karpenter("vllm-karpenter", {
      provider,
      clusterName: "vllm-eks-c0ffee",
      clusterArn: CLUSTER_ARN,
      region: REGION,
      systemNodeSelector: { "vllm-auth.dev/pool": "system" },
      tags: { "vllm-auth:stack": "test" },
    });
    new GpuNodePool("vllm-gpu", {
      provider,
      nodeRoleName: karpenter.nodeRoleName,
      instanceTypes: ["g6.xlarge", "g5.xlarge"],
      capacityTypes: ["spot", "on-demand"],
      maxGpus: 3,
      diskGiB: 100,
      subnetSelectorTerms: [{ tags: { "karpenter.sh/discovery": "vllm-0a1b2c3d" } }],
      securityGroupSelectorTerms: pulumi.output([{ tags: { "karpenter.sh/discovery": "vllm-0a1b2c3d" } }]),
      dependsOn: [karpenter.release, karpenter.nodeAccess],
    });
    await settle(mocks);
  });

  const helm = "kubernetes:helm.sh/v3:Release";
  const inputs = (type: string, name: string) => mocks.named(type, name).inputs as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

  it("installs the pinned chart from Karpenter's OCI registry, its CRDs from the CRD chart at the same version", () => {
    expect(inputs(helm, "vllm-karpenter-crd")).toMatchObject({
      chart: "oci://public.ecr.aws/karpenter/karpenter-crd",
      version: "1.15.0",
      namespace: "kube-system",
    });
    expect(inputs(helm, "vllm-karpenter-release")).toMatchObject({
      chart: "oci://public.ecr.aws/karpenter/karpenter",
      version: "1.15.0",
      namespace: "kube-system",
      skipCrds: true,
      values: { settings: { clusterName: "vllm-eks-c0ffee", interruptionQueue: "vllm-karpenter-interruptions-5f5f5f" } },
    });
  });

  it("creates the CRDs, then the controller, then the EC2NodeClass, then the NodePool", () => {
    expect(mocks.waitsFor(`${helm}::vllm-karpenter-release`, `${helm}::vllm-karpenter-crd`)).toBe(true);
    expect(mocks.waitsFor("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass::vllm-gpu-nodeclass", `${helm}::vllm-karpenter-release`)).toBe(true);
    expect(mocks.waitsFor("kubernetes:karpenter.sh/v1:NodePool::vllm-gpu-nodepool", `${helm}::vllm-karpenter-release`)).toBe(true);
    expect(mocks.waitsFor("kubernetes:karpenter.sh/v1:NodePool::vllm-gpu-nodepool", "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass::vllm-gpu-nodeclass")).toBe(true);
    expect(mocks.waitsFor("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass::vllm-gpu-nodeclass", "aws:eks/accessEntry:AccessEntry::vllm-karpenter-node")).toBe(true);
  });

  it("starts the controller only once its Pod Identity, its policies and the queue's rules exist", () => {
    const release = `${helm}::vllm-karpenter-release`;
    expect(mocks.waitsFor(release, "aws:eks/podIdentityAssociation:PodIdentityAssociation::vllm-karpenter-controller")).toBe(true);
    for (const p of ["NodeLifecycle", "IAMIntegration", "EKSIntegration", "Interruption", "ResourceDiscovery"]) {
      expect(mocks.waitsFor(release, `aws:iam/rolePolicyAttachment:RolePolicyAttachment::vllm-karpenter-KarpenterController${p}Policy`)).toBe(true);
    }
    for (const rule of Object.keys(INTERRUPTION_RULES)) {
      expect(mocks.waitsFor(release, `aws:cloudwatch/eventTarget:EventTarget::vllm-karpenter-${rule}`)).toBe(true);
    }
  });

  it("gives the controller its role through EKS Pod Identity, on the chart's ServiceAccount", () => {
    expect(inputs("aws:eks/podIdentityAssociation:PodIdentityAssociation", "vllm-karpenter-controller")).toMatchObject({
      clusterName: "vllm-eks-c0ffee",
      namespace: "kube-system",
      serviceAccount: "karpenter",
      roleArn: `arn:aws:iam::${ACCOUNT}:role/vllm-karpenter-controller`,
    });
    const trust = JSON.parse(inputs("aws:iam/role:Role", "vllm-karpenter-controller").assumeRolePolicy);
    expect(trust.Statement).toEqual([
      { Effect: "Allow", Principal: { Service: "pods.eks.amazonaws.com" }, Action: ["sts:AssumeRole", "sts:TagSession"] },
    ]);
    const policy = JSON.parse(inputs("aws:iam/policy:Policy", "vllm-karpenter-KarpenterControllerIAMIntegrationPolicy").policy);
    expect(policy.Statement[0].Resource).toBe(`arn:aws:iam::${ACCOUNT}:role/vllm-karpenter-node`);
  });

  it("lets the node role's nodes join through an EC2_LINUX access entry, with the reference's four managed policies", () => {
    expect(inputs("aws:eks/accessEntry:AccessEntry", "vllm-karpenter-node")).toMatchObject({
      clusterName: "vllm-eks-c0ffee",
      principalArn: `arn:aws:iam::${ACCOUNT}:role/vllm-karpenter-node`,
      type: "EC2_LINUX",
    });
    expect(inputs("aws:iam/role:Role", "vllm-karpenter-node").assumeRolePolicy).toContain("ec2.amazonaws.com");
    const attached = mocks
      .ofType("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
      .filter((a) => a.name.startsWith("vllm-karpenter-node-"))
      .map((a) => String(a.inputs.policyArn).replace("arn:aws:iam::aws:policy/", ""));
    expect(attached.sort()).toEqual([...KARPENTER_NODE_POLICIES].sort());
  });

  it("routes every interruption rule to the encrypted 5-minute queue, which only EventBridge and SQS may write", () => {
    expect(inputs("aws:sqs/queue:Queue", "vllm-karpenter-interruptions")).toMatchObject({ messageRetentionSeconds: 300, sqsManagedSseEnabled: true });
    const queueArn = `arn:aws:sqs:${REGION}:${ACCOUNT}:vllm-karpenter-interruptions-5f5f5f`;
    for (const [rule, pattern] of Object.entries(INTERRUPTION_RULES)) {
      expect(JSON.parse(inputs("aws:cloudwatch/eventRule:EventRule", `vllm-karpenter-${rule}`).eventPattern)).toEqual(pattern);
      expect(inputs("aws:cloudwatch/eventTarget:EventTarget", `vllm-karpenter-${rule}`)).toMatchObject({
        rule: `vllm-karpenter-${rule}-rule`,
        arn: queueArn,
      });
    }
    const queuePolicy = JSON.parse(inputs("aws:sqs/queuePolicy:QueuePolicy", "vllm-karpenter-interruptions").policy);
    expect(queuePolicy).toEqual(interruptionQueuePolicy(queueArn));
  });

  it("makes the NodePool and EC2NodeClass through the cluster's provider, named gpu, with the node role", () => {
    const nodePoolRes = mocks.named("kubernetes:karpenter.sh/v1:NodePool", "vllm-gpu-nodepool");
    const nodeClassRes = mocks.named("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", "vllm-gpu-nodeclass");
    for (const r of [nodePoolRes, nodeClassRes]) expect(r.provider).toContain("::test-k8s::");
    expect(nodeClassRes.inputs).toMatchObject({ metadata: { name: "gpu" }, spec: { role: "vllm-karpenter-node" } });
    expect(nodePoolRes.inputs).toMatchObject({ metadata: { name: "gpu" }, spec: { limits: { "nvidia.com/gpu": 3 } } });
  });

  it("tags every taggable AWS resource with the stack's tags", () => {
    const taggable = mocks.resources.filter((r) => r.type.startsWith("aws:") && "tags" in r.inputs);
    expect(taggable.length).toBeGreaterThan(10);
    for (const r of taggable) expect(r.inputs.tags).toMatchObject({ "vllm-auth:stack": "test" });
  });
});
