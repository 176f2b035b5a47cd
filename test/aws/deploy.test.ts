import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { isSecretEnvelope } from "../../stacks/manifests";
import type { ServingDeps, ServingOutputs } from "../../stacks/serving";
import type { Settings } from "../../stacks/settings";
import { PROXY_DIGEST, mockCall, reveal, valueOf } from "../pulumi/harness";
import { AWS_MOCKS, CALLER_ARN, DEPLOYER_ROLE_ARN, ECR_PASSWORD, NLB_ZONE_ID, RecordingMocks, ZONES, installMocks, settle } from "./mocks";
import { settingsFor } from "./settings";

/** The serving stack is another component's job: here it only records what the aws target hands it. */
const servingCalls: { settings: Settings; deps: ServingDeps }[] = [];
const NLB_HOSTNAME = "k8s-vllm-vllm-0123456789-0123456789abcdef.elb.us-east-1.amazonaws.com";
jest.mock(
  "../../stacks/serving",
  () => ({
    deployServing: (settings: Settings, deps: ServingDeps): ServingOutputs => {
      servingCalls.push({ settings, deps });
      const out = pulumi.output;
      return {
        endpoint: out(settings.tls?.domain ?? NLB_HOSTNAME),
        url: out(`http://${NLB_HOSTNAME}`),
        openaiBaseUrl: out(`http://${NLB_HOSTNAME}/v1`),
        token: pulumi.secret("token-0"),
        apiKeys: pulumi.secret<Record<string, string>>({ default: "token-0" }),
        loadBalancerHostname: out(NLB_HOSTNAME),
        model: settings.model,
        namespace: out(settings.namespace),
      };
    },
  }),
  { virtual: true },
);

import { AwsOutputs, deployAws } from "../../stacks/aws";

const T = {
  vpc: "aws:ec2/vpc:Vpc",
  subnet: "aws:ec2/subnet:Subnet",
  nat: "aws:ec2/natGateway:NatGateway",
  eip: "aws:ec2/eip:Eip",
  routeTable: "aws:ec2/routeTable:RouteTable",
  endpoint: "aws:ec2/vpcEndpoint:VpcEndpoint",
  cluster: "aws:eks/cluster:Cluster",
  addon: "aws:eks/addon:Addon",
  accessEntry: "aws:eks/accessEntry:AccessEntry",
  accessPolicy: "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
  nodeGroup: "aws:eks/nodeGroup:NodeGroup",
  launchTemplate: "aws:ec2/launchTemplate:LaunchTemplate",
  role: "aws:iam/role:Role",
  attachment: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
  podIdentity: "aws:eks/podIdentityAssociation:PodIdentityAssociation",
  release: "kubernetes:helm.sh/v3:Release",
  k8sProvider: "pulumi:providers:kubernetes",
  repo: "aws:ecr/repository:Repository",
  lifecycle: "aws:ecr/lifecyclePolicy:LifecyclePolicy",
  image: "docker-build:index:Image",
  cert: "aws:acm/certificate:Certificate",
  certValidation: "aws:acm/certificateValidation:CertificateValidation",
  record: "aws:route53/record:Record",
} as const;

/** What every admin access entry's policy association grants. */
const CLUSTER_ADMIN = { policyArn: "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy", accessScope: { type: "cluster" } };

type Inputs = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Runs the aws target once against fresh mocks and waits until it has registered everything. */
async function run(settings: Settings): Promise<{ mocks: RecordingMocks; outputs: AwsOutputs; deps: ServingDeps }> {
  const mocks = await installMocks();
  servingCalls.length = 0;
  const outputs = deployAws(settings);
  await valueOf(outputs.kubeconfig);
  await settle(mocks);
  expect(servingCalls).toHaveLength(1);
  return { mocks, outputs, deps: servingCalls[0].deps };
}

const inputs = (mocks: RecordingMocks, type: string, name: string): Inputs => mocks.named(type, name).inputs;
const urnOf = (r: pulumi.Resource) => valueOf(r.urn);

