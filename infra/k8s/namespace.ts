import { AppIdentity, appLabels } from "./labels";

/**
 * Labels of the namespace the program creates: vLLM runs as root, so `baseline` is the strictest
 * Pod Security level it passes; the AWS Load Balancer Controller holds a rolling update until each
 * new pod is healthy in the NLB, so no update drops the endpoint.
 */
export function namespaceLabels(app: AppIdentity): Record<string, string> {
  return {
    ...appLabels(app, "namespace"),
    "pod-security.kubernetes.io/enforce": "baseline",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "elbv2.k8s.aws/pod-readiness-gate-inject": "enabled",
  };
}
