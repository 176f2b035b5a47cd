import { stringify } from "yaml";

/** What a kubeconfig for one EKS cluster needs. */
export interface KubeconfigInputs {
  readonly clusterName: string;
  readonly endpoint: string;
  /** Base64 PEM of the cluster CA, as EKS reports it. */
  readonly certificateAuthorityData: string;
  readonly region: string;
}

/**
 * A kubeconfig whose user runs `aws eks get-token`, so it never holds a credential and never
 * expires: each kubectl (or Pulumi) call gets a fresh 15-minute token from the caller's AWS identity.
 */
export function renderKubeconfig(inputs: KubeconfigInputs): string {
  const name = inputs.clusterName;
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name, cluster: { server: inputs.endpoint, "certificate-authority-data": inputs.certificateAuthorityData } }],
    contexts: [{ name, context: { cluster: name, user: name } }],
    "current-context": name,
    preferences: {},
    users: [
      {
        name,
        user: {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1beta1",
            command: "aws",
            args: ["--region", inputs.region, "eks", "get-token", "--cluster-name", name, "--output", "json"],
            // A prompt would hang Pulumi: fail instead when no AWS credentials are available.
            interactiveMode: "Never",
          },
        },
      },
    ],
  });
}
