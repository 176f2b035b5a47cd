import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AppIdentity, appLabels } from "./labels";
import { demandQuery } from "./promql";

/** How the vLLM Deployment's replicas follow demand. */
export interface ReplicaScaling {
  /** `0` scales to zero when idle. */
  readonly minReplicas: number;
  /** Equal to `minReplicas` turns autoscaling off. */
  readonly maxReplicas: number;
  /** In-flight plus held requests one replica should carry. */
  readonly targetPerReplica: number;
  /** How long demand must stay lower before replicas go. */
  readonly scaleDownStabilizationSeconds: number;
  /** Idle time before the last replica goes when `minReplicas` is 0 (KEDA `cooldownPeriod`). */
  readonly scaleToZeroAfterSeconds: number;
  /** How often KEDA queries the demand. */
  readonly pollingIntervalSeconds: number;
}

/** The HPA adds capacity at most this often: the Kubernetes default period for scale-up policies. */
export const SCALE_UP_PERIOD_SECONDS = 15;
/** The HPA removes at most one replica per this period, so drains never overlap much. */
export const SCALE_DOWN_PERIOD_SECONDS = 60;
/** Consecutive failed queries (Prometheus down) before KEDA applies its fallback. */
export const FALLBACK_FAILURE_THRESHOLD = 3;

/** Whether KEDA manages the replicas: only when the count may vary. */
export function isAutoscaled(s: ReplicaScaling): boolean {
  return s.minReplicas !== s.maxReplicas;
}

/** Every problem with the scaling settings, with what to write instead; empty when they are usable. */
export function replicaScalingProblems(s: ReplicaScaling): string[] {
  const problems: string[] = [];
  const whole = (name: keyof ReplicaScaling, min: number) => {
    if (!Number.isInteger(s[name]) || s[name] < min) problems.push(`${name} must be a whole number >= ${min}, got ${s[name]}`);
  };
  whole("minReplicas", 0);
  whole("maxReplicas", 1);
  whole("targetPerReplica", 1);
  whole("scaleDownStabilizationSeconds", 0);
  whole("scaleToZeroAfterSeconds", 1);
  whole("pollingIntervalSeconds", 1);
  if (s.maxReplicas < s.minReplicas) {
    problems.push(`maxReplicas (${s.maxReplicas}) is less than minReplicas (${s.minReplicas}); set maxReplicas to at least ${s.minReplicas}`);
  }
  // The HPA's stabilization window is capped at one hour (autoscaling/v2 HPAScalingRules).
  if (s.scaleDownStabilizationSeconds > 3600) {
    problems.push(`scaleDownStabilizationSeconds must be at most 3600 (the HPA's limit), got ${s.scaleDownStabilizationSeconds}`);
  }
  return problems;
}

/** Throws on scaling settings a ScaledObject cannot carry, naming each problem. */
export function checkScaling(s: ReplicaScaling): void {
  const problems = replicaScalingProblems(s);
  if (problems.length > 0) throw new Error(`ReplicaAutoscaler: ${problems.join("; ")}`);
  if (!isAutoscaled(s)) {
    throw new Error(`ReplicaAutoscaler: minReplicas equals maxReplicas (${s.minReplicas}); a fixed count needs no ScaledObject`);
  }
}

/** `advanced.horizontalPodAutoscalerConfig.behavior`: up at once, down one replica per period after a calm window. */
export function hpaBehavior(s: ReplicaScaling): Record<string, unknown> {
  return {
    scaleUp: {
      stabilizationWindowSeconds: 0,
      selectPolicy: "Max",
      policies: [
        { type: "Percent", value: 100, periodSeconds: SCALE_UP_PERIOD_SECONDS },
        { type: "Pods", value: 4, periodSeconds: SCALE_UP_PERIOD_SECONDS },
      ],
    },
    scaleDown: {
      stabilizationWindowSeconds: s.scaleDownStabilizationSeconds,
      selectPolicy: "Min",
      policies: [{ type: "Pods", value: 1, periodSeconds: SCALE_DOWN_PERIOD_SECONDS }],
    },
  };
}

/** What the ScaledObject needs besides the scaling settings. */
export interface ScaledObjectTarget {
  /** The Deployment to scale, in the ScaledObject's namespace. */
  readonly deploymentName: string;
  /** The namespace the gateways run in, as the PodMonitor's `namespace` target label carries it. */
  readonly namespace: string;
  /** Prometheus' HTTP address, e.g. `http://prometheus.monitoring.svc.cluster.local:9090`. */
  readonly prometheusUrl: string;
}

