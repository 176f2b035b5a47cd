import type * as PulumiModule from "@pulumi/pulumi";
import { parse } from "yaml";
import { LB_HOSTNAME, OutputValue, StackConfig } from "../pulumi/harness";
import { IMAGE_DIGEST, NLB_ZONE_ID, RecordingMocks, Registered, isSecretInput, plain, settle } from "./mocks";

/** One run of the whole program (stacks/index.ts) for the aws target. */
interface AwsRun {
  readonly mocks: RecordingMocks;
  readonly outputs: Record<string, OutputValue>;
  readonly warnings: string[];
}

/**
 * Runs stacks/index.ts as `pulumi up` would, with the given stack config, in a fresh module registry.
 * Same steps as test/pulumi/harness.ts's runProgram, with the AWS provider functions answered.
 */
async function runAwsProgram(config: StackConfig, secretKeys: readonly string[] = []): Promise<AwsRun> {
  jest.resetModules();
  const pulumi = require("@pulumi/pulumi") as typeof PulumiModule;
  const mocks = new RecordingMocks();
  await pulumi.runtime.setMocks(mocks, "vllm-auth", "dev", false);
  pulumi.runtime.setAllConfig({ ...config }, [...secretKeys]);
  const warnings: string[] = [];
  const originalWarn = pulumi.log.warn;
  pulumi.log.warn = (msg: string) => {
    warnings.push(msg);
    return Promise.resolve();
  };
  try {
    const program = require("../../stacks/index") as Record<string, unknown>;
    const outputs: Record<string, OutputValue> = {};
    for (const [key, value] of Object.entries(program)) {
      if (pulumi.Output.isInstance(value)) {
        const resolved = await new Promise<unknown>((resolve) => value.apply((v) => resolve(v)));
        outputs[key] = { value: resolved, secret: await pulumi.isSecret(value) };
      } else if (value !== undefined) {
        outputs[key] = { value, secret: false };
      }
    }
    await settle(mocks);
    await pulumi.runtime.disconnect();
    return { mocks, outputs, warnings };
  } finally {
    pulumi.log.warn = originalWarn;
  }
}

/** A new user's aws stack: the target, the Hugging Face token and a region; everything else defaults. */
function awsConfig(extra: StackConfig = {}): StackConfig {
  return {
    "aws:region": "us-east-1",
    "vllm-auth:target": "aws",
    "vllm-auth:hfToken": "hf_testtoken_0123456789",
    ...extra,
  };
}

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const only = (mocks: RecordingMocks, type: string): Registered => {
  const found = mocks.ofType(type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0];
};
const podSpec = (mocks: RecordingMocks): Obj => plain(only(mocks, "kubernetes:apps/v1:Deployment").inputs).spec.template.spec;

