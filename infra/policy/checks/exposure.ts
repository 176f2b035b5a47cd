import { at, describe, Finding, num, objectName, objectNamespace, peek, record, records, ResourceInput, str, stringMap } from "../values";
import { declaredPorts, isGatewayPod, isProxyContainer, isVllmContainer, PodView, podOf, replicaSidecar, vllmPort } from "../workloads";

const SERVICE = "kubernetes:core/v1:Service";
const INGRESS_TYPES = new Set([
  "kubernetes:networking.k8s.io/v1:Ingress",
  "kubernetes:networking.k8s.io/v1beta1:Ingress",
  "kubernetes:extensions/v1beta1:Ingress",
]);
const ROUTE_TYPES = new Set([
  "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
  "kubernetes:gateway.networking.k8s.io/v1beta1:HTTPRoute",
  "kubernetes:gateway.networking.k8s.io/v1:GRPCRoute",
  "kubernetes:gateway.networking.k8s.io/v1alpha2:TCPRoute",
  "kubernetes:gateway.networking.k8s.io/v1alpha2:TLSRoute",
]);
const EXPOSING_SERVICE_TYPES = new Set(["LoadBalancer", "NodePort"]);

interface ServicePort {
  readonly name?: string;
  readonly port?: number;
  readonly target: number | string | undefined;
}

interface Workload {
  readonly resource: ResourceInput;
  readonly pod: PodView;
}

/** A reference from an Ingress or route to a Service port, by number or by name. */
interface BackendRef {
  readonly service: string;
  readonly port?: number | string;
}

function servicePorts(service: ResourceInput): readonly ServicePort[] {
  return records(at(service.props, "spec", "ports")).map((p) => {
    const target = p.targetPort;
    return {
      name: str(p.name),
      port: num(p.port),
      target: typeof target === "number" || typeof target === "string" ? target : num(p.port),
    };
  });
}

function sameNamespace(a: string | undefined, b: string | undefined): boolean {
  return a === undefined || b === undefined || a === b;
}

function selects(selector: Readonly<Record<string, string>>, pod: PodView): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([key, value]) => pod.labels[key] === value);
}

function runsVllm(pod: PodView): boolean {
  return pod.containers.some((c) => isVllmContainer(c, pod));
}

/** Why a Service port that reaches a gateway pod is not allowed, or undefined when it lands on a gateway serving port. */
function problemWithGatewayTarget(target: number | string, pod: PodView): string | undefined {
  const owner = declaredPorts(pod).find((p) => (typeof target === "number" ? p.containerPort === target : p.name === target));
  if (owner && isProxyContainer(owner.container, pod)) {
    return owner.name === "metrics"
      ? `reaches the gateway's Prometheus metrics port "metrics"; keep metrics on the cluster network and expose only its serving ports`
      : undefined;
  }
  return `targets ${typeof target === "number" ? `port ${target}` : `port name "${target}"`}, which is not a serving port of the gateway`;
}

/** Why a Service port that reaches a vLLM pod is not allowed, or undefined when it lands on a proxy serving port. */
function problemWithTarget(target: number | string, pod: PodView): string | undefined {
  const vllm = pod.containers.filter((c) => isVllmContainer(c, pod));
  const owner = declaredPorts(pod).find((p) => (typeof target === "number" ? p.containerPort === target : p.name === target));
  if (owner && isProxyContainer(owner.container, pod)) {
    return owner.name === "metrics"
      ? `reaches the proxy's Prometheus metrics port "metrics"; keep metrics on the cluster network and expose only the proxy's serving ports`
      : undefined;
  }
  if (owner && vllm.includes(owner.container)) return `targets the vLLM container "${owner.container.name}" directly`;
  if (typeof target === "number" && vllm.some((c) => vllmPort(c) === target)) return `targets vLLM's port ${target}`;
  if (owner) return `targets container "${owner.container.name}", which is not the auth proxy`;
  return `targets ${typeof target === "number" ? `port ${target}` : `port name "${target}"`}, which is not a port of the auth proxy`;
}

function fixFor(pod: PodView): string {
  const proxyPorts = declaredPorts(pod)
    .filter((p) => isProxyContainer(p.container, pod) && p.name !== "metrics")
    .map((p) => (p.name ? `"${p.name}" (${p.containerPort ?? "?"})` : `${p.containerPort ?? "?"}`));
  const list = proxyPorts.length > 0 ? proxyPorts.join(" or ") : "the auth proxy's port";
  return `Set targetPort to ${list} so every request passes the key check; vLLM must stay on 127.0.0.1 behind the sidecar.`;
}

