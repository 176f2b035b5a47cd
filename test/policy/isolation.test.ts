import { checkReplicasAdmitOnlyGateways, matchesSelector } from "../../infra/policy/checks/isolation";
import {
  deployment,
  GATEWAY_SELECTOR,
  gatewayDeployment,
  networkPolicy,
  replicaDeployment,
  replicasPolicy,
  SELECTOR,
} from "./fixtures";

const MONITORING = { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } };
const gateways = { podSelector: { matchLabels: GATEWAY_SELECTOR } };

describe("policy 9: replicas-admit-only-gateways", () => {
  it("passes the stack's shape: the replicas' sidecar port open only to gateway pods, metrics to the monitoring namespace", () => {
    expect(checkReplicasAdmitOnlyGateways([replicaDeployment(), gatewayDeployment(), replicasPolicy()])).toEqual([]);
  });

  it("fails replicas that no NetworkPolicy selects, and says what to add", () => {
    const [finding] = checkReplicasAdmitOnlyGateways([replicaDeployment(), gatewayDeployment()]);
    expect(finding?.message).toMatch(/no NetworkPolicy with policyTypes \[Ingress\] selects its pods/);
    expect(finding?.message).toMatch(/admits port 8080 only from the gateway pods/);
    expect(finding?.urn).toContain("Deployment::vllm");
  });

  it("does not count a policy for other pods, another namespace or egress only", () => {
    const elsewhere = [
      replicasPolicy({ podSelector: { matchLabels: { app: "grafana" } } }),
      networkPolicy("other-ns", { podSelector: { matchLabels: SELECTOR }, policyTypes: ["Ingress"], ingress: [] }, "other"),
      networkPolicy("egress", { podSelector: { matchLabels: SELECTOR }, policyTypes: ["Egress"], egress: [] }),
    ];
    for (const policy of elsewhere) {
      expect(checkReplicasAdmitOnlyGateways([replicaDeployment(), gatewayDeployment(), policy])).toHaveLength(1);
    }
  });

  it("fails a rule that opens the API port to every source, another namespace, an ipBlock or every pod", () => {
    const open = [
      { ports: [{ protocol: "TCP", port: 8080 }] },
      { from: [MONITORING], ports: [{ protocol: "TCP", port: 8080 }] },
      { from: [{ ipBlock: { cidr: "10.0.0.0/8" } }], ports: [{ protocol: "TCP", port: 8080 }] },
      { from: [{ podSelector: {} }], ports: [{ protocol: "TCP", port: 8080 }] },
      { from: [gateways, MONITORING] },
    ];
    const expected = [/admits every source/, /other namespaces/, /ipBlock/, /not gateways \(Deployment "vllm"/, /other namespaces/];
    open.forEach((rule, i) => {
      const policy = replicasPolicy({ ingress: [rule] });
      const findings = checkReplicasAdmitOnlyGateways([replicaDeployment(), gatewayDeployment(), policy]);
      expect(findings).toHaveLength(1);
      expect(findings[0]?.message).toMatch(expected[i] as RegExp);
      expect(findings[0]?.urn).toContain("NetworkPolicy::vllm-replicas");
    });
  });

  it("judges by port: a rule for metrics only may admit the monitoring namespace; port ranges and names count", () => {
    const metricsOnly = replicasPolicy({ ingress: [{ from: [gateways], ports: [{ port: 8080 }] }, { from: [MONITORING], ports: [{ port: "metrics" }] }] });
    expect(checkReplicasAdmitOnlyGateways([replicaDeployment(), gatewayDeployment(), metricsOnly])).toEqual([]);
    const range = replicasPolicy({ ingress: [{ from: [MONITORING], ports: [{ port: 8000, endPort: 9000 }] }] });
    expect(checkReplicasAdmitOnlyGateways([replicaDeployment(), gatewayDeployment(), range])).toHaveLength(1);
    const named = replicasPolicy({ ingress: [{ from: [MONITORING], ports: [{ port: "http" }] }] });
    expect(checkReplicasAdmitOnlyGateways([replicaDeployment(), gatewayDeployment(), named])).toHaveLength(1);
  });

  it("fails a second policy that widens what the first allows: NetworkPolicies add up", () => {
    const wide = networkPolicy("allow-all", { podSelector: {}, ingress: [{}] });
    const findings = checkReplicasAdmitOnlyGateways([replicaDeployment(), gatewayDeployment(), replicasPolicy(), wide]);
    expect(findings.map((f) => f.urn)).toEqual(["urn:pulumi:dev::vllm-auth::kubernetes:networking.k8s.io/v1:NetworkPolicy::allow-all"]);
  });

  it("fails a peer that selects no gateway of the stack", () => {
    const typo = replicasPolicy({ ingress: [{ from: [{ podSelector: { matchLabels: { "app.kubernetes.io/name": "vllm-gatway" } } }], ports: [{ port: 8080 }] }] });
    expect(checkReplicasAdmitOnlyGateways([replicaDeployment(), gatewayDeployment(), typo])[0]?.message).toMatch(/does not define, not its gateways/);
  });

  it("leaves one-tier pods (proxy in role single) alone: there the sidecar is the public entrance", () => {
    expect(checkReplicasAdmitOnlyGateways([deployment()])).toEqual([]);
  });

  it("matches label selectors with expressions as the API does", () => {
    const labels = { a: "1", b: "2" };
    expect(matchesSelector({}, labels)).toBe(true);
    expect(matchesSelector({ matchLabels: { a: "1" } }, labels)).toBe(true);
    expect(matchesSelector({ matchLabels: { a: "2" } }, labels)).toBe(false);
    expect(matchesSelector({ matchExpressions: [{ key: "b", operator: "In", values: ["2", "3"] }] }, labels)).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: "b", operator: "NotIn", values: ["2"] }] }, labels)).toBe(false);
    expect(matchesSelector({ matchExpressions: [{ key: "c", operator: "DoesNotExist" }] }, labels)).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: "c", operator: "Exists" }] }, labels)).toBe(false);
    expect(matchesSelector(undefined, labels)).toBe(false);
  });
});
