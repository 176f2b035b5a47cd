import { describe, record, ResourceInput, str, strings } from "../values";
import { ContainerView, isProxyContainer, PodView, podOf } from "../workloads";

function effective(container: ContainerView, pod: PodView, field: string): unknown {
  const own = record(container.raw.securityContext)?.[field];
  return own !== undefined ? own : record(pod.spec.securityContext)?.[field];
}

function problems(container: ContainerView, pod: PodView): string[] {
  const context = record(container.raw.securityContext) ?? {};
  const capabilities = record(context.capabilities) ?? {};
  const out: string[] = [];
  if (effective(container, pod, "runAsNonRoot") !== true) out.push("runAsNonRoot: true");
  if (effective(container, pod, "runAsUser") === 0) out.push("a non-zero runAsUser");
  if (context.readOnlyRootFilesystem !== true) out.push("readOnlyRootFilesystem: true");
  if (context.allowPrivilegeEscalation !== false) out.push("allowPrivilegeEscalation: false");
  if (context.privileged === true) out.push("privileged: false");
  if (!strings(capabilities.drop).includes("ALL")) out.push(`capabilities.drop: ["ALL"] (in capitals)`);
  const added = strings(capabilities.add).filter((cap) => cap !== "NET_BIND_SERVICE");
  if (added.length > 0) out.push(`no added capabilities (remove ${added.join(", ")})`);
  const seccomp = str(record(effective(container, pod, "seccompProfile"))?.type);
  if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") out.push(`seccompProfile.type: RuntimeDefault`);
  return out;
}

/**
 * Policy 6: the auth proxy runs with the restricted security context: non-root, read-only root
 * filesystem, no privilege escalation, every capability dropped, the runtime's seccomp profile.
 */
export function checkProxyRestricted(resource: ResourceInput): string[] {
  const pod = podOf(resource);
  if (!pod) return [];
  const where = describe(resource);
  return pod.containers
    .filter((container) => isProxyContainer(container, pod))
    .flatMap((container) => {
      const missing = problems(container, pod);
      return missing.length === 0
        ? []
        : [
            `${where}: the auth proxy container "${container.name}" holds the bearer tokens and faces the internet, but its ` +
              `securityContext lacks ${missing.join(", ")}. Set them on the container (runAsNonRoot may also come from the pod).`,
          ];
    });
}
