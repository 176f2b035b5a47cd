import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AppIdentity, appLabels, selectorLabels } from "./labels";
import {
  INTERNAL_TOKEN_DIR,
  INTERNAL_TOKEN_FILE_NAME,
  KEYS_DIR,
  KEYS_FILE_NAME,
  PRESTOP_SECONDS,
  PROXY_PORT,
  PROXY_UID,
  REDIRECT_PORT,
  SHUTDOWN_GRACE_MS,
  commonProxyEnv,
  internalTokenMount,
  keysMount,
  proxyPorts,
  proxyProbes,
  proxySecurityContext,
  secretVolume,
} from "./proxy";
import { ResourceSpec } from "./vllmPod";
import { proxyNodeOptions } from "./nodeHeap";

type EnvVar = k8s.types.input.core.v1.EnvVar;
type PodSpec = k8s.types.input.core.v1.PodSpec;

/** The cluster DNS suffix the replicas' Service name is qualified with. */
export const CLUSTER_DOMAIN = "cluster.local";
/** preStop pause, then the drain of streams, then a margin for the process to exit. */
export const GATEWAY_TERMINATION_GRACE_SECONDS = PRESTOP_SECONDS + SHUTDOWN_GRACE_MS / 1000 + 15;
/** How long `pulumi up` waits for the gateways: on EKS their readiness includes the NLB's target health. */
export const GATEWAY_AWAIT_SECONDS = 15 * 60;

/** The gateway's labels identity: the stack's, named `<app>-gateway` so selectors tell it from the replicas. */
export function gatewayIdentity(app: AppIdentity): AppIdentity {
  return { ...app, name: `${app.name}-gateway` };
}

/** Labels that select the gateway pods: what the load balancer's Service selects. */
export function gatewaySelector(app: AppIdentity): Record<string, string> {
  return selectorLabels(gatewayIdentity(app));
}

/** `<service>.<namespace>.svc.cluster.local`: the headless Service's name, which resolves to ready replicas only. */
export function serviceDnsName(service: string, namespace: string): string {
  return `${service}.${namespace}.svc.${CLUSTER_DOMAIN}`;
}

/** What the gateway's environment depends on. */
export interface GatewayEnvOptions {
  /** DNS name of the replicas' headless Service. */
  readonly replicasDns: pulumi.Input<string>;
  /** Longest a request is held while no replica is ready. */
  readonly coldStartTimeoutSeconds: number;
  /** The served model's id. */
  readonly modelId: string;
  /** Number of gateway pods (limits fall back to per-gateway shares when the store is down). */
  readonly gatewayReplicas: number;
  /** `redis://...` of the shared limits store; unset when no key has a limit. */
  readonly redisUrl?: pulumi.Input<string>;
  /** `https://<domain>`: turns on the 308 redirect listener. Unset without TLS. */
  readonly redirectTo?: string;
}

/** The gateway's environment (CONTRACT): role, keys, internal credential, replicas, holding and limits. */
export function gatewayEnv(o: GatewayEnvOptions): EnvVar[] {
  const env: EnvVar[] = [
    { name: "ROLE", value: "gateway" },
    { name: "KEYS_FILE", value: `${KEYS_DIR}/${KEYS_FILE_NAME}` },
    { name: "INTERNAL_TOKEN_FILE", value: `${INTERNAL_TOKEN_DIR}/${INTERNAL_TOKEN_FILE_NAME}` },
    { name: "REPLICAS_DNS", value: o.replicasDns },
    { name: "REPLICAS_PORT", value: String(PROXY_PORT) },
    { name: "COLD_START_TIMEOUT_MS", value: String(o.coldStartTimeoutSeconds * 1000) },
    { name: "MODEL_ID", value: o.modelId },
    { name: "GATEWAY_REPLICAS", value: String(o.gatewayReplicas) },
    ...commonProxyEnv(),
  ];
  if (o.redisUrl !== undefined) env.push({ name: "REDIS_URL", value: o.redisUrl });
  if (o.redirectTo !== undefined) {
    env.push(
      { name: "REDIRECT_PORT", value: String(REDIRECT_PORT) },
      { name: "REDIRECT_TO", value: o.redirectTo },
      // The NLB terminates TLS: what reaches the gateway on 8080 was https to the client.
      { name: "FORWARDED_PROTO", value: "https" },
    );
  }
  return env;
}

/** Everything the gateway's pod spec depends on. */
export interface GatewayPodOptions extends GatewayEnvOptions {
  readonly image: pulumi.Input<string>;
  readonly resources: ResourceSpec;
  readonly keysSecretName: pulumi.Input<string>;
  readonly internalTokenSecretName: pulumi.Input<string>;
  /** Labels of the gateway pods, for the spread constraints. */
  readonly selector: Record<string, string>;
}

