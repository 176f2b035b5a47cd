import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
  INTERNAL_TOKEN_DIR,
  INTERNAL_TOKEN_FILE_NAME,
  PRESTOP_SECONDS,
  PROXY_UID,
  SHUTDOWN_GRACE_MS,
  commonProxyEnv,
  internalTokenMount,
  proxyPorts,
  proxyProbes,
  proxySecurityContext,
  secretVolume,
} from "./proxy";
import { proxyNodeOptions } from "./nodeHeap";

type EnvVar = k8s.types.input.core.v1.EnvVar;
type Probe = k8s.types.input.core.v1.Probe;
type Container = k8s.types.input.core.v1.Container;
type PodSpec = k8s.types.input.core.v1.PodSpec;
type Toleration = k8s.types.input.core.v1.Toleration;

/** vLLM listens here, on loopback only. */
export const VLLM_HOST = "127.0.0.1";
export const VLLM_PORT = 8000;
export const MODEL_CACHE_DIR = "/root/.cache/huggingface";
/** preStop pause, then the drain, then time for vLLM itself to exit. */
export const TERMINATION_GRACE_SECONDS = PRESTOP_SECONDS + SHUTDOWN_GRACE_MS / 1000 + 30;
/** The startupProbe budget: a first start downloads ~13.5 GB of weights and loads them. */
export const STARTUP_PERIOD_SECONDS = 10;
export const STARTUP_FAILURE_THRESHOLD = 120;
/** KV cache of a CPU-only vLLM, in GiB: enough for a small model's trial, far below a laptop's RAM. */
export const CPU_KV_CACHE_GIB = 1;

/** Where the extended GPU resource is requested and the GPU nodes are tainted. */
export const GPU_RESOURCE = "nvidia.com/gpu";

/** The vLLM command line: the model and network flags are fixed, the rest comes from config. */
export function vllmCommand(model: string, gpus: number, extraArgs: readonly string[]): string[] {
  return [
    "vllm",
    "serve",
    model,
    "--host",
    VLLM_HOST,
    "--port",
    String(VLLM_PORT),
    "--tensor-parallel-size",
    String(Math.max(1, gpus)),
    ...extraArgs,
  ];
}

/** The model id `/v1/models` lists: the first `--served-model-name` in the extra flags, else the model. */
export function servedModelId(model: string, extraArgs: readonly string[]): string {
  for (let i = 0; i < extraArgs.length; i++) {
    const arg = extraArgs[i];
    if (arg === "--served-model-name" && extraArgs[i + 1] !== undefined) return extraArgs[i + 1];
    if (arg.startsWith("--served-model-name=")) return arg.slice("--served-model-name=".length).split(/\s+/)[0];
  }
  return model;
}

/** A probe command that succeeds when vLLM's /health answers 2xx on loopback. */
export function vllmHealthCommand(port: number = VLLM_PORT): string[] {
  const url = `http://${VLLM_HOST}:${port}/health`;
  return ["python3", "-c", `import urllib.request; urllib.request.urlopen("${url}", timeout=4)`];
}

