import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AppIdentity, appLabels } from "./labels";
import { METRICS_PORT, PROXY_PORT, REDIRECT_PORT } from "./proxy";

type NetworkPolicySpec = k8s.types.input.networking.v1.NetworkPolicySpec;
type Peer = k8s.types.input.networking.v1.NetworkPolicyPeer;

/** Where Prometheus runs by default (kube-prometheus-stack's namespace in this stack). */
export const DEFAULT_MONITORING_NAMESPACE = "monitoring";
/** Valkey's port, which only gateways may reach. */
export const VALKEY_PORT = 6379;

/** The namespace selector every cluster sets since Kubernetes 1.22: a namespace's own name. */
export function namespacePeer(namespace: string): Peer {
  return { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } } };
}

const tcp = (port: number) => ({ protocol: "TCP", port });

/** The replicas: the sidecar's API only from gateway pods, its metrics only from the monitoring namespace. */
export function replicasPolicySpec(
  replicas: Record<string, string>,
  gateways: Record<string, string>,
  monitoringNamespace: string,
): NetworkPolicySpec {
  return {
    podSelector: { matchLabels: replicas },
    policyTypes: ["Ingress"],
    ingress: [
      // A peer with only a podSelector means pods of this namespace: the gateways, nobody else.
      { from: [{ podSelector: { matchLabels: gateways } }], ports: [tcp(PROXY_PORT)] },
      { from: [namespacePeer(monitoringNamespace)], ports: [tcp(METRICS_PORT)] },
    ],
  };
}

/** The gateways: API and redirect from anywhere (the NLB, clients), metrics only from the monitoring namespace. */
export function gatewayPolicySpec(gateways: Record<string, string>, monitoringNamespace: string): NetworkPolicySpec {
  return {
    podSelector: { matchLabels: gateways },
    policyTypes: ["Ingress"],
    ingress: [
      { ports: [tcp(PROXY_PORT), tcp(REDIRECT_PORT)] },
      { from: [namespacePeer(monitoringNamespace)], ports: [tcp(METRICS_PORT)] },
    ],
  };
}

/** Valkey: its port only from gateway pods; nothing else at all. */
export function valkeyPolicySpec(valkey: Record<string, string>, gateways: Record<string, string>): NetworkPolicySpec {
  return {
    podSelector: { matchLabels: valkey },
    policyTypes: ["Ingress"],
    ingress: [{ from: [{ podSelector: { matchLabels: gateways } }], ports: [tcp(VALKEY_PORT)] }],
  };
}

export interface NetworkPoliciesArgs {
  /** Namespace of the policies and of the pods they guard. */
  readonly namespace: pulumi.Input<string>;
  /** Labels identity of the stack. */
  readonly app: AppIdentity;
  /** Labels of the vLLM replica pods. */
  readonly replicasSelector: Record<string, string>;
  /** Labels of the gateway pods. */
  readonly gatewaySelector: Record<string, string>;
  /** Labels of the Valkey pods; unset when no Valkey runs. */
  readonly valkeySelector?: Record<string, string>;
  /** The namespace Prometheus scrapes from. Defaults to `monitoring`. */
  readonly monitoringNamespace?: string;
  /** Kubernetes provider for every object. */
  readonly provider?: k8s.Provider;
}

/**
 * Ingress rules for the two tiers (and Valkey): only gateways reach the GPU pods' sidecars and the
 * limits store. They take effect only where the CNI enforces NetworkPolicy (docs/gateway.md).
 */
export class NetworkPolicies extends pulumi.ComponentResource {
  constructor(name: string, args: NetworkPoliciesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:NetworkPolicies", name, {}, opts);
    const self = { parent: this, provider: args.provider };
    const monitoring = args.monitoringNamespace ?? DEFAULT_MONITORING_NAMESPACE;
    const labels = appLabels(args.app, "network-policy");
    const policy = (objectName: string, spec: NetworkPolicySpec) =>
      new k8s.networking.v1.NetworkPolicy(`${name}-${objectName}`, { metadata: { name: objectName, namespace: args.namespace, labels }, spec }, self);

    policy("vllm-replicas", replicasPolicySpec(args.replicasSelector, args.gatewaySelector, monitoring));
    policy("vllm-gateway", gatewayPolicySpec(args.gatewaySelector, monitoring));
    if (args.valkeySelector !== undefined) policy("vllm-valkey", valkeyPolicySpec(args.valkeySelector, args.gatewaySelector));

    this.registerOutputs({});
  }
}
