import { spawn } from "child_process";
import { createHash } from "crypto";
import * as http from "http";
import * as net from "net";
import { AddressInfo } from "net";
import { digestRef, validateRepository } from "../../infra/image/pushedImage";
import {
  TERMINATION_GRACE_SECONDS,
  anyKeyLimited,
  apiKeysProblems,
  appLabels,
  endpointFor,
  imageVersion,
  internalTokenFile,
  keysFileFor,
  labelValue,
  loadBalancerAddress,
  nlbAnnotations,
  servedModelId,
  servicePorts,
  validGenerations,
  validateVllmServerArgs,
  vllmDrainCommand,
  vllmHealthCommand,
} from "../../infra/k8s";

/** Runs a command, resolving with its exit code and how long it took. */
function exec(command: string[]): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command[0], command.slice(1), { stdio: "ignore" });
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, ms: Date.now() - started }));
  });
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

describe("labels", () => {
  test("six labels, values coerced into legal label values", () => {
    const labels = appLabels({ name: "vllm", instance: "vllm-auth-dev", version: "v0.29.0" }, "server");
    expect(labels).toEqual({
      "app.kubernetes.io/name": "vllm",
      "app.kubernetes.io/instance": "vllm-auth-dev",
      "app.kubernetes.io/version": "v0.29.0",
      "app.kubernetes.io/component": "server",
      "app.kubernetes.io/part-of": "vllm-auth",
      "app.kubernetes.io/managed-by": "pulumi",
    });
    expect(labelValue("-my stack/name_")).toBe("my-stack-name");
    expect(labelValue("x".repeat(80))).toHaveLength(63);
  });

  test("the version label comes from the image tag, or the digest when pinned by digest", () => {
    expect(imageVersion("vllm/vllm-openai:v0.29.0")).toBe("v0.29.0");
    expect(imageVersion("registry.local:5000/vllm:v1")).toBe("v1");
    expect(imageVersion(`vllm/vllm-openai@sha256:${"c".repeat(64)}`)).toBe("sha256-cccccccccccc");
  });
});

describe("keys and the internal credential", () => {
  test("key names are checked all at once: one at least, each once, a safe name, whole generations and limits", () => {
    expect(apiKeysProblems([{ name: "alice", generation: 0 }, { name: "ci-bot", generation: 3, rpm: 60 }])).toEqual([]);
    expect(apiKeysProblems([])).toEqual(["apiKeys is empty: name at least one key, e.g. [{name: default}]"]);
    expect(apiKeysProblems([{ name: "a", generation: 0 }, { name: "a", generation: -1, tpm: 0 }])).toEqual([
      'key name "a" appears twice: each key needs its own name',
      'key "a": generation must be a whole number >= 0, got -1',
      'key "a": tpm must be a whole number >= 1 or unset, got 0',
    ]);
    expect(apiKeysProblems([{ name: "Bob_1", generation: 0 }])[0]).toMatch(/^key name "Bob_1": use 1 to 32 lowercase letters/);
  });

  test("the keys file lists names, digests and limits, sorted by name; a key without limits has none", () => {
    const keys = [{ name: "zed", generation: 0 }, { name: "amy", generation: 1, concurrency: 2 }];
    const file = JSON.parse(keysFileFor(keys, ["key-z", "key-a"]));
    expect(file).toEqual({
      version: 1,
      keys: [
        { name: "amy", sha256: createHash("sha256").update("key-a").digest("hex"), limits: { concurrency: 2 } },
        { name: "zed", sha256: createHash("sha256").update("key-z").digest("hex") },
      ],
    });
    expect(anyKeyLimited(keys)).toBe(true);
    expect(anyKeyLimited([{ name: "zed", generation: 0 }])).toBe(false);
  });

  test("the internal credential keeps the previous generation, current first", () => {
    expect(validGenerations(0)).toEqual([0]);
    expect(validGenerations(3)).toEqual([3, 2]);
    expect(() => validGenerations(-1)).toThrow("InternalCredential: generation must be a whole number >= 0, got -1");
    expect(internalTokenFile(["new", "old"])).toBe("new\nold\n");
  });
});

describe("ingress", () => {
  test("endpoint: no scheme; IPv6 bracketed; the domain with TLS", () => {
    expect(endpointFor("lb.example.com", false)).toEqual({ endpoint: "lb.example.com", url: "http://lb.example.com" });
    expect(endpointFor("2001:db8::1", false)).toEqual({ endpoint: "[2001:db8::1]", url: "http://[2001:db8::1]" });
    expect(endpointFor("lb.example.com", true, "llm.example.com")).toEqual({ endpoint: "llm.example.com", url: "https://llm.example.com" });
  });

  test("the address is the AWS hostname, or the IP other load balancers report", () => {
    expect(loadBalancerAddress({ loadBalancer: { ingress: [{ hostname: "h.elb.amazonaws.com" }] } } as never)).toBe("h.elb.amazonaws.com");
    expect(loadBalancerAddress({ loadBalancer: { ingress: [{ ip: "172.18.0.5" }] } } as never)).toBe("172.18.0.5");
    expect(() => loadBalancerAddress({ loadBalancer: {} } as never)).toThrow(/is a load balancer controller installed/);
  });

  test("TLS adds the certificate and moves port 80 to the redirect listener", () => {
    expect(servicePorts(false).map((p) => `${p.port}->${p.targetPort}`)).toEqual(["80->http"]);
    expect(servicePorts(true).map((p) => `${p.port}->${p.targetPort}`)).toEqual(["443->http", "80->redirect"]);
    expect(Object.keys(nlbAnnotations()).filter((k) => k.includes("ssl"))).toEqual([]);
    expect(nlbAnnotations({ certificateArn: "arn:x" })["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"]).toBe("arn:x");
  });
});

