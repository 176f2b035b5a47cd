import { at, peek, record, records, Rec, ResourceInput, str, strings, stringMap } from "./values";

/** Where each workload kind keeps its pod template: the path to the pod spec and to its metadata. */
const POD_PATHS: Readonly<Record<string, { readonly spec: readonly string[]; readonly metadata: readonly string[] }>> = {
  "kubernetes:core/v1:Pod": { spec: ["spec"], metadata: ["metadata"] },
  "kubernetes:core/v1:PodTemplate": { spec: ["template", "spec"], metadata: ["template", "metadata"] },
  "kubernetes:core/v1:ReplicationController": { spec: ["spec", "template", "spec"], metadata: ["spec", "template", "metadata"] },
  "kubernetes:apps/v1:Deployment": { spec: ["spec", "template", "spec"], metadata: ["spec", "template", "metadata"] },
  "kubernetes:apps/v1:StatefulSet": { spec: ["spec", "template", "spec"], metadata: ["spec", "template", "metadata"] },
  "kubernetes:apps/v1:DaemonSet": { spec: ["spec", "template", "spec"], metadata: ["spec", "template", "metadata"] },
  "kubernetes:apps/v1:ReplicaSet": { spec: ["spec", "template", "spec"], metadata: ["spec", "template", "metadata"] },
  "kubernetes:batch/v1:Job": { spec: ["spec", "template", "spec"], metadata: ["spec", "template", "metadata"] },
  "kubernetes:batch/v1:CronJob": {
    spec: ["spec", "jobTemplate", "spec", "template", "spec"],
    metadata: ["spec", "jobTemplate", "spec", "template", "metadata"],
  },
};

export type ContainerKind = "container" | "initContainer" | "ephemeralContainer";

export interface ContainerView {
  readonly kind: ContainerKind;
  readonly name: string;
  readonly raw: Rec;
}

export interface PodView {
  readonly spec: Rec;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly namespace?: string;
  readonly containers: readonly ContainerView[];
}

export function isWorkloadType(type: string): boolean {
  return type in POD_PATHS;
}

/** The pod a workload runs, or undefined for every other resource type. */
export function podOf(resource: ResourceInput): PodView | undefined {
  const paths = POD_PATHS[resource.type];
  if (!paths) return undefined;
  const spec = record(at(resource.props, ...paths.spec));
  if (!spec) return undefined;
  const metadata = at(resource.props, ...paths.metadata);
  const containers: ContainerView[] = [];
  const groups: readonly [ContainerKind, string][] = [
    ["container", "containers"],
    ["initContainer", "initContainers"],
    ["ephemeralContainer", "ephemeralContainers"],
  ];
  for (const [kind, field] of groups) {
    for (const raw of records(spec[field])) containers.push({ kind, name: str(raw.name) ?? "(unnamed)", raw });
  }
  return {
    spec,
    labels: stringMap(peek(() => at(metadata, "labels"))),
    annotations: stringMap(peek(() => at(metadata, "annotations"))),
    namespace: str(peek(() => at(resource.props, "metadata", "namespace"))),
    containers,
  };
}

/** The words of a container's command line; `sh -c "..."` strings are split on whitespace too. */
export function commandLine(container: ContainerView): readonly string[] {
  const parts = [...strings(container.raw.command), ...strings(container.raw.args)];
  return parts.flatMap((part) => part.split(/\s+/).filter((word) => word.length > 0));
}

/** The value of `--flag value` or `--flag=value`; the last occurrence wins, as with argparse. */
export function flagValue(words: readonly string[], flag: string): string | undefined {
  let value: string | undefined;
  words.forEach((word, index) => {
    if (word === flag) value = words[index + 1];
    else if (word.startsWith(`${flag}=`)) value = word.slice(flag.length + 1);
  });
  return value;
}

/** Literal env values by name, used to expand `$(NAME)` references in args the way the kubelet does. */
export function envValues(container: ContainerView): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of records(container.raw.env)) {
    const name = str(entry.name);
    const value = str(peek(() => entry.value));
    if (name && value !== undefined) out[name] = value;
  }
  return out;
}

export function expandEnv(value: string | undefined, container: ContainerView): string | undefined {
  if (value === undefined) return undefined;
  const env = envValues(container);
  return value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole);
}

