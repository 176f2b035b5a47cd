import * as pulumi from "@pulumi/pulumi";
import { SUPPORTED_KUBERNETES_VERSIONS } from "../../infra/aws/addons";
import { ConfigError, DEFAULT_KUBERNETES_VERSION, DEFAULT_VLLM_IMAGE, isPinnedImage, parseSettings, settingsWarnings } from "../../stacks/config";
import { Settings } from "../../stacks/settings";
import { fakeReader } from "./fakeReader";

/** The message of the ConfigError that `values` produce (fails when they parse). */
function problemsOf(values: Record<string, unknown>): string[] {
  try {
    parseSettings(fakeReader(values));
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  throw new Error(`expected a config error for ${JSON.stringify(values)}`);
}

const EXISTING = { target: "existing", proxyImage: "ghcr.io/acme/vllm-auth-proxy:0.1.0" };

describe("parseSettings defaults", () => {
  test("an empty config is the seed's service on AWS: Llama-2-7b-chat on one GPU per replica, 1 to 2 replicas, one key", () => {
    const s = parseSettings(fakeReader({}));
    expect(s).toMatchObject<Partial<Settings>>({
      target: "aws",
      namespace: "vllm",
      createNamespace: true,
      model: "meta-llama/Llama-2-7b-chat-hf",
      gpusPerReplica: 1,
      vllmImage: DEFAULT_VLLM_IMAGE,
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
    });
    expect(s.prometheusUrl).toBeUndefined();
    expect(s.hfToken).toBeUndefined();
    expect(s.tls).toBeUndefined();
    expect(s.proxyImage).toBeUndefined();
    expect(isPinnedImage(s.vllmImage)).toBe(true);
  });

  test("aws defaults: g6 then g5, spot then on-demand, GPUs for every replica plus a rolling update's surge pod", () => {
    const s = parseSettings(fakeReader({ maxReplicas: 3, gpusPerReplica: 2 }, { region: "us-west-2" }));
    expect(s.aws).toEqual({
      region: "us-west-2",
      kubernetesVersion: "1.36",
      clusterAdminArns: [],
      gpuInstanceTypes: ["g6.xlarge", "g5.xlarge"],
      gpuCapacityTypes: ["spot", "on-demand"],
      maxGpus: 8,
      gpuDiskGiB: 100,
      systemNodes: { min: 2, desired: 2, max: 3 },
      natGateways: "single",
      systemInstanceType: "t3.large",
    });
  });

  test("Kubernetes: the newest version with pinned add-ons, so a new cluster starts far from the end of standard support", () => {
    expect(DEFAULT_KUBERNETES_VERSION).toBe("1.36");
    expect(SUPPORTED_KUBERNETES_VERSIONS.at(-1)).toBe(DEFAULT_KUBERNETES_VERSION);
    expect(parseSettings(fakeReader({})).aws.kubernetesVersion).toBe(DEFAULT_KUBERNETES_VERSION);
  });

  test("empty strings (Pulumi.yaml's defaults for optional keys) count as unset", () => {
    const s = parseSettings(fakeReader({ ...EXISTING, domain: "", certificateArn: "", hfToken: "", kubeContext: "", vpcId: "" }));
    expect(s.tls).toBeUndefined();
    expect(s.hfToken).toBeUndefined();
    expect(s.kubeContext).toBeUndefined();
    expect(s.aws.vpcId).toBeUndefined();
  });
});

describe("parseSettings reads every kind of value", () => {
  test("existing target with TLS, a registry, scheduling and resources", () => {
    const s = parseSettings(
      fakeReader({
        target: "existing",
        proxyRegistry: "ghcr.io/acme/",
        domain: "LLM.Example.com",
        certificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/abcd-1234",
        nodeSelector: { "cloud.google.com/gke-accelerator": "nvidia-l4" },
        tolerations: [{ key: "dedicated", value: "llm", effect: "NoSchedule" }, { key: "spot" }],
        vllmResources: { cpu: 6, memory: "24Gi" },
        allowedCidrs: ["10.0.0.0/8", "203.0.113.0/24"],
        kubeContext: "gke_proj_zone_cluster",
        createNamespace: "false",
      }),
    );
    expect(s.proxyRegistry).toBe("ghcr.io/acme");
    expect(s.tls).toEqual({ domain: "llm.example.com", certificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/abcd-1234" });
    expect(s.tolerations).toEqual([
      { key: "dedicated", operator: "Equal", value: "llm", effect: "NoSchedule" },
      { key: "spot", operator: "Exists" },
    ]);
    expect(s.vllmResources).toEqual({ cpu: "6", memory: "24Gi" });
    expect(s.createNamespace).toBe(false);
    expect(s.kubeContext).toBe("gke_proj_zone_cluster");
  });

  test("secrets come back as secret Outputs, never as plain strings", async () => {
    const s = parseSettings(fakeReader({ ...EXISTING, hfToken: "hf_abc", kubeconfig: "apiVersion: v1" }));
    expect(pulumi.Output.isInstance(s.hfToken)).toBe(true);
    expect(await pulumi.isSecret(s.hfToken!)).toBe(true);
    expect(await pulumi.isSecret(s.kubeconfig!)).toBe(true);
    expect(await new Promise((resolve) => s.hfToken!.apply(resolve))).toBe("hf_abc");
  });

  test("named API keys with generations and limits, in order", () => {
    const s = parseSettings(fakeReader({ apiKeys: [{ name: "alice" }, { name: "ci-bot", generation: 2, rpm: 60, tpm: 100000, concurrency: 4 }] }));
    expect(s.apiKeys).toEqual([
      { name: "alice", generation: 0 },
      { name: "ci-bot", generation: 2, rpm: 60, tpm: 100000, concurrency: 4 },
    ]);
  });

  test("autoscaling, scale to zero, gateway and monitoring keys", () => {
    const s = parseSettings(
      fakeReader({
        ...EXISTING,
        minReplicas: 0,
        maxReplicas: 4,
        targetPerReplica: 8,
        scaleDownStabilizationSeconds: 600,
        scaleToZeroAfterSeconds: 1800,
        pollingIntervalSeconds: 5,
        gatewayReplicas: 3,
        gatewayResources: { cpu: "1", memory: "512Mi" },
        coldStartTimeoutSeconds: 900,
        internalTokenGeneration: 1,
        installKeda: false,
        installMonitoring: false,
        prometheusUrl: "http://prometheus-operated.monitoring.svc:9090",
      }),
    );
    expect(s.autoscaling).toEqual({
      minReplicas: 0,
      maxReplicas: 4,
      targetPerReplica: 8,
      scaleDownStabilizationSeconds: 600,
      scaleToZeroAfterSeconds: 1800,
      pollingIntervalSeconds: 5,
    });
    expect(s).toMatchObject({
      gatewayReplicas: 3,
      gatewayResources: { cpu: "1", memory: "512Mi" },
      coldStartTimeoutSeconds: 900,
      internalTokenGeneration: 1,
      installKeda: false,
      installMonitoring: false,
      prometheusUrl: "http://prometheus-operated.monitoring.svc:9090",
    });
  });

  test("aws GPU keys: instance types, capacity types, maxGpus, disk and system nodes", () => {
    const s = parseSettings(
      fakeReader({
        gpuInstanceTypes: ["g6.2xlarge"],
        gpuCapacityTypes: ["on-demand"],
        maxGpus: 6,
        gpuDiskGiB: 120,
        systemNodes: { min: 1, desired: 2, max: 4 },
      }),
    );
    expect(s.aws).toMatchObject({
      gpuInstanceTypes: ["g6.2xlarge"],
      gpuCapacityTypes: ["on-demand"],
      maxGpus: 6,
      gpuDiskGiB: 120,
      systemNodes: { min: 1, desired: 2, max: 4 },
    });
  });

  test("clusterAdminArns: IAM roles and users, with paths, in other partitions", () => {
    const arns = [
      "arn:aws:iam::123456789012:role/vllm-auth-deploy",
      "arn:aws:iam::123456789012:role/ci/github/vllm-auth-ops",
      "arn:aws:iam::123456789012:user/alice@example.com",
      "arn:aws-cn:iam::210987654321:role/ops",
    ];
    expect(parseSettings(fakeReader({ clusterAdminArns: arns })).aws.clusterAdminArns).toEqual(arns);
  });

  test("bring-your-own network: all three keys together", () => {
    const s = parseSettings(
      fakeReader({
        vpcId: "vpc-0123456789abcdef0",
        publicSubnetIds: ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
        privateSubnetIds: ["subnet-0123456789abcdef2", "subnet-0123456789abcdef3"],
        natGateways: "perAz",
      }),
    );
    expect(s.aws).toMatchObject({
      vpcId: "vpc-0123456789abcdef0",
      publicSubnetIds: ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
      privateSubnetIds: ["subnet-0123456789abcdef2", "subnet-0123456789abcdef3"],
      natGateways: "perAz",
    });
  });
});

describe("config errors name the key and say what to write instead", () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ["unknown target", { target: "gcp" }, /^vllm-auth:target: "gcp" is not allowed\. Write one of: aws, existing\.$/],
    ["maxReplicas not a number", { maxReplicas: "two" }, /^vllm-auth:maxReplicas: "two" is not a whole number\. Write a number from 1 to 100, e\.g\. 2\.$/],
    ["maxReplicas zero", { maxReplicas: "0" }, /^vllm-auth:maxReplicas: 0 is out of range\. Write a number from 1 to 100/],
    ["maxReplicas below minReplicas", { minReplicas: 3, maxReplicas: 2 }, /^vllm-auth:maxReplicas: 2 is less than minReplicas \(3\)\. Write at least 3\.$/],
    ["removed replicas", { replicas: 3 }, /^vllm-auth:replicas: was replaced by minReplicas and maxReplicas\. For a fixed count write both to the same number/],
    ["removed tokenCount", { tokenCount: 2 }, /^vllm-auth:tokenCount: was replaced by apiKeys, one named key per user or app, .* pulumi stack output apiKeys --show-secrets\.$/],
    ["removed firstTokenId", { firstTokenId: 1 }, /^vllm-auth:firstTokenId: was replaced by apiKeys: to replace one key, raise its generation/],
    ["removed gpuPools", { gpuPools: [{ name: "spot" }] }, /^vllm-auth:gpuPools: was replaced by gpuCapacityTypes and maxGpus/],
    ["removed gpuNodes", { gpuNodes: { min: 1, desired: 1, max: 2 } }, /^vllm-auth:gpuNodes: was replaced by maxGpus/],
    ["removed gpuCapacityType", { gpuCapacityType: "SPOT" }, /^vllm-auth:gpuCapacityType: was replaced by gpuCapacityTypes, a list/],
    ["key name", { apiKeys: [{ name: "Alice" }] }, /^vllm-auth:apiKeys: key 1 name "Alice" is not a key name\. Write lowercase letters, digits and dashes \(at most 32\), e\.g\. "alice"\.$/],
    ["key without a name", { apiKeys: [{ rpm: 5 }] }, /^vllm-auth:apiKeys: key 1 needs a name, e\.g\. name: "alice"\.$/],
    ["key twice", { apiKeys: [{ name: "a" }, { name: "a" }] }, /^vllm-auth:apiKeys: key 2 repeats the name "a"\. Give each key its own name\.$/],
    ["no keys", { apiKeys: [] }, /^vllm-auth:apiKeys: is empty, which would lock everyone out\. Name at least one key/],
    ["keys as names", { apiKeys: "alice,bob" }, /^vllm-auth:apiKeys: expected a list of named keys, got the text "alice,bob"\. Write it as YAML in the stack file, e\.g\. \[\{ name: "alice" \}, \{ name: "ci-bot", rpm: 60 \}\]\.$/],
    ["key limit zero", { apiKeys: [{ name: "a", rpm: 0 }] }, /^vllm-auth:apiKeys: key 1 rpm 0 is out of range\. Write a whole number of at least 1, e\.g\. rpm: 60\.$/],
    ["key limit not whole", { apiKeys: [{ name: "a", tpm: 1.5 }] }, /^vllm-auth:apiKeys: key 1 tpm "1\.5" is not a whole number of at least 1\. Write e\.g\. tpm: 100000\.$/],
    ["key generation negative", { apiKeys: [{ name: "a", generation: -1 }] }, /^vllm-auth:apiKeys: key 1 generation -1 is out of range\. Write a whole number of at least 0/],
    ["key field typo", { apiKeys: [{ name: "a", rps: 1 }] }, /^vllm-auth:apiKeys: key 1 has unknown field rps\. Fields: name, generation, rpm, tpm, concurrency; e\.g\. \{ name: "ci-bot", rpm: 60 \}\.$/],
    ["capacity types", { gpuCapacityTypes: ["SPOT"] }, /^vllm-auth:gpuCapacityTypes: entry 1 "SPOT" is not a capacity type\. Write spot, on-demand or both, e\.g\. \["spot", "on-demand"\]\.$/],
    ["no capacity type", { gpuCapacityTypes: [] }, /^vllm-auth:gpuCapacityTypes: is empty\. Write spot, on-demand or both/],
    ["capacity type twice", { gpuCapacityTypes: ["spot", "spot"] }, /^vllm-auth:gpuCapacityTypes: lists a capacity type twice\./],
    ["too few GPUs", { maxReplicas: 3, maxGpus: 3 }, /^vllm-auth:maxGpus: 3 leaves no room for maxReplicas \(3\) plus the surge pod of a rolling update at 1 GPU\(s\) each\. Write at least 4, or 0 for exactly that\.$/],
    ["gateways", { gatewayReplicas: 30 }, /^vllm-auth:gatewayReplicas: 30 is out of range\. Write a number from 1 to 20/],
    ["cold start", { coldStartTimeoutSeconds: 5 }, /^vllm-auth:coldStartTimeoutSeconds: 5 is out of range\. Write a number from 30 to 3600/],
    ["prometheus URL", { prometheusUrl: "prometheus:9090" }, /^vllm-auth:prometheusUrl: "prometheus:9090" is not an http\(s\) URL/],
    ["prometheus needed", { installMonitoring: false }, /^vllm-auth:prometheusUrl: is required when installMonitoring is false and autoscaling is on/],
    ["system nodes", { systemNodes: { min: 3, desired: 2, max: 4 } }, /^vllm-auth:systemNodes: needs min <= desired <= max and max >= 1 \(got min 3, desired 2, max 4\)\.$/],
    ["CPU on aws", { gpusPerReplica: 0 }, /^vllm-auth:gpusPerReplica: 0 \(CPU only\) is allowed only on target existing/],
    ["unpinned vLLM", { vllmImage: "vllm/vllm-openai:latest" }, /^vllm-auth:vllmImage: "vllm\/vllm-openai:latest" is not pinned\. Write a release tag or a digest, e\.g\. vllm\/vllm-openai:v/],
    ["untagged vLLM", { vllmImage: "vllm/vllm-openai" }, /^vllm-auth:vllmImage: .* is not pinned/],
    ["--host in vllmArgs", { vllmArgs: ["--host=0.0.0.0"] }, /^vllm-auth:vllmArgs: remove --host: vLLM must bind 127\.0\.0\.1 so that only the auth proxy can reach it\.$/],
    ["--api-key in vllmArgs", { vllmArgs: ["--api-key", "x"] }, /^vllm-auth:vllmArgs: remove --api-key: the auth proxy checks keys; set `apiKeys` instead\.$/],
    ["vllmArgs as one string", { vllmArgs: "--max-model-len 4096" }, /^vllm-auth:vllmArgs: expected a list of strings, got the text "--max-model-len 4096"\. Write it as YAML in the stack file, e\.g\. \["--max-model-len", "4096"\]\.$/],
    ["existing without proxy image", { target: "existing" }, /^vllm-auth:proxyImage: is required on target existing\. Set proxyImage to a prebuilt proxy image, or proxyRegistry/],
    ["both proxy keys", { ...EXISTING, proxyRegistry: "ghcr.io/acme" }, /^vllm-auth:proxyRegistry: is set together with proxyImage\./],
    ["registry with scheme", { target: "existing", proxyRegistry: "https://ghcr.io/acme" }, /^vllm-auth:proxyRegistry: "https:\/\/ghcr\.io\/acme" is not a registry path\. Write a registry host and path without scheme or tag/],
    ["domain alone", { domain: "llm.example.com" }, /^vllm-auth:domain: is set without certificateArn or hostedZoneId\. Set certificateArn/],
    ["certificate alone", { certificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/ab-12" }, /^vllm-auth:domain: is unset, but certificateArn or hostedZoneId is set\./],
    ["domain with scheme", { domain: "https://llm.example.com", hostedZoneId: "Z0123456789ABC" }, /^vllm-auth:domain: "https:\/\/llm\.example\.com" is not a DNS name\. Write the name clients will use, e\.g\. llm\.example\.com/],
    ["bad certificate ARN", { domain: "llm.example.com", certificateArn: "arn:aws:iam::1:cert/x" }, /^vllm-auth:certificateArn: "arn:aws:iam::1:cert\/x" is not an ACM certificate ARN\./],
    ["zone only on existing", { ...EXISTING, domain: "llm.example.com", hostedZoneId: "Z0123456789ABC" }, /^vllm-auth:certificateArn: is required for TLS on target existing \(hostedZoneId is used only by target aws\)/],
    ["IPv6 source range", { allowedCidrs: ["203.0.113.0/24", "2001:db8::/32"] }, /^vllm-auth:allowedCidrs: "2001:db8::\/32" is an IPv6 range, but the load balancer is IPv4-only: the AWS Load Balancer Controller refuses IPv6 source ranges on a load balancer that is not dual-stack, and the Service would never get an address\. List IPv4 ranges only, e\.g\. \["203\.0\.113\.0\/24"\]/],
    ["bad CIDR", { allowedCidrs: ["10.0.0.0/33", "1.2.3.4"] }, /^vllm-auth:allowedCidrs: "10\.0\.0\.0\/33", "1\.2\.3\.4" are not CIDR blocks\. Write e\.g\. \["203\.0\.113\.0\/24"\]\.$/],
    ["no CIDR", { allowedCidrs: [] }, /^vllm-auth:allowedCidrs: is empty, which would block everyone\./],
    ["bad namespace", { namespace: "LLM_Serving" }, /^vllm-auth:namespace: "LLM_Serving" is not a valid namespace name\. Write lowercase letters, digits and dashes/],
    ["boolean typo", { createNamespace: "yes" }, /^vllm-auth:createNamespace: "yes" is not a boolean\. Write true or false\.$/],
    ["quantity typo", { vllmResources: { cpu: "3 cores", memory: "12GB" } }, /^vllm-auth:vllmResources: cpu "3 cores" is not a Kubernetes quantity\. Write e\.g\. "500m" or "2"\.$/],
    ["proxy memory too small", { proxyResources: { cpu: "250m", memory: "100Mi" } }, /^vllm-auth:proxyResources: memory "100Mi" is below the proxy's 128Mi \(it idles at about 60 MiB\)\. Write e\.g\. "256Mi"\.$/],
    ["gateway memory too small", { gatewayResources: { memory: "64M" } }, /^vllm-auth:gatewayResources: memory "64M" is below the proxy's 128Mi/],
    ["resources unknown field", { proxyResources: { cpu: "1", gpu: "1" } }, /^vllm-auth:proxyResources: unknown field gpu\. Only cpu and memory are read/],
    ["toleration without key", { tolerations: [{ operator: "Exists" }] }, /^vllm-auth:tolerations: entry 1 needs a key/],
    ["toleration bad effect", { tolerations: [{ key: "a", effect: "NoScheduled" }] }, /^vllm-auth:tolerations: entry 1 has effect "NoScheduled"\. Write one of: NoSchedule, PreferNoSchedule, NoExecute/],
    ["node selector not an object", { nodeSelector: ["gpu=true"] }, /^vllm-auth:nodeSelector: expected an object of label: value, e\.g\. \{ node\.kubernetes\.io\/instance-type: g6\.xlarge \}\.$/],
    ["disk too small for the image and cache", { gpuDiskGiB: 50 }, /^vllm-auth:gpuDiskGiB: 50 GiB leaves no room for the vLLM image \(about 30 GiB\) beside modelCacheGiB \(40 GiB\)\. Write at least 70\.$/],
    ["half a network", { vpcId: "vpc-0123456789abcdef0" }, /^vllm-auth:publicSubnetIds: set vpcId, publicSubnetIds and privateSubnetIds together .* \(missing: publicSubnetIds, privateSubnetIds\)\.$/],
    ["one subnet", { publicSubnetIds: ["subnet-0123456789abcdef0"] }, /^vllm-auth:publicSubnetIds: lists one subnet; EKS needs subnets in at least two availability zones/],
    ["bad subnet", { privateSubnetIds: ["subnet-1", "sn-2"] }, /^vllm-auth:privateSubnetIds: "subnet-1", "sn-2" are not subnet IDs\./],
    ["nat typo", { natGateways: "per-az" }, /^vllm-auth:natGateways: "per-az" is not allowed\. Write one of: single, perAz\.$/],
    ["eks version", { kubernetesVersion: "v1.34" }, /^vllm-auth:kubernetesVersion: "v1\.34" is not an EKS version\. Write major\.minor, e\.g\. "1\.36"\.$/],
    ["admin not an ARN", { clusterAdminArns: ["vllm-auth-deploy"] }, /^vllm-auth:clusterAdminArns: "vllm-auth-deploy" is not an IAM role or user ARN\. Write arn:aws:iam::<12-digit account>:role\/<name> or :user\/<name>, e\.g\. arn:aws:iam::123456789012:role\/vllm-auth-deploy\.$/],
    ["admin account too short", { clusterAdminArns: ["arn:aws:iam::12345:role/deploy"] }, /^vllm-auth:clusterAdminArns: "arn:aws:iam::12345:role\/deploy" is not an IAM role or user ARN\./],
    ["admin a group", { clusterAdminArns: ["arn:aws:iam::123456789012:group/admins"] }, /^vllm-auth:clusterAdminArns: "arn:aws:iam::123456789012:group\/admins" is not an IAM role or user ARN\./],
    ["admin a session", { clusterAdminArns: ["arn:aws:sts::123456789012:assumed-role/Deployer/ci-session"] }, /^vllm-auth:clusterAdminArns: "arn:aws:sts::123456789012:assumed-role\/Deployer\/ci-session" is an STS session, which an access entry cannot name\. Write its role instead, e\.g\. arn:aws:iam::123456789012:role\/Deployer \(with the role's path, if it has one\)\.$/],
    ["admin listed twice", { clusterAdminArns: ["arn:aws:iam::123456789012:role/deploy", "arn:aws:iam::123456789012:role/ci/deploy"] }, /^vllm-auth:clusterAdminArns: "arn:aws:iam::123456789012:role\/ci\/deploy" names role deploy a second time\. List each admin once\.$/],
    ["admins as one string", { clusterAdminArns: "arn:aws:iam::123456789012:role/deploy" }, /^vllm-auth:clusterAdminArns: expected a list of strings, got the text "arn:aws:iam::123456789012:role\/deploy"\. Write it as YAML in the stack file, e\.g\. \["arn:aws:iam::123456789012:role\/vllm-auth-deploy"\]\.$/],
    ["instance type typo", { gpuInstanceTypes: ["g6-xlarge"] }, /^vllm-auth:gpuInstanceTypes: expected EC2 instance types such as \["g6\.xlarge", "g5\.xlarge"\]\.$/],
  ];

  test.each(cases)("%s", (_name, values, message) => {
    const problems = problemsOf(values);
    expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(message)]));
  });

  test("V100 instance types are refused for the pinned CUDA 13 vLLM image, with the reason and what to pick", () => {
    expect(problemsOf({ gpuInstanceTypes: ["g6.xlarge", "p3.2xlarge", "p3dn.24xlarge"] })).toEqual([
      'vllm-auth:gpuInstanceTypes: "p3.2xlarge" has V100 (Volta) GPUs, which vllm/vllm-openai:v0.29.0 cannot run on: it is a CUDA 13 build, CUDA 13 dropped Volta, ' +
        "and the -cu129 variant's PyTorch dropped it too. Pick a Turing or newer GPU, e.g. g6.xlarge (L4), g5.xlarge (A10G) or g4dn.xlarge (T4).",
      expect.stringMatching(/^vllm-auth:gpuInstanceTypes: "p3dn\.24xlarge" has V100 \(Volta\) GPUs/),
    ]);
    expect(problemsOf({ gpuInstanceTypes: ["p3.2xlarge"], vllmImage: "vllm/vllm-openai:v0.29.0-cu129" })).toEqual([
      expect.stringMatching(/^vllm-auth:gpuInstanceTypes: "p3\.2xlarge" has V100 \(Volta\) GPUs, which vllm\/vllm-openai:v0\.29\.0-cu129 cannot run on/),
    ]);
    // An image built elsewhere, or a release before CUDA 13 became the default, is the user's call.
    for (const vllmImage of ["ghcr.io/acme/vllm:cuda12.6-volta", "vllm/vllm-openai:v0.19.1"]) {
      expect(parseSettings(fakeReader({ gpuInstanceTypes: ["p3.2xlarge"], vllmImage })).aws.gpuInstanceTypes).toEqual(["p3.2xlarge"]);
    }
  });

  test("on existing, a node selector that pins vLLM to V100 nodes is refused too; CPU mode is not about GPUs", () => {
    expect(problemsOf({ ...EXISTING, nodeSelector: { "node.kubernetes.io/instance-type": "p3.8xlarge" } })).toEqual([
      expect.stringMatching(/^vllm-auth:nodeSelector: node\.kubernetes\.io\/instance-type: p3\.8xlarge has V100 \(Volta\) GPUs, which vllm\/vllm-openai:v0\.29\.0 cannot run on/),
    ]);
    const cpu = { ...EXISTING, gpusPerReplica: 0, nodeSelector: { "node.kubernetes.io/instance-type": "p3.8xlarge" } };
    expect(parseSettings(fakeReader(cpu)).gpusPerReplica).toBe(0);
  });

  test("autoscaling needs KEDA on aws and a Prometheus to read; a fixed count needs neither", () => {
    expect(problemsOf({ installKeda: false })).toEqual([
      "vllm-auth:installKeda: is false, but the aws target's new cluster has no KEDA to autoscale with. Remove the key (KEDA is installed), or set minReplicas equal to maxReplicas.",
    ]);
    expect(parseSettings(fakeReader({ installKeda: false, minReplicas: 2, maxReplicas: 2 })).installKeda).toBe(false);
    expect(parseSettings(fakeReader({ ...EXISTING, installKeda: false, installMonitoring: false, prometheusUrl: "https://prom.example.com" })).installKeda).toBe(false);
    expect(problemsOf({ ...EXISTING, installMonitoring: false })).toEqual([expect.stringMatching(/^vllm-auth:prometheusUrl: is required when installMonitoring is false/)]);
    expect(parseSettings(fakeReader({ ...EXISTING, installMonitoring: false, minReplicas: 1, maxReplicas: 1 })).prometheusUrl).toBeUndefined();
  });

  test("scale to zero: minReplicas 0 with room to scale up; the default maxGpus follows maxReplicas", () => {
    const s = parseSettings(fakeReader({ minReplicas: 0, maxReplicas: 3, gpusPerReplica: 2 }));
    expect(s.autoscaling).toMatchObject({ minReplicas: 0, maxReplicas: 3 });
    expect(s.aws.maxGpus).toBe(8);
    expect(parseSettings(fakeReader({ maxGpus: 10 })).aws.maxGpus).toBe(10);
    // On existing there are no GPU nodes to cap.
    expect(parseSettings(fakeReader({ ...EXISTING, maxReplicas: 5, maxGpus: 1 })).aws.maxGpus).toBe(1);
  });

  test("a check across keys is skipped when one of its keys is wrong itself, so each mistake is reported once", () => {
    expect(problemsOf({ minReplicas: 3, maxReplicas: "two" })).toEqual([
      'vllm-auth:maxReplicas: "two" is not a whole number. Write a number from 1 to 100, e.g. 2.',
    ]);
  });

  test("problems are listed in the reference page's order, whichever check found them", () => {
    const problems = problemsOf({ target: "existing", maxReplicas: "0", vllmImage: "vllm", namespace: "A" });
    expect(problems.map((p) => p.split(": ")[0])).toEqual(["vllm-auth:namespace", "vllm-auth:vllmImage", "vllm-auth:proxyImage", "vllm-auth:maxReplicas"]);
  });

  test("every mistake is reported at once, in one error that lists each", () => {
    let error: unknown;
    try {
      parseSettings(fakeReader({ target: "existing", maxReplicas: "-1", vllmImage: "vllm", allowedCidrs: ["x"], gpuCapacityTypes: ["cheap"] }));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message.split("\n")[0]).toBe("Invalid configuration (5 problems):");
    for (const key of ["maxReplicas", "vllmImage", "proxyImage", "allowedCidrs", "gpuCapacityTypes"]) {
      expect(message).toContain(`  - vllm-auth:${key}: `);
    }
  });

  test("secret values never appear in an error", () => {
    const problems = problemsOf({ target: "nope", hfToken: "hf_supersecret", kubeconfig: "token: kube-secret" });
    expect(problems.join("\n")).not.toMatch(/supersecret|kube-secret/);
  });
});

describe("warnings", () => {
  test("a gated meta-llama model without hfToken warns, with the command that fixes it", () => {
    const reader = fakeReader({});
    expect(settingsWarnings(parseSettings(reader), reader)).toEqual([
      expect.stringMatching(/^vllm-auth:hfToken is not set and meta-llama\/Llama-2-7b-chat-hf is a gated model: .* pulumi config set --secret vllm-auth:hfToken hf_\.\.\.$/),
    ]);
  });

  test("a token stored in plain text warns; a secret one does not", () => {
    const plain = fakeReader({ hfToken: "hf_x" });
    expect(settingsWarnings(parseSettings(plain), plain)).toEqual([expect.stringContaining("vllm-auth:hfToken is stored in plain text")]);
    const secret = fakeReader({ hfToken: "hf_x" }, { secret: ["hfToken"] });
    expect(settingsWarnings(parseSettings(secret), secret)).toEqual([]);
  });

  test("CPU mode with a GPU build of vLLM warns and names a CPU image; a CPU image does not", () => {
    const gpuImage = fakeReader({ ...EXISTING, model: "facebook/opt-125m", gpusPerReplica: 0 });
    expect(settingsWarnings(parseSettings(gpuImage), gpuImage)).toEqual([
      "vllm-auth:gpusPerReplica is 0 but vllm/vllm-openai:v0.29.0 looks like a GPU build of vLLM, which does not start without a GPU. " +
        "Set vllm-auth:vllmImage to a CPU build, e.g. public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.29.0.",
    ]);
    for (const image of ["public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.29.0", "public.ecr.aws/q9t5s3a7/vllm-arm64-cpu-release-repo:v0.29.0", "vllm/vllm-openai-cpu:v0.29.0"]) {
      const cpu = fakeReader({ ...EXISTING, model: "facebook/opt-125m", gpusPerReplica: 0, vllmImage: image });
      expect(settingsWarnings(parseSettings(cpu), cpu)).toEqual([]);
    }
  });

  test("a public model needs no token", () => {
    const reader = fakeReader({ model: "facebook/opt-125m" });
    expect(settingsWarnings(parseSettings(reader), reader)).toEqual([]);
  });
});

describe("isPinnedImage", () => {
  test.each([
    ["vllm/vllm-openai:v0.29.0", true],
    ["registry.local:5000/vllm-auth-proxy:dev", true],
    [`ghcr.io/acme/proxy@sha256:${"a".repeat(64)}`, true],
    ["vllm/vllm-openai:latest", false],
    ["vllm/vllm-openai", false],
    ["registry.local:5000/vllm-auth-proxy", false],
    ["docker://vllm/vllm-openai:v1", false],
  ])("%s -> %s", (ref, pinned) => {
    expect(isPinnedImage(ref)).toBe(pinned);
  });
});