describe("vLLM server arguments", () => {
  const base = { namespace: "n", app: { name: "a", instance: "b", version: "c" }, model: "m", vllmImage: "i:1", vllmArgs: [], proxyImage: "p:1", internalTokenSecretName: "t", vllmResources: { cpu: "1", memory: "1Gi" }, proxyResources: { cpu: "1", memory: "1Gi" } };
  test("impossible values fail before any object is made", () => {
    expect(() => validateVllmServerArgs({ ...base, replicas: -1 })).toThrow("VllmServer: replicas must be a whole number >= 0, got -1");
    expect(() => validateVllmServerArgs({ ...base, replicas: 0 })).toThrow(/replicas 0 serves nothing unless an autoscaler owns the count/);
    expect(() => validateVllmServerArgs({ ...base, replicas: 0, autoscaled: true })).not.toThrow();
    expect(() => validateVllmServerArgs({ ...base, gpusPerReplica: 1.5 })).toThrow("VllmServer: gpusPerReplica must be a whole number >= 0, got 1.5");
  });

  test("the model id the gateway announces follows --served-model-name, as /v1/models does", () => {
    expect(servedModelId("meta-llama/Llama-2-7b-chat-hf", ["--max-model-len", "4096"])).toBe("meta-llama/Llama-2-7b-chat-hf");
    expect(servedModelId("m", ["--served-model-name", "llama2", "--max-model-len", "4096"])).toBe("llama2");
    expect(servedModelId("m", ["--served-model-name=llama2"])).toBe("llama2");
  });

  test("the grace period is longer than the preStop pause plus the proxy's drain", () => {
    expect(TERMINATION_GRACE_SECONDS).toBeGreaterThan(15 + 240);
  });
});

describe("pushed image", () => {
  test("referenced by digest; a build without a digest is an error", () => {
    expect(digestRef("ghcr.io/a/p", `sha256:${"1".repeat(64)}`)).toBe(`ghcr.io/a/p@sha256:${"1".repeat(64)}`);
    expect(() => digestRef("ghcr.io/a/p", "")).toThrow(/returned no usable digest/);
    expect(() => validateRepository("https://ghcr.io/a")).toThrow(/not a repository path/);
    expect(() => validateRepository("ghcr.io/a/p:tag")).toThrow(/not a repository path/);
    expect(() => validateRepository("registry.local:5000/p")).not.toThrow();
  });
});

describe("the probe and preStop programs run by python3 in the vLLM image", () => {
  let upstream: http.Server;
  let port: number;
  let healthy = true;
  beforeAll(async () => {
    upstream = http.createServer((_req, res) => {
      res.writeHead(healthy ? 200 : 503).end();
    });
    port = await listen(upstream);
  });
  afterAll(() => new Promise<void>((resolve) => upstream.close(() => resolve())));

  test("the health probe succeeds on 200 and fails on 503 or a refused connection", async () => {
    healthy = true;
    expect((await exec(vllmHealthCommand(port))).code).toBe(0);
    healthy = false;
    expect((await exec(vllmHealthCommand(port))).code).not.toBe(0);
    const closed = net.createServer();
    const freePort = await listen(closed);
    await new Promise<void>((r) => closed.close(() => r()));
    expect((await exec(vllmHealthCommand(freePort))).code).not.toBe(0);
  });

  test("the drain waits while a connection to vLLM is open and returns once it closes", async () => {
    const server = net.createServer((socket) => socket.on("error", () => undefined));
    const drainPort = await listen(server);
    const client = net.connect(drainPort, "127.0.0.1");
    await new Promise((r) => client.on("connect", r));
    setTimeout(() => client.destroy(), 1500);
    const { code, ms } = await exec(vllmDrainCommand({ pauseSeconds: 0, graceSeconds: 20, port: drainPort }));
    expect(code).toBe(0);
    expect(ms).toBeGreaterThanOrEqual(1400);
    expect(ms).toBeLessThan(10_000);
    await new Promise<void>((r) => server.close(() => r()));
  });

  test("the drain returns at once when nothing is connected, and gives up at the deadline", async () => {
    // A drain that saw a connection would poll until the deadline; python3 alone can take seconds to start on a loaded runner.
    const graceSeconds = 20;
    const idle = await exec(vllmDrainCommand({ pauseSeconds: 0, graceSeconds, port: 1 }));
    expect(idle.code).toBe(0);
    expect(idle.ms).toBeLessThan((graceSeconds * 1000) / 2);
    const server = net.createServer((socket) => socket.on("error", () => undefined));
    const busyPort = await listen(server);
    const client = net.connect(busyPort, "127.0.0.1");
    await new Promise((r) => client.on("connect", r));
    // Still connected: only the one-second deadline ends this drain; waiting for the client would hang the test.
    const capped = await exec(vllmDrainCommand({ pauseSeconds: 0, graceSeconds: 1, port: busyPort }));
    expect(capped.code).toBe(0);
    expect(capped.ms).toBeGreaterThanOrEqual(900);
    expect(capped.ms).toBeLessThan(10_000);
    client.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
});