function checkService(
  service: ResourceInput,
  ports: readonly ServicePort[],
  via: string,
  workloads: readonly Workload[],
  vllmPorts: ReadonlySet<number>,
): Finding[] {
  const findings: Finding[] = [];
  const namespace = objectNamespace(service);
  const selector = stringMap(peek(() => at(service.props, "spec", "selector")));
  const selected = workloads.filter((w) => sameNamespace(namespace, w.pod.namespace) && selects(selector, w.pod));
  const label = (port: ServicePort) => `${describe(service)}${via} port ${port.port ?? port.name ?? "?"}`;
  const targeted = ports.filter((p): p is ServicePort & { target: number | string } => p.target !== undefined);
  if (selected.length === 0) {
    for (const port of targeted) {
      // Pods outside this stack: only a numeric vLLM port is recognisable.
      if (typeof port.target === "number" && vllmPorts.has(port.target)) {
        findings.push({
          message: `${label(port)} targets port ${port.target}, the port vLLM listens on. Point it at the auth proxy's port instead; vLLM must stay behind the sidecar.`,
          urn: service.urn,
        });
      }
    }
    return findings;
  }
  for (const workload of selected) {
    const sidecar = replicaSidecar(workload.pod);
    if (sidecar !== undefined && targeted.length > 0) {
      // Two tiers: the replicas' sidecar takes only the gateways' internal credential; clients reach the gateways.
      findings.push({
        message:
          `${describe(service)}${via} selects the vLLM replicas of ${describe(workload.resource)}, whose sidecar "${sidecar.name}" runs in role sidecar ` +
          `and serves only the gateways. Select the gateway pods (ROLE=gateway) instead; the replicas stay behind their headless Service.`,
        urn: service.urn,
      });
      continue;
    }
    for (const port of targeted) {
      const problem = isGatewayPod(workload.pod)
        ? problemWithGatewayTarget(port.target, workload.pod)
        : runsVllm(workload.pod)
          ? problemWithTarget(port.target, workload.pod)
          : undefined;
      if (problem) {
        const what = isGatewayPod(workload.pod) ? "the gateway pods" : "the vLLM pods";
        findings.push({ message: `${label(port)} selects ${what} of ${describe(workload.resource)} and ${problem}. ${fixFor(workload.pod)}`, urn: service.urn });
      }
    }
  }
  return findings;
}

function ingressBackends(ingress: ResourceInput): readonly BackendRef[] {
  const spec = record(ingress.props.spec);
  if (!spec) return [];
  const backends: unknown[] = [spec.defaultBackend, spec.backend];
  for (const rule of records(spec.rules)) {
    for (const path of records(at(rule, "http", "paths"))) backends.push(path.backend);
  }
  return backends.flatMap((raw) => {
    const backend = record(raw);
    if (!backend) return [];
    // networking.k8s.io/v1 nests the service; v1beta1 used serviceName/servicePort.
    const v1 = record(backend.service);
    if (v1) {
      const name = str(v1.name);
      const port = record(v1.port);
      return name ? [{ service: name, port: num(port?.number) ?? str(port?.name) }] : [];
    }
    const name = str(backend.serviceName);
    const port = backend.servicePort;
    return name ? [{ service: name, port: typeof port === "number" || typeof port === "string" ? port : undefined }] : [];
  });
}

function routeBackends(route: ResourceInput): readonly BackendRef[] {
  return records(at(route.props, "spec", "rules")).flatMap((rule) =>
    records(rule.backendRefs).flatMap((ref) => {
      const kind = str(ref.kind) ?? "Service";
      const name = str(ref.name);
      return kind === "Service" && name ? [{ service: name, port: num(ref.port) }] : [];
    }),
  );
}

/**
 * Policy 1: no LoadBalancer or NodePort Service, and no Ingress or Gateway route, reaches vLLM's port.
 * In the two-tier shape only the gateways' serving ports are exposed, never a replica (a pod whose
 * sidecar runs in role `sidecar`); in the one-tier shape every exposed port on a pod that runs vLLM
 * must land on a serving port of the auth proxy.
 */
export function checkVllmNotExposed(resources: readonly ResourceInput[]): Finding[] {
  const workloads: Workload[] = resources.flatMap((resource) => {
    const pod = podOf(resource);
    return pod ? [{ resource, pod }] : [];
  });
  const vllmPorts = new Set(
    workloads.flatMap((w) => w.pod.containers.filter((c) => isVllmContainer(c, w.pod)).map(vllmPort)),
  );
  const services = resources.filter((r) => r.type === SERVICE);
  const findings: Finding[] = [];

  for (const service of services) {
    const type = str(at(service.props, "spec", "type")) ?? "ClusterIP";
    if (EXPOSING_SERVICE_TYPES.has(type)) {
      findings.push(...checkService(service, servicePorts(service), ` (type ${type})`, workloads, vllmPorts));
    }
  }

  const fronts = resources.flatMap((r) =>
    INGRESS_TYPES.has(r.type) ? [{ r, refs: ingressBackends(r) }] : ROUTE_TYPES.has(r.type) ? [{ r, refs: routeBackends(r) }] : [],
  );
  for (const { r: front, refs } of fronts) {
    for (const ref of refs) {
      const service = services.find(
        (s) => objectName(s) === ref.service && sameNamespace(objectNamespace(s), objectNamespace(front)),
      );
      if (!service) continue;
      const ports = servicePorts(service).filter((p) =>
        ref.port === undefined ? true : typeof ref.port === "number" ? p.port === ref.port : p.name === ref.port,
      );
      findings.push(
        ...checkService(service, ports, `, routed from ${describe(front)},`, workloads, vllmPorts).map((f) => ({
          ...f,
          urn: front.urn ?? f.urn,
        })),
      );
    }
  }
  return findings;
}
