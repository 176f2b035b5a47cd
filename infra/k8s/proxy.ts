import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

type EnvVar = k8s.types.input.core.v1.EnvVar;
type Probe = k8s.types.input.core.v1.Probe;
type SecurityContext = k8s.types.input.core.v1.SecurityContext;
type VolumeMount = k8s.types.input.core.v1.VolumeMount;

/** The proxy's listeners: the API, the HTTP-to-HTTPS redirect (gateway with TLS only), and Prometheus metrics. */
export const PROXY_PORT = 8080;
export const REDIRECT_PORT = 8081;
export const METRICS_PORT = 9090;
/** The proxy's user in its image; pinned here so runAsNonRoot can be verified by the kubelet. */
export const PROXY_UID = 65532;

/** How long the proxy lets in-flight streams finish after SIGTERM. */
export const SHUTDOWN_GRACE_MS = 240_000;
/** Pause before SIGTERM so that the load balancer and endpoints stop sending new connections first. */
export const PRESTOP_SECONDS = 15;

/** The roles of the one proxy image (CONTRACT: `ROLE`). */
export type ProxyRole = "gateway" | "sidecar";

/** Where the gateway's keys Secret is mounted, as a directory so the kubelet's atomic update reaches the gateway. */
export const KEYS_DIR = "/etc/vllm-auth/keys";
/** The keys file inside the keys Secret: names, digests and limits, never a key. */
export const KEYS_FILE_NAME = "keys.json";
/** Where the internal credential is mounted in gateways and sidecars, a directory for the same reason. */
export const INTERNAL_TOKEN_DIR = "/etc/vllm-auth/internal";
/** The internal credential's file inside its Secret: one token per line, current first. */
export const INTERNAL_TOKEN_FILE_NAME = "token";

/** The proxy's probes: readiness on the API port, liveness and startup on the metrics port. */
export function proxyProbes(): { startupProbe: Probe; readinessProbe: Probe; livenessProbe: Probe } {
  return {
    startupProbe: { httpGet: { path: "/livez", port: "metrics" }, periodSeconds: 2, timeoutSeconds: 2, failureThreshold: 30 },
    readinessProbe: { httpGet: { path: "/health", port: "http" }, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 2 },
    livenessProbe: { httpGet: { path: "/livez", port: "metrics" }, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 },
  };
}

/** Named container ports of the proxy; the redirect listener exists only on a gateway with TLS. */
export function proxyPorts(redirect: boolean): k8s.types.input.core.v1.ContainerPort[] {
  return [
    { name: "http", containerPort: PROXY_PORT, protocol: "TCP" },
    ...(redirect ? [{ name: "redirect", containerPort: REDIRECT_PORT, protocol: "TCP" }] : []),
    { name: "metrics", containerPort: METRICS_PORT, protocol: "TCP" },
  ];
}

/** Restricted: the proxy holds credentials and the gateway faces the internet. */
export function proxySecurityContext(): SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: PROXY_UID,
    runAsGroup: PROXY_UID,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** Listener and drain settings both roles share. */
export function commonProxyEnv(): EnvVar[] {
  return [
    { name: "PORT", value: String(PROXY_PORT) },
    { name: "METRICS_PORT", value: String(METRICS_PORT) },
    { name: "SHUTDOWN_GRACE_MS", value: String(SHUTDOWN_GRACE_MS) },
  ];
}

/** The internal credential's mount: read-only, a directory. */
export function internalTokenMount(): VolumeMount {
  return { name: "internal-token", mountPath: INTERNAL_TOKEN_DIR, readOnly: true };
}

/** The keys file's mount (gateway only): read-only, a directory. */
export function keysMount(): VolumeMount {
  return { name: "api-keys", mountPath: KEYS_DIR, readOnly: true };
}

/** A Secret volume readable by the proxy's group only (the pod sets fsGroup to the proxy's group). */
export function secretVolume(name: string, secretName: pulumi.Input<string>): k8s.types.input.core.v1.Volume {
  return { name, secret: { secretName, defaultMode: 0o440 } };
}