describe("the whole program, target aws, default config", () => {
  let run: AwsRun;
  beforeAll(async () => {
    run = await runAwsProgram(awsConfig(), ["vllm-auth:hfToken"]);
  }, 30000);

  it("deploys every Kubernetes object through the new cluster's provider, never the ambient kubeconfig", () => {
    const k8sObjects = run.mocks.resources.filter((r) => r.type.startsWith("kubernetes:"));
    expect(k8sObjects.length).toBeGreaterThan(4);
    for (const r of k8sObjects) expect(r.provider).toMatch(/\$pulumi:providers:kubernetes::vllm-k8s::/);
    expect(run.mocks.ofType("pulumi:providers:kubernetes").map((p) => p.name)).toEqual(["vllm-k8s"]);
  });

  it("schedules vLLM only where the GPU node group lets it: the taint is tolerated and the selector matches", () => {
    const ng = run.mocks.named("aws:eks/nodeGroup:NodeGroup", "vllm-gpu-ng").inputs as Obj;
    const spec = podSpec(run.mocks);
    for (const taint of ng.taints as Obj[]) {
      const effect = { NO_SCHEDULE: "NoSchedule", NO_EXECUTE: "NoExecute", PREFER_NO_SCHEDULE: "PreferNoSchedule" }[taint.effect as string];
      const tolerated = (spec.tolerations as Obj[]).some(
        (t) => t.key === taint.key && (t.operator === "Exists" || t.value === taint.value) && (t.effect === undefined || t.effect === effect),
      );
      expect(tolerated).toBe(true);
    }
    for (const [key, value] of Object.entries((spec.nodeSelector ?? {}) as Record<string, string>)) {
      expect(ng.labels[key]).toBe(value);
    }
    const vllm = (spec.containers as Obj[]).find((c) => c.resources?.limits?.["nvidia.com/gpu"] !== undefined);
    expect(vllm).toBeDefined();
  });

  it("sizes the GPU nodes' data volume for the model cache plus the vLLM image", () => {
    const lt = run.mocks.named("aws:ec2/launchTemplate:LaunchTemplate", "vllm-gpu-lt").inputs as Obj;
    const cache = (podSpec(run.mocks).volumes as Obj[]).find((v) => v.name === "model-cache");
    const cacheGiB = Number(/^(\d+)Gi$/.exec(cache?.emptyDir.sizeLimit)?.[1]);
    expect(cacheGiB).toBeGreaterThan(0);
    expect(lt.blockDeviceMappings[0].ebs.volumeSize).toBeGreaterThanOrEqual(cacheGiB + 30);
  });

  it("runs the proxy image built and pushed to ECR, pinned by digest", () => {
    const proxy = (podSpec(run.mocks).containers as Obj[]).find((c) => String(c.image).includes(".dkr.ecr."));
    expect(proxy?.image).toBe(`123456789012.dkr.ecr.us-east-1.amazonaws.com/vllm-proxy-repo@${IMAGE_DIGEST}`);
  });

  it("asks for an NLB the installed AWS Load Balancer Controller can build", () => {
    const service = plain(only(run.mocks, "kubernetes:core/v1:Service").inputs);
    expect(service.metadata.annotations["service.beta.kubernetes.io/aws-load-balancer-type"]).toBe("external");
    expect(only(run.mocks, "kubernetes:helm.sh/v3:Release").inputs.chart).toBe("aws-load-balancer-controller");
  });

  it("exports the endpoint, a secret token and a secret kubeconfig that calls aws eks get-token", () => {
    expect(run.outputs.endpoint).toEqual({ value: LB_HOSTNAME, secret: false });
    expect(run.outputs.token.secret).toBe(true);
    expect(run.outputs.kubeconfig.secret).toBe(true);
    const kubeconfig = parse(run.outputs.kubeconfig.value as string);
    expect(kubeconfig.users[0].user.exec.args).toContain("get-token");
  });

  it("creates the cluster on the configured default Kubernetes version with its pinned add-ons", () => {
    const version = (run.mocks.named("aws:eks/cluster:Cluster", "vllm-eks").inputs as Obj).version as string;
    const kubeProxy = run.mocks.ofType("aws:eks/addon:Addon").find((a) => a.inputs.addonName === "kube-proxy");
    expect(String(kubeProxy?.inputs.addonVersion)).toMatch(new RegExp(`^v${version.replace(".", "\\.")}\\.`));
  });

  it("keeps the Hugging Face token out of every plain-text input", () => {
    for (const r of run.mocks.resources) {
      const text = JSON.stringify(r.inputs, (_k, v) => (isSecretInput(v) ? "[secret]" : v));
      expect(text).not.toContain("hf_testtoken_0123456789");
    }
  });
});

describe("the whole program, target aws, Route 53 TLS, prebuilt proxy, spot then on-demand", () => {
  let run: AwsRun;
  beforeAll(async () => {
    run = await runAwsProgram(
      awsConfig({
        "vllm-auth:domain": "llm.example.com",
        "vllm-auth:hostedZoneId": "Z0123456789ABCDEFGHIJ",
        "vllm-auth:proxyImage": "ghcr.io/acme/vllm-auth-proxy:0.1.0",
        "vllm-auth:gpuPools": '[{"name": "spot", "capacityType": "SPOT"}, {"name": "ondemand", "desiredSize": 0}]',
      }),
      ["vllm-auth:hfToken"],
    );
  }, 30000);

  it("terminates TLS on the NLB with the certificate the program issued and validated", () => {
    const service = plain(only(run.mocks, "kubernetes:core/v1:Service").inputs);
    expect(service.metadata.annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"]).toBe(
      "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555",
    );
    expect(only(run.mocks, "aws:acm/certificateValidation:CertificateValidation")).toBeDefined();
  });

  it("points the domain at the load balancer and exports the domain as the endpoint", () => {
    const alias = run.mocks.named("aws:route53/record:Record", "vllm-dns-alias").inputs as Obj;
    expect(alias.aliases).toEqual([{ name: LB_HOSTNAME, zoneId: NLB_ZONE_ID, evaluateTargetHealth: true }]);
    expect(run.outputs.endpoint.value).toBe("llm.example.com");
  });

  it("builds no image and runs the prebuilt proxy", () => {
    expect(run.mocks.ofType("docker-build:index:Image")).toHaveLength(0);
    expect((podSpec(run.mocks).containers as Obj[]).map((c) => c.image)).toContain("ghcr.io/acme/vllm-auth-proxy:0.1.0");
  });

  it("makes a spot pool that serves and an empty on-demand pool to fall back on", () => {
    const spot = run.mocks.named("aws:eks/nodeGroup:NodeGroup", "vllm-spot-ng").inputs as Obj;
    const onDemand = run.mocks.named("aws:eks/nodeGroup:NodeGroup", "vllm-ondemand-ng").inputs as Obj;
    expect(spot.capacityType).toBe("SPOT");
    expect(spot.scalingConfig.desiredSize).toBe(2);
    expect(onDemand.capacityType).toBe("ON_DEMAND");
    expect(onDemand.scalingConfig.desiredSize).toBe(0);
    expect(onDemand.scalingConfig.maxSize).toBeGreaterThanOrEqual(1);
  });
});