describe("aws target, default stack", () => {
  let mocks: RecordingMocks;
  let outputs: AwsOutputs;
  let deps: ServingDeps;
  beforeAll(async () => {
    ({ mocks, outputs, deps } = await run(settingsFor()));
  });

  it("builds a VPC with public and private subnets across three zones, tagged for load balancers", () => {
    expect(inputs(mocks, T.vpc, "vllm-vpc")).toMatchObject({ cidrBlock: "10.0.0.0/16", enableDnsHostnames: true, enableDnsSupport: true });
    const subnets = mocks.ofType(T.subnet);
    const pub = subnets.filter((s) => s.name.startsWith("vllm-public-"));
    const priv = subnets.filter((s) => s.name.startsWith("vllm-private-"));
    expect(pub).toHaveLength(3);
    expect(priv).toHaveLength(3);
    expect(pub.map((s) => s.inputs.availabilityZone)).toEqual(ZONES.slice(0, 3));
    expect(priv.map((s) => s.inputs.availabilityZone)).toEqual(ZONES.slice(0, 3));
    for (const s of pub) {
      expect(s.inputs.tags).toMatchObject({ "kubernetes.io/role/elb": "1" });
      expect(s.inputs.mapPublicIpOnLaunch).toBe(false);
    }
    for (const s of priv) expect(s.inputs.tags).toMatchObject({ "kubernetes.io/role/internal-elb": "1" });
  });

  it("asks only for default-enabled zones, so Local Zones never host a subnet", () => {
    const zones = mocks.invocations.find((c) => c.token === "aws:index/getAvailabilityZones:getAvailabilityZones");
    expect(zones?.inputs).toMatchObject({ state: "available", filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }] });
  });

  it("routes every private subnet through one NAT gateway, and S3 through a free gateway endpoint", async () => {
    expect(mocks.ofType(T.nat)).toHaveLength(1);
    expect(mocks.ofType(T.eip)).toHaveLength(1);
    const privateTables = mocks.ofType(T.routeTable).filter((t) => t.name.startsWith("vllm-private-"));
    expect(privateTables).toHaveLength(3);
    const natIds = new Set(privateTables.map((t) => (t.inputs as Inputs).routes[0].natGatewayId));
    expect(natIds).toEqual(new Set(["vllm-nat-0-id"]));
    expect(inputs(mocks, T.routeTable, "vllm-public").routes).toEqual([{ cidrBlock: "0.0.0.0/0", gatewayId: "vllm-igw-id" }]);
    const s3 = inputs(mocks, T.endpoint, "vllm-s3");
    expect(s3.serviceName).toBe("com.amazonaws.us-east-1.s3");
    expect(s3.vpcEndpointType).toBe("Gateway");
    expect(s3.routeTableIds).toHaveLength(3);
  });

  it("creates an EKS cluster in API authentication mode on the pinned version, nodes in private subnets", () => {
    const cluster = inputs(mocks, T.cluster, "vllm-eks");
    expect(cluster.version).toBe("1.36");
    expect(cluster.accessConfig).toEqual({ authenticationMode: "API", bootstrapClusterCreatorAdminPermissions: false });
    expect(cluster.bootstrapSelfManagedAddons).toBe(false);
    expect(cluster.upgradePolicy).toEqual({ supportType: "STANDARD" });
    const privateIds = mocks.ofType(T.subnet).filter((s) => s.name.startsWith("vllm-private-"));
    expect(cluster.vpcConfig.subnetIds).toHaveLength(privateIds.length);
    expect(cluster.vpcConfig).toMatchObject({ endpointPrivateAccess: true, endpointPublicAccess: true });
    expect(inputs(mocks, T.role, "vllm-role").assumeRolePolicy).toContain("eks.amazonaws.com");
    expect(inputs(mocks, T.attachment, "vllm-role-AmazonEKSClusterPolicy").policyArn).toBe(
      "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
    );
  });

  it("makes the deploying identity admin by its IAM role, not its STS session", () => {
    const session = mocks.invocations.find((c) => c.token === "aws:iam/getSessionContext:getSessionContext");
    expect(session?.inputs.arn).toBe(CALLER_ARN);
    expect(inputs(mocks, T.accessEntry, "vllm-admin")).toMatchObject({ principalArn: DEPLOYER_ROLE_ARN, type: "STANDARD" });
    expect(inputs(mocks, T.accessPolicy, "vllm-admin")).toMatchObject({ principalArn: DEPLOYER_ROLE_ARN, ...CLUSTER_ADMIN });
  });

  it("installs the four core add-ons at pinned versions", () => {
    const addons = Object.fromEntries(mocks.ofType(T.addon).map((a) => [a.inputs.addonName, a.inputs.addonVersion]));
    expect(addons).toEqual({
      "vpc-cni": "v1.22.4-eksbuild.3",
      "kube-proxy": "v1.36.0-eksbuild.21",
      coredns: "v1.14.3-eksbuild.16",
      "eks-pod-identity-agent": "v1.3.10-eksbuild.3",
    });
  });

  it("runs cluster services on a small untainted AL2023 node group", () => {
    const system = inputs(mocks, T.nodeGroup, "vllm-system");
    expect(system).toMatchObject({
      amiType: "AL2023_x86_64_STANDARD",
      capacityType: "ON_DEMAND",
      instanceTypes: ["t3.large"],
      scalingConfig: { minSize: 2, desiredSize: 2, maxSize: 3 },
      version: "1.36",
    });
    expect(system.taints).toBeUndefined();
  });

  it("makes a Bottlerocket NVIDIA node group, labelled and tainted for GPU pods: a node per minimum replica, up to maxGpus", () => {
    const gpu = inputs(mocks, T.nodeGroup, "vllm-gpu-ng");
    expect(gpu).toMatchObject({
      amiType: "BOTTLEROCKET_x86_64_NVIDIA",
      instanceTypes: ["g6.xlarge", "g5.xlarge"],
      capacityType: "ON_DEMAND",
      scalingConfig: { minSize: 1, desiredSize: 1, maxSize: 3 },
      version: "1.36",
      labels: { "nvidia.com/gpu.present": "true", "vllm-auth.dev/pool": "gpu" },
      taints: [{ key: "nvidia.com/gpu", value: "true", effect: "NO_SCHEDULE" }],
    });
    // The disk comes from the launch template; diskSize beside a launch template is an EKS error.
    expect(gpu.diskSize).toBeUndefined();
    expect(gpu.launchTemplate).toEqual({ id: expect.stringMatching(/^lt-/), version: "1" });
  });

  it("sizes the Bottlerocket data volume and keeps pods away from instance metadata", () => {
    const lt = inputs(mocks, T.launchTemplate, "vllm-gpu-lt");
    expect(lt.blockDeviceMappings).toEqual([
      { deviceName: "/dev/xvdb", ebs: { volumeSize: 100, volumeType: "gp3", encrypted: "true", deleteOnTermination: "true" } },
    ]);
    expect(lt.metadataOptions).toEqual({ httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 });
    expect(lt.imageId).toBeUndefined();
  });

  it("gives the GPU node role the worker, CNI, ECR read and SSM policies", () => {
    expect(inputs(mocks, T.role, "vllm-gpu-role").assumeRolePolicy).toContain("ec2.amazonaws.com");
    const attached = mocks
      .ofType(T.attachment)
      .filter((a) => a.name.startsWith("vllm-gpu-role-"))
      .map((a) => a.inputs.policyArn)
      .sort();
    expect(attached).toEqual([
      "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
      "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
      "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
      "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
    ]);
  });

  it("builds a Kubernetes provider from the cluster's kubeconfig", async () => {
    const provider = inputs(mocks, T.k8sProvider, "vllm-k8s");
    expect(isSecretEnvelope(provider.kubeconfig)).toBe(true);
    const kubeconfig = parse(reveal(provider.kubeconfig) as string);
    expect(kubeconfig.clusters[0].cluster.server).toBe("https://0123456789ABCDEF.gr7.us-east-1.eks.amazonaws.com");
    expect(kubeconfig.users[0].user.exec.args).toEqual([
      "--region", "us-east-1", "eks", "get-token", "--cluster-name", "vllm-eks-c0ffee", "--output", "json",
    ]);
  });

  it("installs the AWS Load Balancer Controller with Pod Identity credentials, through the cluster's provider", async () => {
    const release = mocks.named(T.release, "vllm-lbc-release");
    expect(release.inputs).toMatchObject({
      chart: "aws-load-balancer-controller",
      version: "3.5.0",
      namespace: "kube-system",
      repositoryOpts: { repo: "https://aws.github.io/eks-charts" },
      values: { clusterName: "vllm-eks-c0ffee", vpcId: expect.stringMatching(/^vpc-/), region: "us-east-1", replicaCount: 2 },
    });
    expect(release.provider).toContain("::vllm-k8s::");
    expect(inputs(mocks, T.podIdentity, "vllm-lbc-identity")).toMatchObject({
      clusterName: "vllm-eks-c0ffee",
      namespace: "kube-system",
      serviceAccount: "aws-load-balancer-controller",
      roleArn: expect.stringContaining(":role/vllm-lbc-role"),
    });
    const trust = JSON.parse(inputs(mocks, T.role, "vllm-lbc-role").assumeRolePolicy as string);
    expect(trust.Statement[0]).toMatchObject({ Principal: { Service: "pods.eks.amazonaws.com" }, Action: ["sts:AssumeRole", "sts:TagSession"] });
    const policy = JSON.parse(inputs(mocks, T.rolePolicy, "vllm-lbc-policy").policy as string);
    expect(policy.Statement.map((s: { Sid: string }) => s.Sid)).toContain("CreateTaggedLoadBalancers");
  });

  it("hands the serving stack the new cluster's provider, after the GPU nodes and the controller", async () => {
    expect(await urnOf(deps.provider)).toMatch(/::vllm-k8s$/);
    const dependencies = deps.dependsOn ?? [];
    for (const r of dependencies) expect(pulumi.Resource.isInstance(r)).toBe(true);
    const waited = await Promise.all(dependencies.map((r) => urnOf(r as pulumi.Resource)));
    expect(waited.some((u) => u.endsWith("::vllm-gpu-ng"))).toBe(true);
    expect(waited.some((u) => u.endsWith("::vllm-lbc-release"))).toBe(true);
    expect(deps.certificateArn).toBeUndefined();
  });

  it("builds the proxy image from proxy/Dockerfile for amd64, pushes it to a scanned ECR repository, and pins it by digest", async () => {
    const repo = inputs(mocks, T.repo, "vllm-proxy-repo");
    expect(repo).toMatchObject({ imageScanningConfiguration: { scanOnPush: true }, forceDelete: true });
    const rules = JSON.parse(inputs(mocks, T.lifecycle, "vllm-proxy-lifecycle").policy as string).rules;
    expect(rules[0].selection).toEqual({ tagStatus: "any", countType: "imageCountMoreThan", countNumber: 10 });

    const image = inputs(mocks, T.image, "vllm-proxy-image");
    expect(image).toMatchObject({ push: true, platforms: ["linux/amd64"], buildOnPreview: false });
    // Relative to the working directory (here the repository root), as docker-build resolves them: no checkout path in the inputs.
    expect(image.context.location).toBe(".");
    expect(image.dockerfile.location).toBe("proxy/Dockerfile");
    expect(fs.existsSync(image.dockerfile.location)).toBe(true);
    // The registry password reaches the state only encrypted.
    expect(isSecretEnvelope(image.registries)).toBe(true);
    expect(reveal(image.registries)).toEqual([
      { address: "123456789012.dkr.ecr.us-east-1.amazonaws.com", username: "AWS", password: ECR_PASSWORD },
    ]);
    const ecrCall = mocks.invocations.find((c) => c.token === "aws:ecr/getAuthorizationToken:getAuthorizationToken");
    expect(ecrCall?.inputs.registryId).toBe("123456789012");
    expect(await valueOf(pulumi.output(deps.proxyImage))).toBe(
      `123456789012.dkr.ecr.us-east-1.amazonaws.com/vllm-proxy-repo@${PROXY_DIGEST}`,
    );
  });

  it("creates no certificate or DNS record without TLS", () => {
    expect(mocks.ofType(T.cert)).toHaveLength(0);
    expect(mocks.ofType(T.record)).toHaveLength(0);
  });

  it("exports the serving outputs, the cluster name and the kubeconfig as a secret", async () => {
    expect(await pulumi.isSecret(outputs.kubeconfig)).toBe(true);
    expect(await valueOf(outputs.clusterName)).toBe("vllm-eks-c0ffee");
    expect(await valueOf(outputs.endpoint)).toBe(NLB_HOSTNAME);
    expect(await pulumi.isSecret(outputs.token)).toBe(true);
    expect(outputs.model).toBe("meta-llama/Llama-2-7b-chat-hf");
  });

  it("tags every taggable AWS resource with the project and stack", () => {
    const taggable = mocks.resources.filter((r) => r.type.startsWith("aws:") && "tags" in r.inputs);
    expect(taggable.length).toBeGreaterThan(20);
    for (const r of taggable) expect(r.inputs.tags).toMatchObject({ "vllm-auth:project": "vllm-auth", "vllm-auth:stack": "test" });
  });

  it("calls only mocked provider functions", () => {
    const tokens = new Set(mocks.invocations.map((c) => c.token));
    expect([...tokens].sort()).toEqual([
      "aws:ecr/getAuthorizationToken:getAuthorizationToken",
      "aws:iam/getSessionContext:getSessionContext",
      "aws:index/getAvailabilityZones:getAvailabilityZones",
      "aws:index/getCallerIdentity:getCallerIdentity",
      "aws:index/getPartition:getPartition",
      "aws:index/getRegion:getRegion",
    ]);
  });
});

