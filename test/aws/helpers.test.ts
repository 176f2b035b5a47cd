import { parse } from "yaml";
import {
  ADDON_VERSIONS,
  GpuNodePoolArgs,
  LBC_CLUSTER_TAG,
  NODE_POLICIES,
  PolicyStatement,
  SUPPORTED_KUBERNETES_VERSIONS,
  adminEntries,
  addonVersionsFor,
  clusterAdminPolicyArn,
  dataVolume,
  digestReference,
  isArmInstanceType,
  lifecyclePolicy,
  loadBalancerControllerPolicy,
  managedPolicyArn,
  registryHost,
  renderKubeconfig,
  subnetPlan,
  validateClusterArgs,
  validateExistingNetwork,
  validateGpuNodePoolArgs,
  validateTlsArgs,
  zoneFor,
} from "../../infra/aws";
import { awsSettingsProblems } from "../../stacks/aws";
import { settingsFor } from "./settings";

jest.mock("../../stacks/serving", () => ({ deployServing: jest.fn() }), { virtual: true });

describe("subnet plan", () => {
  it("gives each zone a large private subnet and a small public one, without overlap", () => {
    const plan = subnetPlan("10.0.0.0/16", 3);
    expect(plan).toEqual([
      { index: 0, privateCidr: "10.0.0.0/19", publicCidr: "10.0.192.0/24" },
      { index: 1, privateCidr: "10.0.32.0/19", publicCidr: "10.0.193.0/24" },
      { index: 2, privateCidr: "10.0.64.0/19", publicCidr: "10.0.194.0/24" },
    ]);
    // Six zones still fit: the last private /19 ends at 10.0.191.255, below the first public /24.
    expect(subnetPlan("172.20.0.0/16", 6).at(-1)).toEqual({
      index: 5,
      privateCidr: "172.20.160.0/19",
      publicCidr: "172.20.197.0/24",
    });
  });

  it("rejects a VPC that is not a /16 and zone counts EKS cannot use", () => {
    expect(() => subnetPlan("10.0.0.0/20", 3)).toThrow('Network cidrBlock "10.0.0.0/20" must be a /16 such as 10.0.0.0/16.');
    expect(() => subnetPlan("300.0.0.0/16", 3)).toThrow("must be a /16");
    expect(() => subnetPlan("10.0.0.0/16", 1)).toThrow("availabilityZoneCount must be an integer from 2 to 6, got 1.");
    expect(() => subnetPlan("10.0.0.0/16", 7)).toThrow("from 2 to 6, got 7");
  });

  it("reuses zones in turn when the region has fewer than subnets", () => {
    expect([0, 1, 2].map((i) => zoneFor(i, ["a", "b"]))).toEqual(["a", "b", "a"]);
    expect(() => zoneFor(0, [])).toThrow("no available availability zones");
  });

  it("checks a bring-your-own network", () => {
    expect(() =>
      validateExistingNetwork({ vpcId: "vpc-0abc", publicSubnetIds: ["subnet-01"], privateSubnetIds: ["subnet-02", "subnet-03"] }),
    ).not.toThrow();
    expect(() =>
      validateExistingNetwork({ vpcId: "my-vpc", publicSubnetIds: [], privateSubnetIds: ["subnet-02", "sn-3"] }),
    ).toThrow(
      'Existing network: vpcId "my-vpc" is not a VPC ID (vpc-...); publicSubnetIds needs at least one subnet for the ' +
        'load balancer; "sn-3" is not a subnet ID (subnet-...).',
    );
    expect(() => validateExistingNetwork({ vpcId: "vpc-0abc", publicSubnetIds: ["subnet-01"], privateSubnetIds: ["subnet-02"] })).toThrow(
      "privateSubnetIds needs at least two subnets in different availability zones",
    );
  });
});

describe("EKS add-on pins", () => {
  it("pins every core add-on to an eksbuild version for each supported Kubernetes version", () => {
    expect(SUPPORTED_KUBERNETES_VERSIONS).toEqual(["1.34", "1.35", "1.36"]);
    for (const version of SUPPORTED_KUBERNETES_VERSIONS) {
      const pins = ADDON_VERSIONS[version];
      expect(Object.keys(pins).sort()).toEqual(["coredns", "eks-pod-identity-agent", "kube-proxy", "vpc-cni"]);
      for (const pin of Object.values(pins)) expect(pin).toMatch(/^v\d+\.\d+\.\d+-eksbuild\.\d+$/);
      // kube-proxy must match the control plane's minor version.
      expect(pins["kube-proxy"].startsWith(`v${version}.`)).toBe(true);
    }
  });

  it("names the supported versions when asked for another", () => {
    expect(() => addonVersionsFor("1.29")).toThrow(
      'kubernetesVersion "1.29" has no pinned EKS add-on versions; use one of 1.34, 1.35, 1.36',
    );
  });
});