/** The gateway pod: one restricted proxy container on CPU nodes, spread over zones and hosts. */
export function gatewayPodSpec(o: GatewayPodOptions): PodSpec {
  const spread = (topologyKey: string) => ({
    maxSkew: 1,
    topologyKey,
    // A one-zone or one-node cluster (kind) must still run every gateway.
    whenUnsatisfiable: "ScheduleAnyway",
    labelSelector: { matchLabels: o.selector },
  });
  return {
    terminationGracePeriodSeconds: GATEWAY_TERMINATION_GRACE_SECONDS,
    // The gateway never talks to the Kubernetes API: it finds replicas through DNS.
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    // The mounted Secrets are group-readable by the proxy's group, not world-readable.
    securityContext: { fsGroup: PROXY_UID, fsGroupChangePolicy: "OnRootMismatch" },
    // No GPU toleration: tainted GPU nodes stay for vLLM, gateways land on CPU (system) nodes.
    nodeSelector: { "kubernetes.io/os": "linux" },
    topologySpreadConstraints: [spread("topology.kubernetes.io/zone"), spread("kubernetes.io/hostname")],
    containers: [
      {
        name: "gateway",
        image: o.image,
        imagePullPolicy: "IfNotPresent",
        ports: proxyPorts(o.redirectTo !== undefined),
        env: [...gatewayEnv(o), proxyNodeOptions(o.resources.memory)],
        resources: {
          requests: { cpu: o.resources.cpu, memory: o.resources.memory },
          limits: { cpu: o.resources.cpu, memory: o.resources.memory },
        },
        volumeMounts: [keysMount(), internalTokenMount()],
        // /health answers 200 while the gateway runs and is not draining, replicas or not: it holds requests.
        ...proxyProbes(),
        lifecycle: { preStop: { sleep: { seconds: PRESTOP_SECONDS } } },
        securityContext: proxySecurityContext(),
      },
    ],
    volumes: [secretVolume("api-keys", o.keysSecretName), secretVolume("internal-token", o.internalTokenSecretName)],
  };
}

/** A PodDisruptionBudget's limit for this many gateways: one stays up through drains once there are two. */
export function gatewayDisruptionBudget(replicas: number): { minAvailable: number } | { maxUnavailable: number } {
  // With a single gateway, minAvailable 1 would block every node drain (upgrades, consolidation) forever.
  return replicas >= 2 ? { minAvailable: 1 } : { maxUnavailable: 1 };
}

export interface GatewayArgs extends Omit<GatewayEnvOptions, "gatewayReplicas" | "replicasDns"> {
  /** Namespace of the Deployment and its PodDisruptionBudget. */
  readonly namespace: pulumi.Input<string>;
  /** Labels identity of the stack; the gateway's name is `<app>-gateway`. */
  readonly app: AppIdentity;
  /** The proxy image, pinned (tag or digest): the same image as the sidecars. */
  readonly image: pulumi.Input<string>;
  /** Gateway pods, 1 to 20. Defaults to `2`. */
  readonly replicas?: number;
  /** CPU and memory per gateway (requests = limits). */
  readonly resources: ResourceSpec;
  /** Secret with `keys.json`. */
  readonly keysSecretName: pulumi.Input<string>;
  /** Secret with the internal credential `token`. */
  readonly internalTokenSecretName: pulumi.Input<string>;
  /** Name of the replicas' headless Service in the same namespace. */
  readonly replicasServiceName: string;
  /** Kubernetes provider for every object. */
  readonly provider?: k8s.Provider;
}

/** Checks the arguments a Deployment would accept but that cannot work. */
export function validateGatewayArgs(args: Pick<GatewayArgs, "replicas" | "coldStartTimeoutSeconds" | "redirectTo">): void {
  const replicas = args.replicas ?? 2;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 20) {
    throw new Error(`Gateway: replicas must be a whole number from 1 to 20, got ${replicas}`);
  }
  if (!Number.isInteger(args.coldStartTimeoutSeconds) || args.coldStartTimeoutSeconds < 1) {
    throw new Error(`Gateway: coldStartTimeoutSeconds must be a whole number >= 1, got ${args.coldStartTimeoutSeconds}`);
  }
  if (args.redirectTo !== undefined && !/^https:\/\/[a-z0-9.-]+$/.test(args.redirectTo)) {
    throw new Error(`Gateway: redirectTo must be https://<domain> without a path, got ${args.redirectTo}`);
  }
}

/**
 * The public tier: Deployment `<app>-gateway` of the proxy in role `gateway`, which checks client keys,
 * applies limits, holds requests while no replica is ready and balances every request over the
 * replicas; and its PodDisruptionBudget.
 */
export class Gateway extends pulumi.ComponentResource {
  /** Name of the Deployment. */
  public readonly deploymentName: pulumi.Output<string>;
  /** Labels that select the gateway pods. */
  public readonly selector: Record<string, string>;

  constructor(name: string, args: GatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:Gateway", name, {}, opts);
    validateGatewayArgs(args);
    const self = { parent: this, provider: args.provider };
    const replicas = args.replicas ?? 2;
    const app = gatewayIdentity(args.app);
    const labels = appLabels(app, "gateway");
    this.selector = gatewaySelector(args.app);

    const deployment = new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata: {
          name: app.name,
          namespace: args.namespace,
          labels,
          annotations: { "pulumi.com/timeoutSeconds": String(GATEWAY_AWAIT_SECONDS) },
        },
        spec: {
          replicas,
          selector: { matchLabels: this.selector },
          // A new gateway is ready (and healthy in the NLB) before an old one drains.
          strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
          revisionHistoryLimit: 5,
          template: {
            metadata: {
              labels,
              annotations: { "prometheus.io/scrape": "true", "prometheus.io/port": "9090", "prometheus.io/path": "/metrics" },
            },
            spec: gatewayPodSpec({
              ...args,
              gatewayReplicas: replicas,
              replicasDns: pulumi.output(args.namespace).apply((ns) => serviceDnsName(args.replicasServiceName, ns)),
              selector: this.selector,
            }),
          },
        },
      },
      self,
    );
    this.deploymentName = deployment.metadata.name;

    new k8s.policy.v1.PodDisruptionBudget(
      `${name}-pdb`,
      {
        metadata: { name: app.name, namespace: args.namespace, labels },
        spec: { ...gatewayDisruptionBudget(replicas), selector: { matchLabels: this.selector } },
      },
      self,
    );

    this.registerOutputs({ deploymentName: this.deploymentName });
  }
}
