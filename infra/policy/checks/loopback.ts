import { describe, ResourceInput } from "../values";
import { commandLine, envValues, expandEnv, flagValue, isLongRunning, isProxyContainer, isVllmContainer, podOf, replicaSidecar } from "../workloads";

/** True for addresses only the pod itself can reach. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * Policy 2: vLLM binds 127.0.0.1 (`--host`), and every pod that runs vLLM carries the auth proxy sidecar.
 * Without both, a client on the pod network reaches vLLM without a token.
 */
export function checkVllmLoopbackAndSidecar(resource: ResourceInput): string[] {
  const pod = podOf(resource);
  if (!pod) return [];
  const vllm = pod.containers.filter((c) => isVllmContainer(c, pod));
  if (vllm.length === 0) return [];
  const messages: string[] = [];
  const where = describe(resource);

  for (const container of vllm) {
    const host = expandEnv(flagValue(commandLine(container), "--host"), container);
    if (host === undefined) {
      messages.push(
        `${where}: the vLLM container "${container.name}" sets no --host, so vLLM listens on every interface. ` +
          `Add "--host", "127.0.0.1" to its args so only the proxy sidecar in the same pod can reach it.`,
      );
    } else if (!isLoopback(host)) {
      messages.push(
        `${where}: the vLLM container "${container.name}" binds --host ${host}, reachable from the pod network without a token. ` +
          `Use --host 127.0.0.1 and let the auth proxy sidecar be the only way in.`,
      );
    }
  }
  if (pod.spec.hostNetwork === true) {
    messages.push(
      `${where}: the vLLM pod sets hostNetwork: true, so 127.0.0.1 is the node's loopback, shared with every host-network pod. ` +
        `Remove hostNetwork; the pod's own network namespace keeps vLLM private to the sidecar.`,
    );
  }
  const sidecar = pod.containers.some((c) => isLongRunning(c) && isProxyContainer(c, pod));
  if (!sidecar) {
    messages.push(
      `${where} runs vLLM without the auth proxy sidecar. Add the proxy container (port http 8080, ROLE=sidecar and INTERNAL_TOKEN_FILE ` +
        `from the internal credential Secret) to the same pod; it is the only path to vLLM on 127.0.0.1 and it checks every request's credential.`,
    );
  }
  const replica = replicaSidecar(pod);
  if (replica !== undefined) {
    const env = envValues(replica);
    if (env["INTERNAL_TOKEN_FILE"] === undefined) {
      messages.push(
        `${where}: the sidecar "${replica.name}" runs in role sidecar without INTERNAL_TOKEN_FILE, so it has no credential to check. ` +
          `Mount the internal credential Secret and set INTERNAL_TOKEN_FILE to its token file.`,
      );
    }
    const clientFiles = ["KEYS_FILE", "TOKENS_FILE"].filter((name) => env[name] !== undefined);
    if (clientFiles.length > 0) {
      messages.push(
        `${where}: the sidecar "${replica.name}" in role sidecar is given ${clientFiles.join(" and ")}: client keys must stay at the gateways. ` +
          `Remove ${clientFiles.join(" and ")} and the keys Secret from the replica pods.`,
      );
    }
  }
  return messages;
}
