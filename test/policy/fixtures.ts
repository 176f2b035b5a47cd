import { ResourceInput } from "../../infra/policy/values";

/** Plain objects as the engine hands them to a policy; `Obj` keeps the fixtures easy to vary. */
export type Obj = Record<string, unknown>;

export const SELECTOR = { "app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": "vllm-auth-dev" };

export function vllmContainer(patch: Obj = {}): Obj {
  return {
    name: "vllm",
    image: "vllm/vllm-openai:v0.10.1",
    command: ["vllm", "serve", "meta-llama/Llama-2-7b-chat-hf", "--host", "127.0.0.1", "--port", "8000"],
    env: [
      { name: "HF_HOME", value: "/root/.cache/huggingface" },
      { name: "HF_TOKEN", valueFrom: { secretKeyRef: { name: "hf-token", key: "token" } } },
    ],
    resources: { requests: { cpu: "4", memory: "24Gi", "nvidia.com/gpu": "1" }, limits: { cpu: "4", memory: "24Gi", "nvidia.com/gpu": "1" } },
    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
    ...patch,
  };
}

export const RESTRICTED = {
  runAsNonRoot: true,
  runAsUser: 65532,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
};

export function proxyContainer(patch: Obj = {}): Obj {
  return {
    name: "proxy",
    image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/vllm-auth-proxy@sha256:" + "ab".repeat(32),
    ports: [
      { name: "http", containerPort: 8080, protocol: "TCP" },
      { name: "redirect", containerPort: 8081, protocol: "TCP" },
      { name: "metrics", containerPort: 9090, protocol: "TCP" },
    ],
    env: [
      { name: "UPSTREAM_URL", value: "http://127.0.0.1:8000" },
      { name: "TOKENS_FILE", value: "/etc/vllm-auth/tokens/tokens" },
    ],
    volumeMounts: [{ name: "tokens", mountPath: "/etc/vllm-auth/tokens", readOnly: true }],
    securityContext: { ...RESTRICTED },
    ...patch,
  };
}

export interface PodShape {
  readonly containers?: readonly Obj[];
  readonly initContainers?: readonly Obj[];
  readonly spec?: Obj;
  readonly templateMetadata?: Obj;
  readonly metadata?: Obj;
}

/** A Deployment like the serving stack's: vLLM on loopback with the proxy sidecar, unless told otherwise. */
export function deployment(shape: PodShape = {}): ResourceInput {
  return {
    type: "kubernetes:apps/v1:Deployment",
    name: "vllm",
    urn: "urn:pulumi:dev::vllm-auth::kubernetes:apps/v1:Deployment::vllm",
    props: {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "vllm", namespace: "vllm-auth", ...shape.metadata },
      spec: {
        replicas: 2,
        selector: { matchLabels: SELECTOR },
        template: {
          metadata: { labels: { ...SELECTOR, "app.kubernetes.io/component": "server" }, ...shape.templateMetadata },
          spec: {
            containers: shape.containers ?? [vllmContainer(), proxyContainer()],
            ...(shape.initContainers ? { initContainers: shape.initContainers } : {}),
            tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
            ...shape.spec,
          },
        },
      },
    },
  };
}

/** The public Service: LoadBalancer to the proxy's named port, limited to one CIDR. */
export function service(spec: Obj = {}, metadata: Obj = {}, name = "vllm-auth"): ResourceInput {
  return {
    type: "kubernetes:core/v1:Service",
    name: `${name}-service`,
    urn: `urn:pulumi:dev::vllm-auth::kubernetes:core/v1:Service::${name}-service`,
    props: {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace: "vllm-auth", ...metadata },
      spec: {
        type: "LoadBalancer",
        selector: SELECTOR,
        ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
        loadBalancerSourceRanges: ["203.0.113.0/24"],
        ...spec,
      },
    },
  };
}

export function configMap(data: Obj, metadata: Obj = {}): ResourceInput {
  return {
    type: "kubernetes:core/v1:ConfigMap",
    name: "settings",
    props: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings", namespace: "vllm-auth", ...metadata }, data },
  };
}

export function nodeGroup(props: Obj = {}): ResourceInput {
  return {
    type: "aws:eks/nodeGroup:NodeGroup",
    name: "gpu",
    props: {
      nodeGroupName: "gpu-l4",
      amiType: "BOTTLEROCKET_x86_64_NVIDIA",
      instanceTypes: ["g6.xlarge"],
      capacityType: "ON_DEMAND",
      taints: [{ key: "nvidia.com/gpu", value: "true", effect: "NO_SCHEDULE" }],
      ...props,
    },
  };
}