/** The ScaledObject's `spec` (keda.sh/v1alpha1, KEDA 2.21 reference/scaledobject-spec.md). */
export function scaledObjectSpec(s: ReplicaScaling, t: ScaledObjectTarget): Record<string, unknown> {
  checkScaling(s);
  if (!/^https?:\/\/[^\s/]+/.test(t.prometheusUrl)) {
    throw new Error(`ReplicaAutoscaler: prometheusUrl must be an http(s) URL such as http://prometheus.monitoring:9090, got "${t.prometheusUrl}"`);
  }
  return {
    scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: t.deploymentName },
    pollingInterval: s.pollingIntervalSeconds,
    // Only the last replica waits this long (1 -> 0); the HPA's behavior below handles N -> 1.
    cooldownPeriod: s.scaleToZeroAfterSeconds,
    // A fresh deployment keeps its first replica as long as an idle one would, instead of dropping it at once.
    initialCooldownPeriod: s.scaleToZeroAfterSeconds,
    minReplicaCount: s.minReplicas,
    maxReplicaCount: s.maxReplicas,
    // Prometheus unreachable: keep what runs (at least one), never scale down blind.
    fallback: {
      failureThreshold: FALLBACK_FAILURE_THRESHOLD,
      replicas: Math.max(1, s.minReplicas),
      behavior: "currentReplicasIfHigher",
    },
    advanced: {
      restoreToOriginalReplicaCount: false,
      horizontalPodAutoscalerConfig: { behavior: hpaBehavior(s) },
    },
    triggers: [
      {
        type: "prometheus",
        name: "demand",
        // AverageValue: replicas = ceil(demand / threshold) (KEDA's default metricType for this scaler).
        metricType: "AverageValue",
        metadata: {
          serverAddress: t.prometheusUrl,
          query: demandQuery(t.namespace),
          threshold: String(s.targetPerReplica),
          // KEDA activates when value > activationThreshold (pkg/scalers/prometheus_scaler.go): one held request wakes 0 -> 1.
          activationThreshold: "0",
          // An empty answer means no gateway is scraped: an error (and the fallback), not a demand of 0.
          ignoreNullValues: "false",
        },
      },
    ],
  };
}

export interface ReplicaAutoscalerArgs {
  /** Namespace of the ScaledObject, the same as the Deployment's; objects built from it wait for it. */
  readonly namespace: pulumi.Input<string>;
  /** Labels identity of the stack. */
  readonly app: AppIdentity;
  /** The ScaledObject's name, the Deployment it scales and where the demand comes from. */
  readonly name: string;
  readonly target: Omit<ScaledObjectTarget, "prometheusUrl">;
  readonly scaling: ReplicaScaling;
  /** The Prometheus KEDA queries. */
  readonly prometheusUrl: pulumi.Input<string>;
  /** What the ScaledObject waits for: the KEDA release (its CRDs and webhook) unless the cluster has KEDA, and the Deployment it scales. */
  readonly waitFor?: pulumi.Input<pulumi.Resource>[];
  /** Kubernetes provider for the ScaledObject. */
  readonly provider?: k8s.Provider;
}

/**
 * KEDA's ScaledObject for the vLLM Deployment: replicas between `minReplicas` and `maxReplicas` from
 * the gateways' in-flight plus held requests, created only after KEDA's CRDs.
 */
export class ReplicaAutoscaler extends pulumi.ComponentResource {
  public readonly scaledObject: k8s.apiextensions.CustomResource;

  constructor(name: string, args: ReplicaAutoscalerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:ReplicaAutoscaler", name, {}, opts);
    // Fail at once on settings that cannot work, not later inside an Output.
    checkScaling(args.scaling);
    const spec = pulumi
      .output(args.prometheusUrl)
      .apply((prometheusUrl) => scaledObjectSpec(args.scaling, { ...args.target, prometheusUrl }));
    this.scaledObject = new k8s.apiextensions.CustomResource(
      `${name}-scaledobject`,
      {
        apiVersion: "keda.sh/v1alpha1",
        kind: "ScaledObject",
        metadata: { name: args.name, namespace: args.namespace, labels: appLabels(args.app, "autoscaler") },
        spec,
      },
      { parent: this, provider: args.provider, ...(args.waitFor !== undefined ? { dependsOn: args.waitFor } : {}) },
    );
    this.registerOutputs({});
  }
}