describe("cluster arguments", () => {
  const base = { kubernetesVersion: "1.36", subnetIds: [], systemInstanceType: "t3.large" };

  it("accepts x86_64 system nodes and refuses Graviton, typos and impossible sizes", () => {
    expect(() => validateClusterArgs(base)).not.toThrow();
    expect(isArmInstanceType("m7gd.large")).toBe(true);
    expect(isArmInstanceType("g5g.xlarge")).toBe(true);
    expect(isArmInstanceType("g4dn.xlarge")).toBe(false);
    expect(isArmInstanceType("c7i-flex.large")).toBe(false);
    expect(() => validateClusterArgs({ ...base, systemInstanceType: "t4g.medium" })).toThrow(
      'systemInstanceType "t4g.medium" is arm64 (Graviton); the system node group runs AL2023 x86_64, so pick an x86_64 type such as t3.large.',
    );
    expect(() => validateClusterArgs({ ...base, systemInstanceType: "large" })).toThrow('systemInstanceType "large" is not an EC2 instance type');
    expect(() => validateClusterArgs({ ...base, systemNodes: { minSize: 2, desiredSize: 1, maxSize: 3 } })).toThrow(
      "systemNodes must satisfy 0 <= minSize <= desiredSize <= maxSize and maxSize >= 1, got 2/1/3.",
    );
    expect(() => validateClusterArgs({ ...base, kubernetesVersion: "1.30" })).toThrow('kubernetesVersion "1.30"');
  });

  it("names each admin entry after its principal, so reordering the list changes nothing; the first takes over the deployer's entry", () => {
    const deploy = "arn:aws:iam::123456789012:role/ci/vllm-auth-deploy";
    const alice = "arn:aws:iam::123456789012:user/alice";
    expect(adminEntries("vllm", [deploy, alice])).toEqual([
      { resourceName: "vllm-admin-role-vllm-auth-deploy", principalArn: deploy, formerName: "vllm-admin" },
      { resourceName: "vllm-admin-user-alice", principalArn: alice },
    ]);
    const reordered = adminEntries("vllm", [alice, deploy]).map((e) => e.resourceName);
    expect(reordered.sort()).toEqual(["vllm-admin-role-vllm-auth-deploy", "vllm-admin-user-alice"]);
    expect(adminEntries("vllm", [])).toEqual([]);
  });

  it("refuses admin ARNs an access entry cannot name, and repeats", () => {
    expect(() => validateClusterArgs({ ...base, adminPrincipalArns: ["arn:aws:iam::123456789012:role/deploy"] })).not.toThrow();
    expect(() => validateClusterArgs({ ...base, adminPrincipalArns: ["arn:aws:sts::123456789012:assumed-role/Deployer/ci"] })).toThrow(
      'adminPrincipalArns: "arn:aws:sts::123456789012:assumed-role/Deployer/ci" is an STS session, which an access entry cannot name. ' +
        "Write its role instead, e.g. arn:aws:iam::123456789012:role/Deployer (with the role's path, if it has one).",
    );
    expect(() => validateClusterArgs({ ...base, adminPrincipalArns: ["deploy"] })).toThrow('adminPrincipalArns: "deploy" is not an IAM role or user ARN');
    expect(() =>
      validateClusterArgs({ ...base, adminPrincipalArns: ["arn:aws:iam::123456789012:user/a", "arn:aws:iam::123456789012:user/a"] }),
    ).toThrow('adminPrincipalArns: "arn:aws:iam::123456789012:user/a" names user a a second time. List each admin once.');
  });

  it("builds partition-aware ARNs for managed and access policies", () => {
    expect(managedPolicyArn("aws-cn", "AmazonEKS_CNI_Policy")).toBe("arn:aws-cn:iam::aws:policy/AmazonEKS_CNI_Policy");
    expect(clusterAdminPolicyArn("aws-us-gov")).toBe("arn:aws-us-gov:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy");
    expect(NODE_POLICIES).toEqual(
      expect.arrayContaining(["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"]),
    );
  });
});

