import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AppIdentity, appLabels, imageVersion, selectorLabels } from "./labels";
import { CLUSTER_DOMAIN } from "./gateway";
import { VALKEY_PORT } from "./networkPolicies";
import { ResourceSpec } from "./vllmPod";

type Container = k8s.types.input.core.v1.Container;
type PodSpec = k8s.types.input.core.v1.PodSpec;

/** Deployment and Service name (CONTRACT). */
export const VALKEY_NAME = "vllm-valkey";
/** Pinned: Valkey 8.1.11, released 2026-10-26 (valkey.io/download/8.1; Docker Hub valkey/valkey). */
export const VALKEY_IMAGE = "valkey/valkey:8.1.11-alpine";
/** The image's `valkey` user and group (valkey-io/valkey-container `8.1/alpine/Dockerfile`: adduser -u 999, addgroup -g 1000). */
export const VALKEY_UID = 999;
export const VALKEY_GID = 1000;
/** Counters for a few keys fit in far less; requests = limits. */
export const DEFAULT_VALKEY_RESOURCES: ResourceSpec = { cpu: "100m", memory: "128Mi" };
/** Valkey's own memory cap, below the container's limit so it evicts instead of being OOM-killed. */
export const VALKEY_MAXMEMORY = "64mb";

/** `valkey-server` flags: no snapshots, no append-only file (the counters live a minute), bounded memory. */
export function valkeyArgs(): string[] {
  return [
    "valkey-server",
    "--port",
    String(VALKEY_PORT),
    "--save",
    "",
    "--appendonly",
    "no",
    "--maxmemory",
    VALKEY_MAXMEMORY,
    // Evicting an old counter loosens one limit for a minute; refusing writes would fail every limited request.
    "--maxmemory-policy",
    "allkeys-lru",
  ];
}

/** The Valkey container: non-root, read-only root, no capabilities, an emptyDir for its working directory. */
export function valkeyContainer(resources: ResourceSpec): Container {
  const tcp = { tcpSocket: { port: "valkey" } };
  return {
    name: "valkey",
    image: VALKEY_IMAGE,
    imagePullPolicy: "IfNotPresent",
    // The image's entrypoint runs `valkey-server` directly when it is not root.
    args: valkeyArgs(),
    ports: [{ name: "valkey", containerPort: VALKEY_PORT, protocol: "TCP" }],
    resources: { requests: { ...resources }, limits: { ...resources } },
    volumeMounts: [{ name: "data", mountPath: "/data" }],
    startupProbe: { ...tcp, periodSeconds: 2, timeoutSeconds: 2, failureThreshold: 30 },
    readinessProbe: { exec: { command: ["valkey-cli", "-p", String(VALKEY_PORT), "ping"] }, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 },
    livenessProbe: { ...tcp, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: VALKEY_UID,
      runAsGroup: VALKEY_GID,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
  };
}

/** The Valkey pod: one container, no API token, no service links, a small emptyDir at /data (its WORKDIR). */
export function valkeyPodSpec(resources: ResourceSpec): PodSpec {
  return {
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: { fsGroup: VALKEY_GID, fsGroupChangePolicy: "OnRootMismatch" },
    nodeSelector: { "kubernetes.io/os": "linux" },
    containers: [valkeyContainer(resources)],
    volumes: [{ name: "data", emptyDir: { sizeLimit: "64Mi" } }],
  };
}

/** `redis://vllm-valkey.<namespace>.svc.cluster.local:6379` (CONTRACT `REDIS_URL`). */
export function valkeyUrl(namespace: string): string {
  return `redis://${VALKEY_NAME}.${namespace}.svc.${CLUSTER_DOMAIN}:${VALKEY_PORT}`;
}

/** The Valkey identity: `vllm-valkey`, versioned by its image. */
export function valkeyIdentity(app: AppIdentity): AppIdentity {
  return { ...app, name: VALKEY_NAME, version: imageVersion(VALKEY_IMAGE) };
}

export interface ValkeyArgs {
  /** Namespace of the Deployment and Service. */
  readonly namespace: pulumi.Input<string>;
  /** Labels identity of the stack. */
  readonly app: AppIdentity;
  /** CPU and memory (requests = limits). Defaults to 100m and 128Mi. */
  readonly resources?: ResourceSpec;
  /** Kubernetes provider for every object. */
  readonly provider?: k8s.Provider;
}

/**
 * The shared store of per-key limit counters, so limits hold across gateways: one Valkey pod without
 * persistence (a restart forgets at most a minute of counts) and its Service. Only gateways reach it
 * (NetworkPolicy `vllm-valkey`); when it is down the gateways fall back to per-gateway shares.
 */
export class Valkey extends pulumi.ComponentResource {
  /** `redis://` URL of the Service. */
  public readonly url: pulumi.Output<string>;
  /** Labels that select the Valkey pod. */
  public readonly selector: Record<string, string>;

  constructor(name: string, args: ValkeyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:Valkey", name, {}, opts);
    const self = { parent: this, provider: args.provider };
    const app = valkeyIdentity(args.app);
    const labels = appLabels(app, "limits-store");
    this.selector = selectorLabels(app);

    new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata: { name: VALKEY_NAME, namespace: args.namespace, labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: this.selector },
          // Nothing to hand over between two stores: replace the pod.
          strategy: { type: "Recreate" },
          revisionHistoryLimit: 3,
          template: { metadata: { labels }, spec: valkeyPodSpec(args.resources ?? DEFAULT_VALKEY_RESOURCES) },
        },
      },
      self,
    );

    const service = new k8s.core.v1.Service(
      `${name}-service`,
      {
        metadata: { name: VALKEY_NAME, namespace: args.namespace, labels },
        spec: {
          type: "ClusterIP",
          selector: this.selector,
          ports: [{ name: "valkey", port: VALKEY_PORT, targetPort: "valkey", protocol: "TCP" }],
        },
      },
      self,
    );

    this.url = pulumi.all([service.metadata.name, service.metadata.namespace]).apply(([, ns]) => valkeyUrl(ns));
    this.registerOutputs({ url: this.url });
  }
}