/** The same resource with the pod spec's containers replaced. */
export function withContainers(containers: readonly Obj[]): ResourceInput {
  return deployment({ containers });
}

/** The gateway pods' labels: the two tiers differ by app.kubernetes.io/name. */
export const GATEWAY_SELECTOR = { "app.kubernetes.io/name": "vllm-gateway", "app.kubernetes.io/instance": "vllm-auth-dev" };

export const SIDECAR_ENV: readonly Obj[] = [
  { name: "ROLE", value: "sidecar" },
  { name: "UPSTREAM_URL", value: "http://127.0.0.1:8000" },
  { name: "INTERNAL_TOKEN_FILE", value: "/etc/vllm-auth/internal/token" },
];

/** The two-tier sidecar: role sidecar, the internal credential, no client keys, no redirect listener. */
export function sidecarContainer(patch: Obj = {}): Obj {
  return proxyContainer({
    ports: [
      { name: "http", containerPort: 8080, protocol: "TCP" },
      { name: "metrics", containerPort: 9090, protocol: "TCP" },
    ],
    env: [...SIDECAR_ENV],
    volumeMounts: [{ name: "internal-token", mountPath: "/etc/vllm-auth/internal", readOnly: true }],
    ...patch,
  });
}

/** The replicas of the two-tier shape: vLLM on loopback with a sidecar in role sidecar. */
export function replicaDeployment(shape: PodShape = {}): ResourceInput {
  return deployment({ containers: [vllmContainer(), sidecarContainer()], ...shape });
}

/** The gateway container: role gateway, the keys file and the internal credential, the public ports. */
export function gatewayContainer(patch: Obj = {}): Obj {
  return proxyContainer({
    name: "gateway",
    env: [
      { name: "ROLE", value: "gateway" },
      { name: "KEYS_FILE", value: "/etc/vllm-auth/keys/keys.json" },
      { name: "INTERNAL_TOKEN_FILE", value: "/etc/vllm-auth/internal/token" },
      { name: "REPLICAS_DNS", value: "vllm-replicas.vllm-auth.svc.cluster.local" },
    ],
    volumeMounts: [
      { name: "api-keys", mountPath: "/etc/vllm-auth/keys", readOnly: true },
      { name: "internal-token", mountPath: "/etc/vllm-auth/internal", readOnly: true },
    ],
    ...patch,
  });
}

/** The gateway Deployment: one proxy container in role gateway, no vLLM, no GPU. */
export function gatewayDeployment(containers: readonly Obj[] = [gatewayContainer()]): ResourceInput {
  return {
    type: "kubernetes:apps/v1:Deployment",
    name: "vllm-gateway",
    urn: "urn:pulumi:dev::vllm-auth::kubernetes:apps/v1:Deployment::vllm-gateway",
    props: {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "vllm-gateway", namespace: "vllm-auth" },
      spec: {
        replicas: 2,
        selector: { matchLabels: GATEWAY_SELECTOR },
        template: {
          metadata: { labels: { ...GATEWAY_SELECTOR, "app.kubernetes.io/component": "gateway" } },
          spec: { containers },
        },
      },
    },
  };
}

/** A NetworkPolicy in the stack's namespace. */
export function networkPolicy(name: string, spec: Obj, namespace = "vllm-auth"): ResourceInput {
  return {
    type: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    name,
    urn: `urn:pulumi:dev::vllm-auth::kubernetes:networking.k8s.io/v1:NetworkPolicy::${name}`,
    props: { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name, namespace }, spec },
  };
}

/** The stack's policy for the replicas: 8080 from the gateways, 9090 from the monitoring namespace. */
export function replicasPolicy(patch: Obj = {}): ResourceInput {
  return networkPolicy("vllm-replicas", {
    podSelector: { matchLabels: SELECTOR },
    policyTypes: ["Ingress"],
    ingress: [
      { from: [{ podSelector: { matchLabels: GATEWAY_SELECTOR } }], ports: [{ protocol: "TCP", port: 8080 }] },
      { from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }], ports: [{ protocol: "TCP", port: 9090 }] },
    ],
    ...patch,
  });
}
