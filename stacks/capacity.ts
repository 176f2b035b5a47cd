import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
  AppIdentity,
  Dashboards,
  Keda,
  Monitoring,
  ReplicaAutoscaler,
  ReplicaScaling,
  ServingMonitors,
  isAutoscaled,
  replicaScalingProblems,
} from "../infra/k8s";

/** What the replicas' autoscaling and the monitoring need from the serving stack. */
export interface CapacityInputs {
  /** The serving namespace; objects built from it wait for it. */
  readonly namespace: pulumi.Input<string>;
  /** The same namespace as text, for queries and selectors. */
  readonly namespaceName: string;
  readonly app: AppIdentity;
  /** The vLLM Deployment KEDA scales. */
  readonly deploymentName: string;
  /** Selector labels of the gateway pods and of the vLLM pods. */
  readonly gatewaySelector: Readonly<Record<string, string>>;
  readonly replicaSelector: Readonly<Record<string, string>>;
  readonly scaling: ReplicaScaling;
  readonly installKeda: boolean;
  readonly installMonitoring: boolean;
  /** The Prometheus KEDA queries when `installMonitoring` is false. */
  readonly prometheusUrl?: string;
  /** Node labels of the system nodes (aws target); empty elsewhere. */
  readonly systemNodeSelector: Readonly<Record<string, string>>;
  readonly provider: k8s.Provider;
  /** Options of the components: parent, and what they wait for (the cluster's nodes). */
  readonly opts: pulumi.ComponentResourceOptions;
  /** The ScaledObject waits for these too (the Deployment it scales). */
  readonly scaleTargets?: pulumi.Input<pulumi.Resource>[];
}

export interface CapacityOutputs {
  /** Grafana's admin password (secret), when monitoring is installed. */
  readonly grafanaAdminPassword?: pulumi.Output<string>;
  /** Whether KEDA manages the vLLM Deployment's replicas. */
  readonly autoscaled: boolean;
}

/** The name KEDA gives the HPA of a ScaledObject: `keda-hpa-<name>` (KEDA scaledobject-spec). */
export function kedaHpaName(scaledObjectName: string): string {
  return `keda-hpa-${scaledObjectName}`;
}

/** Every problem with the capacity settings, each saying what to set. */
export function capacityProblems(i: Pick<CapacityInputs, "scaling" | "installMonitoring" | "prometheusUrl">): string[] {
  const problems = replicaScalingProblems(i.scaling);
  if (isAutoscaled(i.scaling) && !i.installMonitoring && i.prometheusUrl === undefined) {
    problems.push(
      "minReplicas differs from maxReplicas, so KEDA needs a Prometheus: keep installMonitoring true, " +
        "or set vllm-auth:prometheusUrl to the Prometheus that scrapes the gateways",
    );
  }
  return problems;
}

/**
 * KEDA and its ScaledObject for the vLLM Deployment (when the count may vary), and
 * kube-prometheus-stack with the PodMonitors and dashboards (when monitoring is installed).
 */
export function deployCapacity(i: CapacityInputs): CapacityOutputs {
  const problems = capacityProblems(i);
  if (problems.length > 0) throw new Error(`autoscaling: ${problems.join("; ")}.`);
  const autoscaled = isAutoscaled(i.scaling);

  const monitoring = i.installMonitoring
    ? new Monitoring("vllm-monitoring", { app: i.app, nodeSelector: i.systemNodeSelector, provider: i.provider }, i.opts)
    : undefined;
  if (monitoring !== undefined) {
    new ServingMonitors(
      "vllm",
      {
        namespace: i.namespace,
        namespaceName: i.namespaceName,
        app: i.app,
        gatewaySelector: i.gatewaySelector,
        replicaSelector: i.replicaSelector,
        crds: [monitoring.release],
        provider: i.provider,
      },
      i.opts,
    );
    new Dashboards(
      "vllm-dashboards",
      {
        namespace: monitoring.namespace,
        app: i.app,
        target: { namespace: i.namespaceName, deploymentName: i.deploymentName, hpaName: kedaHpaName(i.deploymentName) },
        provider: i.provider,
      },
      i.opts,
    );
  }

  if (autoscaled) {
    const keda = i.installKeda ? new Keda("vllm-keda", { nodeSelector: i.systemNodeSelector, provider: i.provider }, i.opts) : undefined;
    new ReplicaAutoscaler(
      "vllm",
      {
        namespace: i.namespace,
        app: i.app,
        name: i.deploymentName,
        target: { deploymentName: i.deploymentName, namespace: i.namespaceName },
        scaling: i.scaling,
        // Checked above: one of the two is there.
        prometheusUrl: monitoring?.prometheusUrl ?? (i.prometheusUrl as string),
        waitFor: [...(keda !== undefined ? [keda.release] : []), ...(i.scaleTargets ?? [])],
        provider: i.provider,
      },
      i.opts,
    );
  }

  return { autoscaled, ...(monitoring !== undefined ? { grafanaAdminPassword: monitoring.grafanaAdminPassword } : {}) };
}