describe("aws target with a prebuilt proxy image, Route 53 TLS, spot only and a NAT per zone", () => {
  const prebuilt = "ghcr.io/acme/vllm-auth-proxy:0.1.0";
  let mocks: RecordingMocks;
  let deps: ServingDeps;
  beforeAll(async () => {
    ({ mocks, deps } = await run(
      settingsFor(
        { proxyImage: prebuilt, tls: { domain: "llm.example.com", hostedZoneId: "Z0123456789ABCDEFGHIJ" } },
        {
          natGateways: "perAz",
          gpuInstanceTypes: ["g6.xlarge", "g5.xlarge", "g6.2xlarge"],
          gpuCapacityTypes: ["spot"],
          maxGpus: 4,
          gpuDiskGiB: 120,
          systemNodes: { min: 1, desired: 1, max: 2 },
        },
      ),
    ));
  });

  it("builds nothing and hands the serving stack the prebuilt image", async () => {
    expect(mocks.ofType(T.repo)).toHaveLength(0);
    expect(mocks.ofType(T.image)).toHaveLength(0);
    expect(await valueOf(pulumi.output(deps.proxyImage))).toBe(prebuilt);
    expect(mocks.invocations.some((c) => c.token.startsWith("aws:ecr/"))).toBe(false);
  });

  it("gives each zone its own NAT gateway", () => {
    expect(mocks.ofType(T.nat)).toHaveLength(3);
    const natIds = mocks
      .ofType(T.routeTable)
      .filter((t) => t.name.startsWith("vllm-private-"))
      .map((t) => (t.inputs as Inputs).routes[0].natGatewayId);
    expect(natIds).toEqual(["vllm-nat-0-id", "vllm-nat-1-id", "vllm-nat-2-id"]);
  });

  it("makes one spot GPU node group with the configured types, disk and room for maxGpus, and sizes the system nodes", () => {
    expect(mocks.ofType(T.nodeGroup).map((g) => g.name).sort()).toEqual(["vllm-gpu-ng", "vllm-system"]);
    expect(inputs(mocks, T.nodeGroup, "vllm-gpu-ng")).toMatchObject({
      capacityType: "SPOT",
      instanceTypes: ["g6.xlarge", "g5.xlarge", "g6.2xlarge"],
      scalingConfig: { minSize: 1, desiredSize: 1, maxSize: 4 },
      labels: { "vllm-auth.dev/pool": "gpu", "nvidia.com/gpu.present": "true" },
      taints: [{ key: "nvidia.com/gpu", value: "true", effect: "NO_SCHEDULE" }],
    });
    expect(inputs(mocks, T.launchTemplate, "vllm-gpu-lt").blockDeviceMappings[0].ebs.volumeSize).toBe(120);
    expect(inputs(mocks, T.nodeGroup, "vllm-system").scalingConfig).toEqual({ minSize: 1, desiredSize: 1, maxSize: 2 });
  });

  it("requests an ACM certificate, validates it through Route 53, and hands over the validated ARN", async () => {
    expect(inputs(mocks, T.cert, "vllm-tls-cert")).toMatchObject({ domainName: "llm.example.com", validationMethod: "DNS" });
    expect(inputs(mocks, T.record, "vllm-tls-validation")).toMatchObject({
      zoneId: "Z0123456789ABCDEFGHIJ",
      name: "_3f1a.llm.example.com.",
      type: "CNAME",
      records: ["_9c2b.xlfgrmvvlj.acm-validations.aws."],
    });
    expect(inputs(mocks, T.certValidation, "vllm-tls-validation")).toMatchObject({
      validationRecordFqdns: ["_3f1a.llm.example.com"],
    });
    expect(await valueOf(pulumi.output(deps.certificateArn as pulumi.Input<string>))).toBe(
      "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555",
    );
  });

  it("points the domain at the NLB with an alias record in the NLB's canonical zone", () => {
    expect(inputs(mocks, T.record, "vllm-dns-alias")).toEqual(
      expect.objectContaining({
        zoneId: "Z0123456789ABCDEFGHIJ",
        name: "llm.example.com",
        type: "A",
        aliases: [{ name: NLB_HOSTNAME, zoneId: NLB_ZONE_ID, evaluateTargetHealth: true }],
      }),
    );
  });
});

