import { ProgramRun, container, deploymentOf, existingConfig, manifests, runProgram, serviceOf, validateManifest } from "./harness";

const CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789";
const P = "service.beta.kubernetes.io/aws-load-balancer";

let run: ProgramRun;

beforeAll(async () => {
  run = await runProgram(
    existingConfig({
      "vllm-auth:domain": "LLM.example.com",
      "vllm-auth:certificateArn": CERT,
      "vllm-auth:allowedCidrs": JSON.stringify(["203.0.113.0/24", "198.51.100.0/24"]),
    }),
    ["vllm-auth:hfToken"],
  );
});

describe("existing target with TLS and the 308 redirect", () => {
  test("every Kubernetes object is valid against the schema", () => {
    for (const m of manifests(run)) {
      expect(() => validateManifest(m)).not.toThrow();
    }
  });

  test("443 goes to the gateway's API, 80 to its redirect listener, and nothing else is exposed", () => {
    expect(serviceOf(run).spec!.ports).toEqual([
      { name: "https", port: 443, targetPort: "http", protocol: "TCP" },
      { name: "http", port: 80, targetPort: "redirect", protocol: "TCP" },
    ]);
    const gateway = container(deploymentOf(run, "vllm-gateway"), "gateway");
    expect(gateway.ports!.map((p) => [p.name, p.containerPort])).toEqual([
      ["http", 8080],
      ["redirect", 8081],
      ["metrics", 9090],
    ]);
    // The replicas never redirect: only the gateway faces clients.
    expect(container(deploymentOf(run), "proxy").ports!.map((p) => p.name)).toEqual(["http", "metrics"]);
  });

  test("the NLB terminates TLS on 443 with the certificate and a TLS 1.2+ policy", () => {
    const a = serviceOf(run).metadata!.annotations!;
    expect(a[`${P}-ssl-cert`]).toBe(CERT);
    expect(a[`${P}-ssl-ports`]).toBe("443");
    expect(a[`${P}-ssl-negotiation-policy`]).toBe("ELBSecurityPolicy-TLS13-1-2-2021-06");
    // Health checks go to the API port, never to the redirect listener (which answers 308).
    expect(a[`${P}-healthcheck-port`]).toBe("8080");
  });

  test("the gateway's redirect listener points at https://<domain>, lower-cased, with no path", () => {
    const env = container(deploymentOf(run, "vllm-gateway"), "gateway").env!;
    expect(env).toEqual(
      expect.arrayContaining([
        { name: "REDIRECT_PORT", value: "8081" },
        { name: "REDIRECT_TO", value: "https://llm.example.com" },
        { name: "FORWARDED_PROTO", value: "https" },
      ]),
    );
  });

  test("allowedCidrs limit who reaches the load balancer", () => {
    expect(serviceOf(run).spec!.loadBalancerSourceRanges).toEqual(["203.0.113.0/24", "198.51.100.0/24"]);
  });

  test("outputs name the domain: http://$(endpoint) is redirected to https, url is https", () => {
    expect(run.outputs.endpoint.value).toBe("llm.example.com");
    expect(run.outputs.url.value).toBe("https://llm.example.com");
    expect(run.outputs.openaiBaseUrl.value).toBe("https://llm.example.com/v1");
    expect(run.outputs.loadBalancerHostname.value).toMatch(/\.elb\.us-east-1\.amazonaws\.com$/);
  });
});