describe("kubeconfig", () => {
  it("authenticates with aws eks get-token for the right cluster and region, and holds no credential", () => {
    const text = renderKubeconfig({
      clusterName: "vllm-eks-1",
      endpoint: "https://ABC.gr7.eu-west-1.eks.amazonaws.com",
      certificateAuthorityData: "Q0FEQVRB",
      region: "eu-west-1",
    });
    const config = parse(text);
    expect(config["current-context"]).toBe("vllm-eks-1");
    expect(config.clusters[0].cluster).toEqual({
      server: "https://ABC.gr7.eu-west-1.eks.amazonaws.com",
      "certificate-authority-data": "Q0FEQVRB",
    });
    const exec = config.users[0].user.exec;
    expect(exec.command).toBe("aws");
    expect(exec.args).toEqual(["--region", "eu-west-1", "eks", "get-token", "--cluster-name", "vllm-eks-1", "--output", "json"]);
    expect(exec.apiVersion).toBe("client.authentication.k8s.io/v1beta1");
    expect(config.users[0].user.token).toBeUndefined();
  });
});

describe("GPU node pool arguments", () => {
  const pool: GpuNodePoolArgs = {
    clusterName: "c",
    kubernetesVersion: "1.36",
    subnetIds: [],
    instanceTypes: ["g6.xlarge", "g5.xlarge"],
    capacityType: "SPOT",
    minSize: 0,
    desiredSize: 2,
    maxSize: 3,
    diskGiB: 100,
  };

  it("accepts the default pool", () => {
    expect(() => validateGpuNodePoolArgs("gpu", pool)).not.toThrow();
  });

  it("refuses types the Bottlerocket NVIDIA AMI cannot run, with every problem in one message", () => {
    expect(() =>
      validateGpuNodePoolArgs("spot", { ...pool, instanceTypes: ["g5g.xlarge", "m5.large", "g6.xlarge", "g6.xlarge"] }),
    ).toThrow(
      /^GPU node pool "spot": "g5g.xlarge" is not an x86_64 NVIDIA GPU type that BOTTLEROCKET_x86_64_NVIDIA runs on \(families: g4dn, .*\); "m5.large" is not an x86_64 NVIDIA GPU type .*; instanceTypes lists a type twice\.$/,
    );
    expect(() => validateGpuNodePoolArgs("gpu", { ...pool, instanceTypes: [] })).toThrow("instanceTypes is empty");
  });

  it("refuses impossible sizes and a disk too small for the vLLM image", () => {
    expect(() => validateGpuNodePoolArgs("gpu", { ...pool, minSize: 3, desiredSize: 2 })).toThrow(
      "sizes must satisfy minSize <= desiredSize <= maxSize and maxSize >= 1, got 3/2/3",
    );
    expect(() => validateGpuNodePoolArgs("gpu", { ...pool, minSize: 0, desiredSize: 0, maxSize: 0 })).toThrow("maxSize >= 1");
    expect(() => validateGpuNodePoolArgs("gpu", { ...pool, desiredSize: 1.5 })).toThrow("must be whole numbers >= 0");
    expect(() => validateGpuNodePoolArgs("gpu", { ...pool, diskGiB: 40 })).toThrow(
      "diskGiB 40 must be a whole number from 50 to 16384: the vLLM image alone takes about 30 GiB unpacked",
    );
  });

  it("sizes Bottlerocket's data volume, not the OS volume", () => {
    expect(dataVolume(120)).toEqual({
      deviceName: "/dev/xvdb",
      ebs: { volumeSize: 120, volumeType: "gp3", encrypted: "true", deleteOnTermination: "true" },
    });
  });
});

