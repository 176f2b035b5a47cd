import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AppIdentity, appLabels, selectorLabels } from "./labels";
import { PROXY_PORT } from "./proxy";
import { ROLLOUT_DEADLINE_SECONDS, awaitTimeoutAnnotation } from "./timeouts";
import { ResourceSpec, TolerationSpec, vllmPodSpec } from "./vllmPod";

/** The replicas' headless Service (CONTRACT): the gateways resolve it to the ready replicas. */
export const REPLICAS_SERVICE_NAME = "vllm-replicas";

/**
 * How a template change rolls out. `surge` starts a new pod before an old one stops: never fewer
 * ready replicas, but it needs room for one more GPU pod (Karpenter adds a node on aws). `replace`
 * stops one pod before starting its successor: it always completes on a cluster with no spare GPU,
 * and the gateways hold requests while the only replica restarts.
 */
export type RolloutStrategy = "surge" | "replace";

/** The Deployment strategy for a rollout mode. */
export function rolloutStrategy(mode: RolloutStrategy): k8s.types.input.apps.v1.DeploymentStrategy {
  return mode === "surge"
    ? { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }
    : { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } };
}

/** Annotations of the Deployment: `pulumi up` waits for a first pod, unless none is asked for. */
export function replicasAwaitAnnotations(initialReplicas: number, autoscaled: boolean): Record<string, string> {
  // At zero replicas nothing will become ready until a request arrives: do not wait.
  const wait = initialReplicas === 0 ? { "pulumi.com/skipAwait": "true" } : awaitTimeoutAnnotation();
  // A fixed count takes spec.replicas back from an autoscaler that owned it before (server-side apply
  // refuses to overwrite another manager's field unless forced).
  return autoscaled ? wait : { ...wait, "pulumi.com/patchForce": "true" };
}


export interface VllmServerArgs {
  /** Namespace of the Deployment and its Secret. */
  readonly namespace: pulumi.Input<string>;
  /** Labels identity of the stack. */
  readonly app: AppIdentity;
  /** Hugging Face model ID served, e.g. `meta-llama/Llama-2-7b-chat-hf`. */
  readonly model: string;
  /** Pinned vLLM image, e.g. `vllm/vllm-openai:v0.29.0`. */
  readonly vllmImage: string;
  /** Extra vLLM flags; `--host`, `--port` and `--tensor-parallel-size` are set by the component. */
  readonly vllmArgs: readonly string[];
  /** Pods; with `autoscaled`, only the count the Deployment starts with. Defaults to `2`. */
  readonly replicas?: number;
  /** An autoscaler (KEDA) owns `spec.replicas` after creation; Pulumi stops setting it. Defaults to `false`. */
  readonly autoscaled?: boolean;
  /** How a template change rolls out (see `RolloutStrategy`). Defaults to `surge`. */
  readonly rollout?: RolloutStrategy;
  /** GPUs per pod, also vLLM's tensor parallel size; `0` runs on CPU. Defaults to `1`. */
  readonly gpusPerReplica?: number;
  /** The auth proxy image, pinned (tag or digest). */
  readonly proxyImage: pulumi.Input<string>;
  /** Secret holding the internal credential (`token`) the sidecars accept. */
  readonly internalTokenSecretName: pulumi.Input<string>;
  /** Hugging Face token for gated models; stored in a Secret, passed as `HF_TOKEN`. */
  readonly hfToken?: pulumi.Input<string>;
  /** Node labels the pods require. Defaults to none. */
  readonly nodeSelector?: Readonly<Record<string, string>>;
  /** Tolerations besides `nvidia.com/gpu`, which GPU pods always get. Defaults to none. */
  readonly tolerations?: readonly TolerationSpec[];
  /** vLLM CPU and memory (requests = limits). */
  readonly vllmResources: ResourceSpec;
  /** Proxy CPU and memory (requests = limits). */
  readonly proxyResources: ResourceSpec;
  /** Size limit of the model cache volume in GiB. Defaults to `40`. */
  readonly modelCacheGiB?: number;
  /** Kubernetes provider for every object. */
  readonly provider?: k8s.Provider;
}

/** Checks the arguments a Deployment would accept but that cannot work. */
export function validateVllmServerArgs(args: VllmServerArgs): void {
  const replicas = args.replicas ?? 2;
  const gpus = args.gpusPerReplica ?? 1;
  if (!Number.isInteger(replicas) || replicas < 0) {
    throw new Error(`VllmServer: replicas must be a whole number >= 0, got ${replicas}`);
  }
  if (replicas === 0 && args.autoscaled !== true) {
    throw new Error("VllmServer: replicas 0 serves nothing unless an autoscaler owns the count; set autoscaled or replicas >= 1");
  }
  if (!Number.isInteger(gpus) || gpus < 0) {
    throw new Error(`VllmServer: gpusPerReplica must be a whole number >= 0, got ${gpus}`);
  }
}

