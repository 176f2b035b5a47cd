import { checkVllmNotExposed } from "../../infra/policy/checks/exposure";
import { ResourceInput } from "../../infra/policy/values";
import {
  deployment,
  GATEWAY_SELECTOR,
  gatewayContainer,
  gatewayDeployment,
  proxyContainer,
  replicaDeployment,
  SELECTOR,
  service,
  vllmContainer,
} from "./fixtures";

function ingress(backend: Record<string, unknown>): ResourceInput {
  return {
    type: "kubernetes:networking.k8s.io/v1:Ingress",
    name: "public",
    urn: "urn:pulumi:dev::vllm-auth::kubernetes:networking.k8s.io/v1:Ingress::public",
    props: {
      metadata: { name: "public", namespace: "vllm-auth" },
      spec: { rules: [{ host: "llm.example.com", http: { paths: [{ path: "/", pathType: "Prefix", backend }] } }] },
    },
  };
}

describe("policy 1: vllm-port-not-exposed", () => {
  it("passes the stack's shape: a LoadBalancer to the proxy's named ports", () => {
    const tls = service({
      ports: [
        { name: "https", port: 443, targetPort: "http" },
        { name: "http", port: 80, targetPort: "redirect" },
      ],
    });
    expect(checkVllmNotExposed([deployment(), tls])).toEqual([]);
    expect(checkVllmNotExposed([deployment(), service({ ports: [{ port: 80, targetPort: 8080 }] })])).toEqual([]);
  });

  it("fails a LoadBalancer whose targetPort is vLLM's port, and says to target the proxy", () => {
    const findings = checkVllmNotExposed([deployment(), service({ ports: [{ name: "api", port: 80, targetPort: 8000 }] })]);
    expect(findings).toHaveLength(1);
    expect(findings[0]?.urn).toContain("Service");
    expect(findings[0]?.message).toMatch(/port 8000/);
    expect(findings[0]?.message).toMatch(/Set targetPort to "http" \(8080\)/);
  });

  it("follows --port when vLLM listens elsewhere, and named ports declared on the vLLM container", () => {
    const moved = vllmContainer({
      command: ["vllm", "serve", "m", "--host", "127.0.0.1", "--port=9000"],
      ports: [{ name: "vllm", containerPort: 9000 }],
    });
    const pod = deployment({ containers: [moved, proxyContainer()] });
    expect(checkVllmNotExposed([pod, service({ ports: [{ port: 80, targetPort: 9000 }] })])[0]?.message).toMatch(
      /targets the vLLM container "vllm" directly/,
    );
    expect(checkVllmNotExposed([pod, service({ ports: [{ port: 80, targetPort: "vllm" }] })])).toHaveLength(1);
    expect(checkVllmNotExposed([pod, service({ ports: [{ port: 80, targetPort: 8000 }] })])[0]?.message).toMatch(
      /not a port of the auth proxy/,
    );
  });

  it("fails a NodePort too, and a port left to default to the Service port", () => {
    const findings = checkVllmNotExposed([deployment(), service({ type: "NodePort", ports: [{ port: 8000 }] })]);
    expect(findings).toHaveLength(1);
    expect(findings[0]?.message).toMatch(/type NodePort/);
  });

  it("keeps the proxy's metrics port off the load balancer", () => {
    const findings = checkVllmNotExposed([deployment(), service({ ports: [{ port: 9090, targetPort: "metrics" }] })]);
    expect(findings[0]?.message).toMatch(/metrics/);
  });

  it("ignores ClusterIP Services and Services of pods without vLLM", () => {
    const internal = service({ type: "ClusterIP", ports: [{ port: 8000, targetPort: 8000 }] });
    expect(checkVllmNotExposed([deployment(), internal])).toEqual([]);
    const other = service({ selector: { app: "grafana" }, ports: [{ port: 80, targetPort: 3000 }] });
    expect(checkVllmNotExposed([deployment(), other])).toEqual([]);
  });

  it("fails an exposed port 8000 even when the pods live outside the stack", () => {
    const orphan = service({ selector: { app: "elsewhere" }, ports: [{ port: 80, targetPort: 8000 }] });
    expect(checkVllmNotExposed([deployment(), orphan])).toHaveLength(1);
  });

  it("does not match pods in another namespace", () => {
    const elsewhere = service({ ports: [{ port: 80, targetPort: 8000 }] }, { namespace: "other" });
    // Falls back to the numeric rule: port 8000 is still vLLM's port.
    expect(checkVllmNotExposed([deployment(), elsewhere])).toHaveLength(1);
    const harmless = service({ ports: [{ port: 80, targetPort: 8080 }] }, { namespace: "other" });
    expect(checkVllmNotExposed([deployment(), harmless])).toEqual([]);
  });

  it("follows an Ingress through a ClusterIP Service to the vLLM port", () => {
    const backendSvc = service({ type: "ClusterIP", ports: [{ name: "api", port: 8000, targetPort: 8000 }] }, {}, "vllm-internal");
    const bad = ingress({ service: { name: "vllm-internal", port: { number: 8000 } } });
    const findings = checkVllmNotExposed([deployment(), backendSvc, bad]);
    expect(findings).toHaveLength(1);
    expect(findings[0]?.urn).toContain("Ingress");
    expect(findings[0]?.message).toMatch(/routed from Ingress "public"/);

    const good = service({ type: "ClusterIP", ports: [{ name: "web", port: 80, targetPort: "http" }] }, {}, "proxy-internal");
    expect(checkVllmNotExposed([deployment(), good, ingress({ service: { name: "proxy-internal", port: { name: "web" } } })])).toEqual([]);
  });

  it("follows a Gateway API HTTPRoute to the Service it names", () => {
    const backendSvc = service({ type: "ClusterIP", ports: [{ port: 8000, targetPort: 8000 }] }, {}, "vllm-internal");
    const route: ResourceInput = {
      type: "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
      name: "route",
      props: { metadata: { name: "route", namespace: "vllm-auth" }, spec: { rules: [{ backendRefs: [{ name: "vllm-internal", port: 8000 }] }] } },
    };
    expect(checkVllmNotExposed([deployment(), backendSvc, route])).toHaveLength(1);
  });

  it("two tiers: passes a LoadBalancer to the gateway's API and redirect listener", () => {
    const tls = service({
      selector: GATEWAY_SELECTOR,
      ports: [
        { name: "https", port: 443, targetPort: "http" },
        { name: "http", port: 80, targetPort: "redirect" },
      ],
    });
    expect(checkVllmNotExposed([replicaDeployment(), gatewayDeployment(), tls])).toEqual([]);
  });

  it("two tiers: fails a load balancer that selects the replicas, even on the sidecar's own port", () => {
    const findings = checkVllmNotExposed([replicaDeployment(), gatewayDeployment(), service({ ports: [{ port: 80, targetPort: "http" }] })]);
    expect(findings).toHaveLength(1);
    expect(findings[0]?.message).toMatch(/selects the vLLM replicas of Deployment "vllm", whose sidecar "proxy" runs in role sidecar/);
    expect(findings[0]?.message).toMatch(/Select the gateway pods \(ROLE=gateway\) instead/);
    const nodePort = service({ type: "NodePort", ports: [{ port: 8080, targetPort: 8080 }] });
    expect(checkVllmNotExposed([replicaDeployment(), nodePort])).toHaveLength(1);
  });

  it("two tiers: keeps the gateway's metrics port and any other port off the load balancer", () => {
    const metrics = checkVllmNotExposed([gatewayDeployment(), service({ selector: GATEWAY_SELECTOR, ports: [{ port: 9090, targetPort: "metrics" }] })]);
    expect(metrics[0]?.message).toMatch(/selects the gateway pods of Deployment "vllm-gateway" and reaches the gateway's Prometheus metrics port/);
    const stray = checkVllmNotExposed([gatewayDeployment(), service({ selector: GATEWAY_SELECTOR, ports: [{ port: 80, targetPort: 3000 }] })]);
    expect(stray[0]?.message).toMatch(/not a serving port of the gateway/);
    expect(stray[0]?.message).toMatch(/Set targetPort to "http" \(8080\) or "redirect" \(8081\)/);
    // A gateway container recognised by its role alone, whatever it is called.
    const renamed = gatewayDeployment([gatewayContainer({ name: "front" })]);
    expect(checkVllmNotExposed([renamed, service({ selector: GATEWAY_SELECTOR })])).toEqual([]);
  });

  it("selects on every selector label, not on a subset", () => {
    const partial = service({ selector: { ...SELECTOR, extra: "x" }, ports: [{ port: 80, targetPort: 9999 }] });
    expect(checkVllmNotExposed([deployment(), partial])).toEqual([]);
  });
});
