import { at, describe, Finding, list, num, objectNamespace, peek, record, records, Rec, ResourceInput, str, strings, stringMap } from "../values";
import { declaredPorts, isGatewayPod, PodView, podOf, replicaSidecar } from "../workloads";

const NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy";

interface Workload {
  readonly resource: ResourceInput;
  readonly pod: PodView;
}

/** Whether a label selector (matchLabels and matchExpressions) selects these labels; `{}` selects everything. */
export function matchesSelector(selector: Rec | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (selector === undefined) return false;
  const byLabel = Object.entries(stringMap(selector.matchLabels)).every(([k, v]) => labels[k] === v);
  const byExpression = records(selector.matchExpressions).every((e) => {
    const key = str(e.key) ?? "";
    const values = strings(e.values);
    switch (str(e.operator)) {
      case "In":
        return key in labels && values.includes(labels[key] ?? "");
      case "NotIn":
        return !(key in labels) || !values.includes(labels[key] ?? "");
      case "Exists":
        return key in labels;
      case "DoesNotExist":
        return !(key in labels);
      default:
        return false;
    }
  });
  return byLabel && byExpression;
}

/** A NetworkPolicy's types: as written, else Ingress (plus Egress when it has egress rules), as the API defaults them. */
function policyTypes(spec: Rec): readonly string[] {
  const written = strings(spec.policyTypes);
  if (written.length > 0) return written;
  return spec.egress !== undefined ? ["Ingress", "Egress"] : ["Ingress"];
}

/** Whether an ingress rule's ports admit `port` (number) or `name` on the selected pod; no ports means all. */
function coversPort(rule: Rec, port: number, name: string | undefined): boolean {
  const ports = records(rule.ports);
  if (rule.ports === undefined || list(rule.ports).length === 0) return true;
  return ports.some((p) => {
    const value = p.port;
    if (value === undefined) return true;
    if (typeof value === "string") return value === name;
    const start = num(value);
    if (start === undefined) return false;
    const end = num(p.endPort) ?? start;
    return start <= port && port <= end;
  });
}

/** Why one peer of a rule admits more than gateway pods, or undefined when it admits only gateways. */
function peerProblem(peer: Rec, namespace: string | undefined, workloads: readonly Workload[]): string | undefined {
  if (peer.ipBlock !== undefined) return "admits an ipBlock";
  if (peer.namespaceSelector !== undefined) return "admits pods of other namespaces (namespaceSelector)";
  const selector = record(peer.podSelector);
  if (selector === undefined) return "admits every source";
  const admitted = workloads.filter((w) => (namespace === undefined || w.pod.namespace === undefined || w.pod.namespace === namespace) && matchesSelector(selector, w.pod.labels));
  const others = admitted.filter((w) => !isGatewayPod(w.pod));
  if (others.length > 0) return `admits pods that are not gateways (${others.map((w) => describe(w.resource)).join(", ")})`;
  if (admitted.length === 0) return "admits pods this stack does not define, not its gateways";
  return undefined;
}

/**
 * Policy 9: in the two-tier shape the GPU pods answer only the gateways. Every pod that runs vLLM
 * with a sidecar in role `sidecar` is selected by an Ingress NetworkPolicy, and every ingress rule
 * that opens the sidecar's API port admits only pods of this namespace that are gateways.
 */
export function checkReplicasAdmitOnlyGateways(resources: readonly ResourceInput[]): Finding[] {
  const workloads: Workload[] = resources.flatMap((resource) => {
    const pod = podOf(resource);
    return pod ? [{ resource, pod }] : [];
  });
  const policies = resources.filter((r) => r.type === NETWORK_POLICY);
  const findings: Finding[] = [];

  for (const replica of workloads) {
    const sidecar = replicaSidecar(replica.pod);
    if (sidecar === undefined) continue;
    const api = declaredPorts(replica.pod).find((p) => p.container === sidecar && p.name === "http") ?? { containerPort: 8080, name: "http" };
    const port = api.containerPort ?? 8080;
    const where = describe(replica.resource);
    const guarding = policies.filter((p) => {
      const spec = record(p.props.spec);
      const ns = objectNamespace(p);
      const sameNamespace = ns === undefined || replica.pod.namespace === undefined || ns === replica.pod.namespace;
      return spec !== undefined && sameNamespace && policyTypes(spec).includes("Ingress") && matchesSelector(record(peek(() => spec.podSelector)), replica.pod.labels);
    });
    if (guarding.length === 0) {
      findings.push({
        message:
          `${where} runs vLLM behind a sidecar in role sidecar, but no NetworkPolicy with policyTypes [Ingress] selects its pods, so any pod in the ` +
          `cluster can reach the sidecar's port ${port}. Add one whose ingress admits port ${port} only from the gateway pods (a podSelector of their labels).`,
        urn: replica.resource.urn,
      });
      continue;
    }
    for (const policy of guarding) {
      const namespace = objectNamespace(policy);
      for (const rule of records(at(policy.props, "spec", "ingress"))) {
        if (!coversPort(rule, port, api.name)) continue;
        const peers = rule.from === undefined ? [] : records(rule.from);
        const problems = peers.length === 0 ? ["admits every source"] : peers.flatMap((peer) => {
          const problem = peerProblem(peer, namespace, workloads);
          return problem === undefined ? [] : [problem];
        });
        for (const problem of problems) {
          findings.push({
            message:
              `${describe(policy)} opens port ${port} of ${where}'s sidecar and ${problem}. Only the gateway pods may reach the replicas: ` +
              `give that rule a single podSelector matching the gateways' labels, and open other ports (metrics) in rules of their own.`,
            urn: policy.urn,
          });
        }
      }
    }
  }
  return findings;
}