describe("load balancer controller policy", () => {
  const statements = loadBalancerControllerPolicy("aws").Statement;
  const sid = (id: string): PolicyStatement => {
    const s = statements.find((x) => x.Sid === id);
    if (!s) throw new Error(`no statement ${id}`);
    return s;
  };
  const actions = (s: PolicyStatement) => (typeof s.Action === "string" ? [s.Action] : s.Action);

  it("creates load balancers only with the controller's cluster tag, and changes only what carries it", () => {
    expect(actions(sid("CreateTaggedLoadBalancers"))).toEqual(["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"]);
    expect(sid("CreateTaggedLoadBalancers").Condition).toEqual({ Null: { [`aws:RequestTag/${LBC_CLUSTER_TAG}`]: "false" } });
    expect(actions(sid("ManageOwnLoadBalancers"))).toEqual(
      expect.arrayContaining(["elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyListenerAttributes"]),
    );
    expect(sid("ManageOwnLoadBalancers").Condition).toEqual({ Null: { [`aws:ResourceTag/${LBC_CLUSTER_TAG}`]: "false" } });
    expect(sid("ManageOwnSecurityGroups").Condition).toEqual({ Null: { [`aws:ResourceTag/${LBC_CLUSTER_TAG}`]: "false" } });
  });

  it("can read what an NLB Service needs and register pod IPs", () => {
    expect(actions(sid("Discover"))).toEqual(
      expect.arrayContaining([
        "ec2:DescribeSubnets",
        "ec2:GetSecurityGroupsForVpc",
        "elasticloadbalancing:DescribeListenerAttributes",
        "acm:DescribeCertificate",
      ]),
    );
    expect(sid("RegisterPodTargets").Resource).toBe("arn:aws:elasticloadbalancing:*:*:targetgroup/*/*");
  });

  it("uses the account's partition and valid statement IDs", () => {
    const text = JSON.stringify(loadBalancerControllerPolicy("aws-cn"));
    expect(text).not.toContain("arn:aws:");
    expect(text).toContain("arn:aws-cn:elasticloadbalancing:*:*:loadbalancer/net/*/*");
    for (const s of statements) expect(s.Sid).toMatch(/^[A-Za-z0-9]+$/);
    expect(new Set(statements.map((s) => s.Sid)).size).toBe(statements.length);
  });
});

describe("proxy image helpers", () => {
  it("keeps the newest images and expires the rest", () => {
    expect(JSON.parse(lifecyclePolicy(5)).rules[0]).toMatchObject({
      selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: 5 },
      action: { type: "expire" },
    });
    expect(() => lifecyclePolicy(0)).toThrow("ProxyImage keepImages must be a whole number >= 1, got 0.");
  });

  it("references the pushed image by digest only", () => {
    const url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/vllm-proxy";
    expect(registryHost(url)).toBe("123456789012.dkr.ecr.us-east-1.amazonaws.com");
    expect(digestReference(url, `sha256:${"0f".repeat(32)}`)).toBe(`${url}@sha256:${"0f".repeat(32)}`);
    expect(() => digestReference(url, "")).toThrow('The proxy image build returned no usable digest ("")');
  });
});

describe("TLS arguments", () => {
  it("needs a certificate source and a real host name", () => {
    expect(() => validateTlsArgs({ domain: "llm.example.com", hostedZoneId: "Z0123456789ABCDEFGHIJ" })).not.toThrow();
    expect(() => validateTlsArgs({ domain: "llm.example.com" })).toThrow(
      'TLS for "llm.example.com" needs certificateArn (an existing ACM certificate) or hostedZoneId (to issue one).',
    );
    expect(() => validateTlsArgs({ domain: "*.example.com", hostedZoneId: "Z01" })).toThrow("must be one host name, not a wildcard");
    expect(() => validateTlsArgs({ domain: "https://llm.example.com", hostedZoneId: "Z01" })).toThrow(
      'TLS domain "https://llm.example.com" is not a fully qualified host name',
    );
    expect(() => validateTlsArgs({ domain: "llm.example.com", hostedZoneId: "example.com" })).toThrow(
      'hostedZoneId "example.com" is not a Route 53 hosted zone ID',
    );
    expect(() => validateTlsArgs({ domain: "llm.example.com", certificateArn: "arn:aws:iam::1:server-certificate/x" })).toThrow(
      "is not an ACM certificate ARN",
    );
  });
});

describe("aws target cross-checks", () => {
  it("accepts the default stack", () => {
    expect(awsSettingsProblems(settingsFor())).toEqual([]);
  });

  it("reports the components' checks and the cross-checks together, before anything is created", () => {
    const settings = settingsFor(
      { modelCacheGiB: 80, tls: { domain: "llm.example.com" } },
      {
        systemInstanceType: "t4g.large",
        gpuInstanceTypes: ["g6.xlarge", "m5.xlarge"],
      },
    );
    expect(awsSettingsProblems(settings)).toEqual([
      'systemInstanceType "t4g.large" is arm64 (Graviton); the system node group runs AL2023 x86_64, so pick an x86_64 type such as t3.large',
      expect.stringMatching(/^GPU node pool "gpu": "m5\.xlarge" is not an x86_64 NVIDIA GPU type/),
      'GPU pool "gpu" has diskGiB 100, less than modelCacheGiB (80) plus about 30 GiB for the vLLM image: set gpuDiskGiB to at least 110',
      'TLS for "llm.example.com" needs certificateArn (an existing ACM certificate) or hostedZoneId (to issue one)',
    ]);
  });
});
