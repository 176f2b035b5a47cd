import { DEFINITIONS } from "../../infra/policy/policies";
import { deployment, nodeGroup, proxyContainer, service, vllmContainer } from "./fixtures";
import { level, PackServer, UNKNOWN_STRING } from "./pack-server";

const MANDATORY = [
  "vllm-port-not-exposed",
  "vllm-loopback-with-auth-proxy",
  "tokens-only-in-secrets",
  "images-pinned",
  "gpu-limits-and-taints",
  "proxy-restricted-security-context",
  "replicas-admit-only-gateways",
  "load-balancer-source-ranges-set",
];

describe("the policy pack as the Pulumi CLI runs it", () => {
  let pack: PackServer;
  beforeAll(async () => {
    pack = await PackServer.start();
  }, 60_000);
  afterAll(async () => {
    await pack?.stop();
  });

  it("serves as vllm-auth with the eight mandatory policies and the advisory one", async () => {
    const info = await pack.info();
    expect(info.getName()).toBe("vllm-auth");
    expect(info.getVersion()).toBe("0.1.0");
    const levels = Object.fromEntries(info.getPoliciesList().map((p) => [p.getName(), level(p.getEnforcementlevel())]));
    expect(levels).toEqual({
      ...Object.fromEntries(MANDATORY.map((name) => [name, "mandatory"])),
      "load-balancer-source-ranges-not-open": "advisory",
    });
    expect(DEFINITIONS.map((d) => d.name).sort()).toEqual(Object.keys(levels).sort());
  });

  it("passes a compliant Deployment, Service and node group", async () => {
    expect(await pack.analyze(deployment())).toEqual([]);
    expect(await pack.analyze(service())).toEqual([]);
    expect(await pack.analyze(nodeGroup())).toEqual([]);
  });

  it("reports each broken rule under its policy, at its level", async () => {
    const bad = deployment({
      containers: [
        vllmContainer({
          image: "vllm/vllm-openai:latest",
          command: ["vllm", "serve", "m", "--host", "0.0.0.0"],
          env: [{ name: "HF_TOKEN", value: "plain" }],
          resources: {},
        }),
        proxyContainer({ securityContext: {} }),
      ],
    });
    const found = await pack.analyze(bad);
    expect(new Set(found.map((d) => d.policy))).toEqual(
      new Set(["vllm-loopback-with-auth-proxy", "tokens-only-in-secrets", "images-pinned", "gpu-limits-and-taints", "proxy-restricted-security-context"]),
    );
    expect(found.every((d) => d.level === "mandatory")).toBe(true);

    const open = await pack.analyze(service({ loadBalancerSourceRanges: ["0.0.0.0/0"] }));
    expect(open.map((d) => [d.policy, d.level])).toEqual([["load-balancer-source-ranges-not-open", "advisory"]]);
    const missing = await pack.analyze(service({ loadBalancerSourceRanges: [] }));
    expect(missing.map((d) => [d.policy, d.level])).toEqual([["load-balancer-source-ranges-set", "mandatory"]]);
  });

  it("runs the exposure check over the whole stack and blames the Service", async () => {
    const exposed = service({ ports: [{ port: 80, targetPort: 8000 }] });
    const found = await pack.analyzeStack([deployment(), exposed]);
    expect(found).toHaveLength(1);
    expect(found[0]?.policy).toBe("vllm-port-not-exposed");
    expect(found[0]?.urn).toBe(exposed.urn);
    expect(await pack.analyzeStack([deployment(), service()])).toEqual([]);
  });

  it("still judges a pod during preview when its images are not known yet", async () => {
    const previewing = deployment({
      containers: [vllmContainer({ image: UNKNOWN_STRING, command: ["vllm", "serve", "m"] }), proxyContainer({ image: UNKNOWN_STRING })],
    });
    const found = await pack.analyze(previewing);
    const byPolicy = new Map(found.map((d) => [d.policy, d]));
    // The image policy cannot decide and says so; vLLM is still recognised by its command.
    expect(byPolicy.get("images-pinned")?.level).toBe("advisory");
    expect(byPolicy.get("images-pinned")?.message).toMatch(/can't run .* during preview/);
    expect(byPolicy.get("vllm-loopback-with-auth-proxy")?.message).toMatch(/sets no --host/);
    expect(byPolicy.has("proxy-restricted-security-context")).toBe(false);
  });
});
