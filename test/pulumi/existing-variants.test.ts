import {
  PROXY_DIGEST,
  ProgramRun,
  container,
  deploymentOf,
  existingConfig,
  manifests,
  podSpec,
  runProgram,
  single,
  validateManifest,
} from "./harness";

const CPU_IMAGE = "public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.29.0";

function expectAllValid(run: ProgramRun): void {
  for (const m of manifests(run)) {
    expect(() => validateManifest(m)).not.toThrow();
  }
}

describe("CPU-only trial (kind/minikube): opt-125m on the CPU image, one replica, no GPU", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram({
      "vllm-auth:target": "existing",
      "vllm-auth:proxyImage": "vllm-auth-proxy:dev",
      "vllm-auth:model": "facebook/opt-125m",
      "vllm-auth:vllmImage": CPU_IMAGE,
      "vllm-auth:gpusPerReplica": "0",
      "vllm-auth:minReplicas": "1",
      "vllm-auth:maxReplicas": "1",
      "vllm-auth:vllmArgs": JSON.stringify(["--max-model-len", "2048"]),
      "vllm-auth:vllmResources": JSON.stringify({ cpu: "2", memory: "6Gi" }),
      "vllm-auth:modelCacheGiB": "5",
    });
  });

  test("valid objects, no GPU request, no GPU toleration, tensor parallel size 1", () => {
    expectAllValid(run);
    const d = deploymentOf(run);
    const vllm = container(d, "vllm");
    expect(vllm.image).toBe(CPU_IMAGE);
    expect(vllm.resources!.limits).toEqual({ cpu: "2", memory: "6Gi" });
    expect(podSpec(d).tolerations).toEqual([]);
    expect(vllm.command).toEqual([
      "vllm", "serve", "facebook/opt-125m", "--host", "127.0.0.1", "--port", "8000", "--tensor-parallel-size", "1",
      "--max-model-len", "2048",
    ]);
    expect(d.spec!.replicas).toBe(1);
    expect(podSpec(d).volumes!.find((v) => v.name === "model-cache")!.emptyDir!.sizeLimit).toBe("5Gi");
  });

  test("the CPU KV cache is capped, since vLLM would size it from the host's RAM and be OOM-killed", () => {
    expect(container(deploymentOf(run), "vllm").env).toContainEqual({ name: "VLLM_CPU_KVCACHE_SPACE", value: "1" });
  });

  test("a public model needs no Hugging Face Secret and gets no token env, and nothing warns", () => {
    expect(manifests(run).filter((m) => m.kind === "Secret" && m.metadata.namespace === "vllm").map((m) => m.metadata.name).sort()).toEqual(["vllm-api-keys", "vllm-internal-token"]);
    expect(container(deploymentOf(run), "vllm").env!.map((e) => e.name)).toEqual([
      "HF_HOME",
      "VLLM_NO_USAGE_STATS",
      "DO_NOT_TRACK",
      "VLLM_CPU_KVCACHE_SPACE",
    ]);
    expect(run.warnings).toEqual([]);
    expect(run.outputs.model.value).toBe("facebook/opt-125m");
  });

  test("the version label follows the vLLM image tag", () => {
    expect(deploymentOf(run).metadata!.labels!["app.kubernetes.io/version"]).toBe("v0.29.0");
  });
});

