/** How long a rollout may take before Kubernetes calls it failed: image pull, model download and load. */
export const ROLLOUT_DEADLINE_SECONDS = 40 * 60;

/**
 * How long `pulumi up` waits for the Deployment and the Service: the Service is ready only once its
 * pods are, so both wait as long as a first start may take, plus a margin.
 */
export const AWAIT_TIMEOUT_SECONDS = ROLLOUT_DEADLINE_SECONDS + 5 * 60;

/** The annotation that sets the Pulumi Kubernetes provider's wait for one object. */
export function awaitTimeoutAnnotation(): Record<string, string> {
  return { "pulumi.com/timeoutSeconds": String(AWAIT_TIMEOUT_SECONDS) };
}