describe("aws target in an existing VPC with an existing certificate", () => {
  const certificateArn = "arn:aws:acm:us-east-1:123456789012:certificate/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
  let mocks: RecordingMocks;
  let deps: ServingDeps;
  beforeAll(async () => {
    ({ mocks, deps } = await run(
      settingsFor(
        { tls: { domain: "llm.example.com", certificateArn } },
        {
          vpcId: "vpc-0a1b2c3d4e5f60718",
          publicSubnetIds: ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
          privateSubnetIds: ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"],
          kubernetesVersion: "1.35",
        },
      ),
    ));
  });

  it("creates no network and puts the cluster and nodes in the given private subnets", () => {
    for (const type of [T.vpc, T.subnet, T.nat, T.routeTable, T.endpoint]) expect(mocks.ofType(type)).toHaveLength(0);
    const privateIds = ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"];
    expect(inputs(mocks, T.cluster, "vllm-eks").vpcConfig.subnetIds).toEqual(privateIds);
    expect(inputs(mocks, T.nodeGroup, "vllm-gpu-ng").subnetIds).toEqual(privateIds);
    expect(inputs(mocks, T.release, "vllm-lbc-release").values.vpcId).toBe("vpc-0a1b2c3d4e5f60718");
  });

  it("pins the add-ons of the chosen Kubernetes version", () => {
    const kubeProxy = mocks.ofType(T.addon).find((a) => a.inputs.addonName === "kube-proxy");
    expect(kubeProxy?.inputs.addonVersion).toBe("v1.35.3-eksbuild.29");
    expect(inputs(mocks, T.cluster, "vllm-eks").version).toBe("1.35");
  });

  it("uses the given certificate as it is and leaves DNS to the user", async () => {
    expect(mocks.ofType(T.cert)).toHaveLength(0);
    expect(mocks.ofType(T.record)).toHaveLength(0);
    expect(await valueOf(pulumi.output(deps.certificateArn as pulumi.Input<string>))).toBe(certificateArn);
  });
});