describe("scheduling and sizing settings", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram(
      existingConfig({
        "vllm-auth:namespace": "llm-serving",
        "vllm-auth:createNamespace": "false",
        "vllm-auth:minReplicas": "3",
        "vllm-auth:maxReplicas": "5",
        "vllm-auth:gpusPerReplica": "2",
        "vllm-auth:nodeSelector": JSON.stringify({ "node.kubernetes.io/instance-type": "g6.12xlarge" }),
        "vllm-auth:tolerations": JSON.stringify([{ key: "dedicated", operator: "Equal", value: "llm", effect: "NoSchedule" }]),
        "vllm-auth:proxyResources": JSON.stringify({ cpu: "500m", memory: "512Mi" }),
      }),
      ["vllm-auth:hfToken"],
    );
  });

  test("valid objects in the existing namespace, which the program does not create", () => {
    expectAllValid(run);
    // Only monitoring's own namespace is created; everything of the stack goes into llm-serving.
    expect(manifests(run).filter((m) => m.kind === "Namespace").map((m) => m.metadata.name)).toEqual(["monitoring"]);
    for (const m of manifests(run).filter((x) => x.kind !== "Namespace" && x.metadata.namespace !== "monitoring")) {
      expect(m.metadata.namespace).toBe("llm-serving");
    }
    expect(run.outputs.namespace.value).toBe("llm-serving");
  });

  test("two GPUs per pod set vLLM's tensor parallel size, the GPU limit and a larger /dev/shm", () => {
    const d = deploymentOf(run);
    const vllm = container(d, "vllm");
    expect(vllm.command!.slice(vllm.command!.indexOf("--tensor-parallel-size"), vllm.command!.indexOf("--tensor-parallel-size") + 2)).toEqual([
      "--tensor-parallel-size",
      "2",
    ]);
    expect(vllm.resources!.limits!["nvidia.com/gpu"]).toBe("2");
    expect(podSpec(d).volumes!.find((v) => v.name === "shm")!.emptyDir!.sizeLimit).toBe("4Gi");
    expect(d.spec!.replicas).toBe(3);
  });

  test("node selector and tolerations from config join the GPU toleration, on the replicas only", () => {
    const gateway = podSpec(deploymentOf(run, "vllm-gateway"));
    expect(gateway.tolerations).toBeUndefined();
    expect(gateway.nodeSelector).toEqual({ "kubernetes.io/os": "linux" });
    const spec = podSpec(deploymentOf(run));
    expect(spec.nodeSelector).toEqual({ "node.kubernetes.io/instance-type": "g6.12xlarge" });
    expect(spec.tolerations).toEqual([
      { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
      { key: "dedicated", operator: "Equal", value: "llm", effect: "NoSchedule" },
    ]);
    expect(container(deploymentOf(run), "proxy").resources!.limits).toEqual({ cpu: "500m", memory: "512Mi" });
  });

  test("each proxy's V8 old space is half its container's memory: 256 MiB for the 512Mi sidecar, 128 MiB for the default gateway", () => {
    const nodeOptions = (c: ReturnType<typeof container>) => c.env!.filter((e) => e.name === "NODE_OPTIONS").map((e) => e.value);
    expect(nodeOptions(container(deploymentOf(run), "proxy"))).toEqual(["--max-old-space-size=256"]);
    expect(nodeOptions(container(deploymentOf(run, "vllm-gateway"), "gateway"))).toEqual(["--max-old-space-size=128"]);
    expect(nodeOptions(container(deploymentOf(run), "vllm"))).toEqual([]);
  });
});

describe("proxy image built from proxy/ and pushed to proxyRegistry, cluster from kubeconfig and context", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram(
      existingConfig({
        "vllm-auth:proxyImage": "",
        "vllm-auth:proxyRegistry": "registry.example.com/team/",
        "vllm-auth:kubeconfig": "apiVersion: v1\nkind: Config\n",
        "vllm-auth:kubeContext": "kind-vllm",
      }),
      ["vllm-auth:hfToken", "vllm-auth:kubeconfig"],
    );
  });

  test("the image is built for linux/amd64 from the repository root with proxy/Dockerfile and pushed", () => {
    const image = single(run, "docker-build:index:Image");
    expect(image.inputs).toMatchObject({
      push: true,
      platforms: ["linux/amd64"],
      tags: ["registry.example.com/team/vllm-auth-proxy:dev"],
      context: { location: "." },
      dockerfile: { location: "proxy/Dockerfile" },
    });
  });

  test("gateways and sidecars run the pushed image by digest, not by tag", () => {
    expect(container(deploymentOf(run), "proxy").image).toBe(`registry.example.com/team/vllm-auth-proxy@${PROXY_DIGEST}`);
    expect(container(deploymentOf(run, "vllm-gateway"), "gateway").image).toBe(`registry.example.com/team/vllm-auth-proxy@${PROXY_DIGEST}`);
    expectAllValid(run);
  });

  test("the Kubernetes provider uses the configured kubeconfig (as a secret) and context", () => {
    const provider = single(run, "pulumi:providers:kubernetes");
    expect(provider.inputs.context).toBe("kind-vllm");
    expect(JSON.stringify(provider.inputs.kubeconfig)).toContain("kind: Config");
    expect(JSON.stringify(provider.inputs.kubeconfig)).toContain("1b47061264138c4ac30d75fd1eb44270");
  });
});

describe("a stack with config mistakes", () => {
  test("a misspelt key stops the program with the nearest key, instead of being ignored", async () => {
    await expect(runProgram(existingConfig({ "vllm-auth:gatewayReplica": "3" }))).rejects.toThrow(
      "vllm-auth:gatewayReplica: is not a key this program reads. Did you mean vllm-auth:gatewayReplicas?",
    );
  });

  test("fails before creating anything, with every mistake in one message", async () => {
    await expect(
      runProgram({
        "vllm-auth:target": "existing",
        "vllm-auth:maxReplicas": "two",
        "vllm-auth:vllmImage": "vllm/vllm-openai:latest",
      }),
    ).rejects.toThrow(
      /Invalid configuration \(3 problems\)[\s\S]*vllm-auth:vllmImage[\s\S]*vllm-auth:proxyImage[\s\S]*vllm-auth:maxReplicas/,
    );
  });
});