/**
 * The replicas: a Deployment whose pods run vLLM bound to 127.0.0.1 with the sidecar (role
 * `sidecar`) as the only way in, the headless Service the gateways resolve, a PodDisruptionBudget,
 * and the Hugging Face token Secret.
 */
export class VllmServer extends pulumi.ComponentResource {
  /** Name of the Deployment. */
  public readonly deploymentName: pulumi.Output<string>;
  /** Labels that select the server's pods. */
  public readonly selector: Record<string, string>;
  /** Name of the replicas' headless Service. */
  public readonly replicasServiceName: string;

  constructor(name: string, args: VllmServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:VllmServer", name, {}, opts);
    validateVllmServerArgs(args);
    const self = { parent: this, provider: args.provider };
    const replicas = args.replicas ?? 2;
    const gpus = args.gpusPerReplica ?? 1;
    const labels = appLabels(args.app, "server");
    this.selector = selectorLabels(args.app);

    const hfSecret =
      args.hfToken === undefined
        ? undefined
        : new k8s.core.v1.Secret(
            `${name}-hf-token`,
            {
              metadata: { name: `${name}-hf-token`, namespace: args.namespace, labels },
              type: "Opaque",
              stringData: { token: pulumi.secret(args.hfToken) },
            },
            self,
          );

    const deployment = new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata: {
          name,
          namespace: args.namespace,
          labels,
          // pulumi up waits for a first pod to be ready (a first start downloads the model), if one is asked for.
          annotations: replicasAwaitAnnotations(replicas, args.autoscaled === true),
        },
        spec: {
          replicas,
          selector: { matchLabels: this.selector },
          strategy: rolloutStrategy(args.rollout ?? "surge"),
          progressDeadlineSeconds: ROLLOUT_DEADLINE_SECONDS,
          revisionHistoryLimit: 5,
          template: {
            metadata: {
              labels,
              annotations: {
                "kubectl.kubernetes.io/default-container": "vllm",
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "9090",
                "prometheus.io/path": "/metrics",
              },
            },
            spec: vllmPodSpec({
              model: args.model,
              gpus,
              vllmImage: args.vllmImage,
              vllmArgs: args.vllmArgs,
              proxyImage: args.proxyImage,
              internalTokenSecretName: args.internalTokenSecretName,
              ...(hfSecret !== undefined ? { hfTokenSecretName: hfSecret.metadata.name } : {}),
              nodeSelector: args.nodeSelector ?? {},
              tolerations: args.tolerations ?? [],
              vllmResources: args.vllmResources,
              proxyResources: args.proxyResources,
              modelCacheGiB: args.modelCacheGiB ?? 40,
              selector: this.selector,
            }),
          },
        },
      },
      // The autoscaler owns the count once the Deployment exists (pulumi-kubernetes #2491: with
      // server-side apply, an ignored field another manager owns is left out of Pulumi's patch).
      args.autoscaled === true ? { ...self, ignoreChanges: ["spec.replicas"] } : self,
    );
    this.deploymentName = deployment.metadata.name;

    // Headless: its DNS name answers the ready replicas' IPs, so each gateway balances per request.
    this.replicasServiceName = REPLICAS_SERVICE_NAME;
    new k8s.core.v1.Service(
      `${name}-replicas`,
      {
        metadata: { name: REPLICAS_SERVICE_NAME, namespace: args.namespace, labels: appLabels(args.app, "replicas") },
        spec: {
          clusterIP: "None",
          // A replica is listed only once its sidecar (and so vLLM) is ready.
          publishNotReadyAddresses: false,
          selector: this.selector,
          ports: [{ name: "http", port: PROXY_PORT, targetPort: "http", protocol: "TCP" }],
        },
      },
      self,
    );

    // One pod at a time may be evicted (node drains, upgrades), even with a single replica.
    new k8s.policy.v1.PodDisruptionBudget(
      `${name}-pdb`,
      {
        metadata: { name, namespace: args.namespace, labels },
        spec: { maxUnavailable: 1, selector: { matchLabels: this.selector } },
      },
      self,
    );

    this.registerOutputs({ deploymentName: this.deploymentName });
  }
}