/** The repository part of an image reference: no registry host, tag or digest. */
export function imageRepository(image: string): string {
  const withoutDigest = image.split("@")[0] ?? image;
  const lastSlash = withoutDigest.lastIndexOf("/");
  const lastColon = withoutDigest.lastIndexOf(":");
  const withoutTag = lastColon > lastSlash ? withoutDigest.slice(0, lastColon) : withoutDigest;
  const segments = withoutTag.split("/");
  // A first segment with a dot, a colon or "localhost" is a registry host, not part of the repository.
  const first = segments[0] ?? "";
  const hasRegistry = segments.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost");
  return (hasRegistry ? segments.slice(1) : segments).join("/");
}

const PROXY_COMPONENTS = new Set(["proxy", "auth-proxy", "gateway"]);
/** The roles of the one proxy image (`ROLE`); unset means `single`. */
export const PROXY_ROLES = ["single", "gateway", "sidecar"] as const;
export type ProxyRole = (typeof PROXY_ROLES)[number];
/** Variables only the auth proxy reads: a credential file in one of its roles. */
const PROXY_ENV = ["TOKENS_FILE", "KEYS_FILE", "INTERNAL_TOKEN_FILE"];

/** The auth proxy: named so, labelled so on a single-container pod, or the container that reads its credential files. */
export function isProxyContainer(container: ContainerView, pod: PodView): boolean {
  if (/(^|-)proxy$|auth-proxy/.test(container.name)) return true;
  if (Object.keys(envValues(container)).some((name) => PROXY_ENV.includes(name))) return true;
  const component = pod.labels["app.kubernetes.io/component"];
  const main = pod.containers.filter((c) => c.kind === "container");
  return component !== undefined && PROXY_COMPONENTS.has(component) && main.length === 1 && main[0] === container;
}

/** The role a proxy container runs in: its `ROLE`, `single` when unset (or unknown during preview). */
export function proxyRole(container: ContainerView): ProxyRole | "unknown" {
  const role = envValues(container)["ROLE"] ?? "single";
  return (PROXY_ROLES as readonly string[]).includes(role) ? (role as ProxyRole) : "unknown";
}

/** Whether a pod is a gateway: its proxy runs in role `gateway` and it does not run vLLM. */
export function isGatewayPod(pod: PodView): boolean {
  return (
    pod.containers.some((c) => isLongRunning(c) && isProxyContainer(c, pod) && proxyRole(c) === "gateway") &&
    !pod.containers.some((c) => isVllmContainer(c, pod))
  );
}

/** The sidecar of a pod running vLLM in the two-tier shape: the proxy in role `sidecar`, if any. */
export function replicaSidecar(pod: PodView): ContainerView | undefined {
  if (!pod.containers.some((c) => isVllmContainer(c, pod))) return undefined;
  return pod.containers.find((c) => isLongRunning(c) && isProxyContainer(c, pod) && proxyRole(c) === "sidecar");
}

/** vLLM: the `vllm/vllm-openai` image (or any repository named for vLLM), or a `vllm serve` / entrypoint command. */
export function isVllmContainer(container: ContainerView, pod: PodView): boolean {
  if (isProxyContainer(container, pod)) return false;
  const image = str(peek(() => container.raw.image));
  if (image !== undefined && /vllm/i.test(imageRepository(image))) return true;
  const words = commandLine(container);
  return words.some((word, i) => (word === "vllm" || word.endsWith("/vllm")) && words[i + 1] === "serve") ||
    words.some((word) => word.includes("vllm.entrypoints"));
}

export const VLLM_DEFAULT_PORT = 8000;

/** The port vLLM listens on: `--port`, else its default. */
export function vllmPort(container: ContainerView): number {
  const raw = expandEnv(flagValue(commandLine(container), "--port"), container);
  const port = raw === undefined ? NaN : Number(raw);
  return Number.isInteger(port) && port > 0 ? port : VLLM_DEFAULT_PORT;
}

export interface DeclaredPort {
  readonly container: ContainerView;
  readonly name?: string;
  readonly containerPort?: number;
}

export function declaredPorts(pod: PodView): readonly DeclaredPort[] {
  return pod.containers.flatMap((container) =>
    records(container.raw.ports).map((port) => ({
      container,
      name: str(port.name),
      containerPort: typeof port.containerPort === "number" ? port.containerPort : undefined,
    })),
  );
}

/** Native sidecars are init containers that keep running (`restartPolicy: Always`). */
export function isLongRunning(container: ContainerView): boolean {
  return container.kind === "container" || (container.kind === "initContainer" && str(container.raw.restartPolicy) === "Always");
}
