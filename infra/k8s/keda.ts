import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

/** KEDA chart 2.21.1 = KEDA 2.21.1, the latest release in November 2026 (kedacore/charts release v2.21.1). */
export const KEDA_CHART_VERSION = "2.21.1";
export const KEDA_CHART_REPO = "https://kedacore.github.io/charts";
export const KEDA_NAMESPACE = "keda";
export const KEDA_RELEASE_NAME = "keda";

export interface KedaArgs {
  /** Node labels the KEDA pods require: the system nodes on the aws target. Defaults to none. */
  readonly nodeSelector?: Readonly<Record<string, string>>;
  /** Chart version. Defaults to {@link KEDA_CHART_VERSION}. */
  readonly chartVersion?: string;
  /** Kubernetes provider for the release. */
  readonly provider?: k8s.Provider;
}

/**
 * Helm values for the KEDA chart: its operator, metrics API server and admission webhooks on the
 * given nodes, with requests small enough for the system nodes (a few ScaledObjects need little).
 * Keys from the chart's values table (kedacore/charts keda/README.md: `nodeSelector`, `resources.operator`,
 * `resources.metricServer`, `resources.webhooks`; keda/templates/manager/deployment.yaml reads them).
 */
export function kedaValues(nodeSelector: Readonly<Record<string, string>>): Record<string, unknown> {
  const small = { requests: { cpu: "50m", memory: "100Mi" }, limits: { cpu: "1", memory: "500Mi" } };
  return {
    nodeSelector: { ...nodeSelector },
    resources: { operator: small, metricServer: small, webhooks: small },
  };
}

/**
 * KEDA, installed by Helm. Its release installs the CRDs (`ScaledObject` among them) and waits for
 * the admission webhook, so a ScaledObject that depends on {@link Keda.release} is accepted.
 */
export class Keda extends pulumi.ComponentResource {
  public readonly release: k8s.helm.v3.Release;

  constructor(name: string, args: KedaArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:Keda", name, {}, opts);
    this.release = new k8s.helm.v3.Release(
      `${name}-release`,
      {
        name: KEDA_RELEASE_NAME,
        chart: "keda",
        version: args.chartVersion ?? KEDA_CHART_VERSION,
        repositoryOpts: { repo: KEDA_CHART_REPO },
        namespace: KEDA_NAMESPACE,
        createNamespace: true,
        values: kedaValues(args.nodeSelector ?? {}),
        // Wait for the webhook and the metrics API server: ScaledObjects are created right after.
        skipAwait: false,
        timeout: 600,
      },
      { parent: this, provider: args.provider },
    );
    this.registerOutputs({ release: this.release.status });
  }
}