describe("aws target with clusterAdminArns, as a CI preview (read-only role) and a deploy run it", () => {
  const deployRole = "arn:aws:iam::123456789012:role/vllm-auth-deploy";
  const alice = "arn:aws:iam::123456789012:user/alice";
  let mocks: RecordingMocks;
  beforeAll(async () => {
    ({ mocks } = await run(settingsFor({}, { clusterAdminArns: [deployRole, alice] })));
  });

  it("makes exactly the listed principals admin, one access entry and cluster-admin policy each", () => {
    const expected = [
      ["vllm-admin-role-vllm-auth-deploy", deployRole],
      ["vllm-admin-user-alice", alice],
    ];
    expect(mocks.ofType(T.accessEntry).map((e) => [e.name, e.inputs.principalArn]).sort()).toEqual(expected);
    for (const [name, arn] of expected) {
      expect(inputs(mocks, T.accessPolicy, name)).toMatchObject({ principalArn: arn, ...CLUSTER_ADMIN });
    }
  });

  it("never asks who is running, so a preview and a deploy plan the same admins", () => {
    const tokens = mocks.invocations.map((c) => c.token);
    expect(tokens).not.toContain("aws:index/getCallerIdentity:getCallerIdentity");
    expect(tokens).not.toContain("aws:iam/getSessionContext:getSessionContext");
  });
});

