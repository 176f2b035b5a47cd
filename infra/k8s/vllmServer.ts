import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AppIdentity, appLabels, selectorLabels } from "./labels";
import { ROLLOUT_DEADLINE_SECONDS, awaitTimeoutAnnotation } from "./timeouts";
import { ResourceSpec, TolerationSpec, vllmPodSpec } from "./vllmPod";


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
  /** GPUs per pod, also vLLM's tensor parallel size; `0` runs on CPU. Defaults to `1`. */
  readonly gpusPerReplica?: number;
  /** The auth proxy image, pinned (tag or digest). */
  readonly proxyImage: pulumi.Input<string>;
  /** Secret holding the `tokens` file. */
  readonly tokensSecretName: pulumi.Input<string>;
  /** Hugging Face token for gated models; stored in a Secret, passed as `HF_TOKEN`. */
  readonly hfToken?: pulumi.Input<string>;
  /** `https://<domain>`: turns on the proxy's redirect listener. Unset without TLS. */
  readonly redirectTo?: string;
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
  if (!Number.isInteger(replicas) || replicas < 1) {
    throw new Error(`VllmServer: replicas must be a whole number >= 1, got ${replicas}`);
  }
  if (!Number.isInteger(gpus) || gpus < 0) {
    throw new Error(`VllmServer: gpusPerReplica must be a whole number >= 0, got ${gpus}`);
  }
  if (args.redirectTo !== undefined && !/^https:\/\/[a-z0-9.-]+$/.test(args.redirectTo)) {
    throw new Error(`VllmServer: redirectTo must be https://<domain> without a path, got ${args.redirectTo}`);
  }
}

/**
 * The model server: a Deployment whose pods run vLLM bound to 127.0.0.1 with the auth proxy as the
 * only way in, a PodDisruptionBudget, and the Hugging Face token Secret.
 */
export class VllmServer extends pulumi.ComponentResource {
  /** Name of the Deployment. */
  public readonly deploymentName: pulumi.Output<string>;
  /** Labels that select the server's pods. */
  public readonly selector: Record<string, string>;

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
          // pulumi up waits for the pods to be ready; a first start downloads the model.
          annotations: awaitTimeoutAnnotation(),
        },
        spec: {
          replicas,
          selector: { matchLabels: this.selector },
          // Never fewer ready pods than asked for: a new pod must be ready before an old one goes.
          strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
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
              tokensSecretName: args.tokensSecretName,
              ...(hfSecret !== undefined ? { hfTokenSecretName: hfSecret.metadata.name } : {}),
              ...(args.redirectTo !== undefined ? { redirectTo: args.redirectTo } : {}),
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
      // pulumi-kubernetes' advice for a field another controller owns (server-side apply): ignoreChanges.
      args.autoscaled === true ? { ...self, ignoreChanges: ["spec.replicas"] } : self,
    );
    this.deploymentName = deployment.metadata.name;

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