/** vLLM's probes: exec, because the kubelet probes the pod IP and vLLM listens on 127.0.0.1 only. */
export function vllmProbes(): { startupProbe: Probe; readinessProbe: Probe; livenessProbe: Probe } {
  const exec = { command: vllmHealthCommand() };
  return {
    startupProbe: { exec, periodSeconds: STARTUP_PERIOD_SECONDS, timeoutSeconds: 5, failureThreshold: STARTUP_FAILURE_THRESHOLD },
    readinessProbe: { exec, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
    // A busy engine can answer slowly: restart only after two minutes without an answer.
    livenessProbe: { exec, periodSeconds: 20, timeoutSeconds: 10, failureThreshold: 6 },
  };
}

/**
 * vLLM's preStop: wait for the proxy's pause, then while any connection to vLLM is open (the proxy
 * drains its streams and closes its pool when it exits), so vLLM never dies under a live stream.
 */
export function vllmDrainCommand(
  opts: { pauseSeconds?: number; graceSeconds?: number; port?: number } = {},
): string[] {
  const port = (opts.port ?? VLLM_PORT).toString(16).toUpperCase().padStart(4, "0");
  const script = [
    "import time",
    `time.sleep(${opts.pauseSeconds ?? PRESTOP_SECONDS})`,
    `deadline = time.time() + ${opts.graceSeconds ?? SHUTDOWN_GRACE_MS / 1000}`,
    "def busy():",
    "    for path in ('/proc/net/tcp', '/proc/net/tcp6'):",
    "        try:",
    "            with open(path) as f:",
    "                next(f)",
    "                for line in f:",
    "                    cols = line.split()",
    `                    if cols[1].endswith(':${port}') and cols[3] == '01':`,
    "                        return True",
    "        except OSError:",
    "            pass",
    "    return False",
    "while time.time() < deadline and busy():",
    "    time.sleep(1)",
  ].join("\n");
  return ["python3", "-c", script];
}

/** The sidecar's environment: role `sidecar`, vLLM on loopback upstream, the internal credential; no client keys. */
export function sidecarEnv(): EnvVar[] {
  return [
    { name: "ROLE", value: "sidecar" },
    { name: "UPSTREAM_URL", value: `http://${VLLM_HOST}:${VLLM_PORT}` },
    { name: "INTERNAL_TOKEN_FILE", value: `${INTERNAL_TOKEN_DIR}/${INTERNAL_TOKEN_FILE_NAME}` },
    ...commonProxyEnv(),
  ];
}

/** A toleration as config spells it. */
export interface TolerationSpec {
  readonly key: string;
  readonly operator: "Exists" | "Equal";
  readonly value?: string;
  readonly effect?: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
}

/** GPU nodes are tainted `nvidia.com/gpu`; GPU pods tolerate it, CPU-only pods do not need to. */
export function podTolerations(gpus: number, extra: readonly TolerationSpec[]): Toleration[] {
  const gpu: Toleration[] = gpus > 0 ? [{ key: GPU_RESOURCE, operator: "Exists", effect: "NoSchedule" }] : [];
  return [...gpu, ...extra.map((t) => ({ ...t }))];
}

/** CPU and memory as requests and limits alike (Guaranteed QoS: last to be evicted). */
export interface ResourceSpec {
  readonly cpu: string;
  readonly memory: string;
}

export function vllmResources(res: ResourceSpec, gpus: number): k8s.types.input.core.v1.ResourceRequirements {
  const gpu: Record<string, string> = gpus > 0 ? { [GPU_RESOURCE]: String(gpus) } : {};
  return {
    requests: { cpu: res.cpu, memory: res.memory, ...gpu },
    limits: { cpu: res.cpu, memory: res.memory, ...gpu },
  };
}

/** /dev/shm for PyTorch and NCCL: more GPUs per pod exchange more through shared memory. */
export function shmSizeLimit(gpus: number): string {
  return `${Math.max(2, 2 * gpus)}Gi`;
}

/** Everything the pod spec depends on. */
export interface VllmPodOptions {
  readonly model: string;
  readonly gpus: number;
  readonly vllmImage: string;
  readonly vllmArgs: readonly string[];
  readonly proxyImage: pulumi.Input<string>;
  /** Secret with key `token` holding the internal credential the gateways present. */
  readonly internalTokenSecretName: pulumi.Input<string>;
  /** Secret with key `token` holding the Hugging Face token; unset for public models. */
  readonly hfTokenSecretName?: pulumi.Input<string>;
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly tolerations: readonly TolerationSpec[];
  readonly vllmResources: ResourceSpec;
  readonly proxyResources: ResourceSpec;
  readonly modelCacheGiB: number;
  /** Labels of the pods, for the spread constraints. */
  readonly selector: Record<string, string>;
}

function vllmContainer(o: VllmPodOptions): Container {
  const hfSecret = o.hfTokenSecretName;
  // Both names: newer huggingface_hub reads HF_TOKEN, older releases HUGGING_FACE_HUB_TOKEN.
  const hfEnv: EnvVar[] =
    hfSecret === undefined
      ? []
      : ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"].map((name) => ({ name, valueFrom: { secretKeyRef: { name: hfSecret, key: "token" } } }));
  return {
    name: "vllm",
    image: o.vllmImage,
    imagePullPolicy: "IfNotPresent",
    // The image's entrypoint changed across releases; an explicit command works with all of them.
    command: vllmCommand(o.model, o.gpus, o.vllmArgs),
    env: [
      { name: "HF_HOME", value: MODEL_CACHE_DIR },
      { name: "VLLM_NO_USAGE_STATS", value: "1" },
      { name: "DO_NOT_TRACK", value: "1" },
      // On CPU, vLLM sizes its KV cache from the host's RAM, not the container's limit, and gets OOM-killed.
      ...(o.gpus === 0 ? [{ name: "VLLM_CPU_KVCACHE_SPACE", value: String(CPU_KV_CACHE_GIB) }] : []),
      ...hfEnv,
    ],
    resources: vllmResources(o.vllmResources, o.gpus),
    volumeMounts: [
      { name: "shm", mountPath: "/dev/shm" },
      { name: "model-cache", mountPath: MODEL_CACHE_DIR },
    ],
    ...vllmProbes(),
    lifecycle: { preStop: { exec: { command: vllmDrainCommand() } } },
    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
  };
}

/** The sidecar: the one way to vLLM, accepting only the internal credential, never client keys. */
function sidecarContainer(o: VllmPodOptions): Container {
  return {
    name: "proxy",
    image: o.proxyImage,
    imagePullPolicy: "IfNotPresent",
    ports: proxyPorts(false),
    env: [...sidecarEnv(), proxyNodeOptions(o.proxyResources.memory)],
    resources: {
      requests: { cpu: o.proxyResources.cpu, memory: o.proxyResources.memory },
      limits: { cpu: o.proxyResources.cpu, memory: o.proxyResources.memory },
    },
    volumeMounts: [internalTokenMount()],
    // Readiness is vLLM's /health through the sidecar, so the replicas' DNS lists only pods that serve.
    ...proxyProbes(),
    lifecycle: { preStop: { sleep: { seconds: PRESTOP_SECONDS } } },
    securityContext: proxySecurityContext(),
  };
}

/** The replica pod: vLLM on loopback and the sidecar beside it as the only way in. */
export function vllmPodSpec(o: VllmPodOptions): PodSpec {
  return {
    terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
    // Neither container talks to the Kubernetes API.
    automountServiceAccountToken: false,
    // Service env vars such as VLLM_PORT would collide with vLLM's own settings.
    enableServiceLinks: false,
    // The internal credential is group-readable by the proxy's group, not world-readable.
    securityContext: { fsGroup: PROXY_UID, fsGroupChangePolicy: "OnRootMismatch" },
    nodeSelector: { ...o.nodeSelector },
    tolerations: podTolerations(o.gpus, o.tolerations),
    topologySpreadConstraints: [
      { maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "ScheduleAnyway", labelSelector: { matchLabels: o.selector } },
      { maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "ScheduleAnyway", labelSelector: { matchLabels: o.selector } },
    ],
    containers: [vllmContainer(o), sidecarContainer(o)],
    volumes: [
      secretVolume("internal-token", o.internalTokenSecretName),
      { name: "shm", emptyDir: { medium: "Memory", sizeLimit: shmSizeLimit(o.gpus) } },
      { name: "model-cache", emptyDir: { sizeLimit: `${o.modelCacheGiB}Gi` } },
    ],
  };
}