describe("aws target refuses bad settings before creating anything", () => {
  it("reports the cross-checks together", async () => {
    const mocks = await installMocks();
    const settings = settingsFor({ modelCacheGiB: 90 });
    expect(() => deployAws(settings)).toThrow(
      'aws target: GPU pool "gpu" has diskGiB 100, less than modelCacheGiB (90) plus about 30 GiB for the vLLM image',
    );
    await settle(mocks);
    expect(mocks.resources).toHaveLength(0);
  });

  it("names a Kubernetes version without add-on pins", async () => {
    await installMocks();
    expect(() => deployAws(settingsFor({}, { kubernetesVersion: "1.31" }))).toThrow(
      'kubernetesVersion "1.31" has no pinned EKS add-on versions; use one of 1.34, 1.35, 1.36',
    );
  });
});

describe("the mocks themselves", () => {
  it("fail a provider call nobody mocked on purpose", async () => {
    const mocks = await installMocks();
    expect(() => mocks.call({ token: "aws:ec2/getAmi:getAmi", inputs: {}, provider: "" })).toThrow(
      "Unmocked provider call aws:ec2/getAmi:getAmi",
    );
  });

  it("answer runProgram's calls with AWS_MOCKS, still failing an unmocked token; without them every call fails", () => {
    const call = (token: string) => ({ token, inputs: {}, provider: "" });
    expect(mockCall(call("aws:index/getRegion:getRegion"), AWS_MOCKS.call)).toMatchObject({ region: "us-east-1" });
    expect(() => mockCall(call("aws:ec2/getAmi:getAmi"), AWS_MOCKS.call)).toThrow("Unmocked provider call aws:ec2/getAmi:getAmi");
    expect(() => mockCall(call("aws:index/getRegion:getRegion"))).toThrow("unmocked provider function call: aws:index/getRegion:getRegion");
  });
});
