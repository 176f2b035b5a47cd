import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import {
  KEDA_CHART_VERSION,
  ReplicaScaling,
  SCALE_DOWN_PERIOD_SECONDS,
  demandQuery,
  hpaBehavior,
  isAutoscaled,
  kedaValues,
  matchers,
  replicaScalingProblems,
  scaledObjectSpec,
} from "../../infra/k8s";
import { knownSeries, parsePromql } from "./promql";
import { validateStrictly } from "./schema";

const DEFAULTS: ReplicaScaling = {
  minReplicas: 1,
  maxReplicas: 2,
  targetPerReplica: 16,
  scaleDownStabilizationSeconds: 300,
  scaleToZeroAfterSeconds: 900,
  pollingIntervalSeconds: 10,
};
const TARGET = { deploymentName: "vllm", namespace: "vllm", prometheusUrl: "http://prom.monitoring.svc.cluster.local:9090" };

type Trigger = { type: string; metricType: string; metadata: Record<string, string> };
type Spec = {
  minReplicaCount: number;
  maxReplicaCount: number;
  cooldownPeriod: number;
  pollingInterval: number;
  fallback: { replicas: number; behavior: string };
  advanced: { horizontalPodAutoscalerConfig: { behavior: Record<string, { stabilizationWindowSeconds: number; policies: { type: string; value: number; periodSeconds: number }[] }> } };
  triggers: Trigger[];
};

function scaledObject(spec: Record<string, unknown>): ScaledObject {
  return new ScaledObject({ metadata: { name: "vllm", namespace: "vllm" }, spec } as unknown as ConstructorParameters<typeof ScaledObject>[0]);
}

/** KEDA's activation rule for the prometheus scaler: active when value > activationThreshold (pkg/scalers/prometheus_scaler.go). */
function activates(trigger: Trigger, demand: number): boolean {
  return demand > Number(trigger.metadata.activationThreshold);
}

/** The HPA's replica count for an AverageValue external metric: ceil(total / target per pod). */
function wanted(trigger: Trigger, demand: number): number {
  return Math.ceil(demand / Number(trigger.metadata.threshold));
}

describe("the ScaledObject for the vLLM Deployment", () => {
  test("is valid against KEDA's ScaledObject schema, with no field the schema lacks", () => {
    for (const s of [DEFAULTS, { ...DEFAULTS, minReplicas: 0 }, { ...DEFAULTS, minReplicas: 2, maxReplicas: 8 }]) {
      expect(() => validateStrictly(scaledObject(scaledObjectSpec(s, TARGET)), "ScaledObject vllm")).not.toThrow();
    }
  });

  test("a misspelt field fails the schema check, at any depth", () => {
    const spec = scaledObjectSpec(DEFAULTS, TARGET);
    expect(() => validateStrictly(scaledObject({ ...spec, cooldownPeriods: 10 }), "ScaledObject vllm")).toThrow("spec.cooldownPeriods");
    const deep = structuredClone(spec) as unknown as Spec;
    const scaleDown = deep.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown as Record<string, unknown>;
    scaleDown.stabilisationWindowSeconds = scaleDown.stabilizationWindowSeconds;
    delete scaleDown.stabilizationWindowSeconds;
    expect(() => validateStrictly(scaledObject(deep as unknown as Record<string, unknown>), "ScaledObject vllm")).toThrow(
      "spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilisationWindowSeconds",
    );
  });

  test("targets the vllm Deployment between minReplicas and maxReplicas, cooldown = scaleToZeroAfterSeconds", () => {
    const spec = scaledObjectSpec({ ...DEFAULTS, minReplicas: 0, maxReplicas: 3 }, TARGET) as unknown as Spec & { scaleTargetRef: unknown };
    expect(spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: "vllm" });
    expect([spec.minReplicaCount, spec.maxReplicaCount]).toEqual([0, 3]);
    expect(spec.cooldownPeriod).toBe(900);
    expect(spec.pollingInterval).toBe(10);
  });

  test("one held request wakes a Deployment scaled to zero; an idle endpoint stays asleep", () => {
    const [trigger] = (scaledObjectSpec({ ...DEFAULTS, minReplicas: 0 }, TARGET) as unknown as Spec).triggers;
    expect(trigger.type).toBe("prometheus");
    expect(activates(trigger, 1)).toBe(true);
    expect(activates(trigger, 0)).toBe(false);
  });

  test("replicas follow demand per replica: 16 per replica by default, 33 in flight or held want 3", () => {
    const [trigger] = (scaledObjectSpec(DEFAULTS, TARGET) as unknown as Spec).triggers;
    expect(trigger.metricType).toBe("AverageValue");
    expect(wanted(trigger, 16)).toBe(1);
    expect(wanted(trigger, 33)).toBe(3);
    const [small] = (scaledObjectSpec({ ...DEFAULTS, targetPerReplica: 4 }, TARGET) as unknown as Spec).triggers;
    expect(wanted(small, 9)).toBe(3);
  });

  test("queries the configured Prometheus, and errors (not zero) when no gateway is scraped", () => {
    const [trigger] = (scaledObjectSpec(DEFAULTS, TARGET) as unknown as Spec).triggers;
    expect(trigger.metadata.serverAddress).toBe(TARGET.prometheusUrl);
    expect(trigger.metadata.query).toBe(demandQuery("vllm"));
    expect(trigger.metadata.ignoreNullValues).toBe("false");
  });

  test("scales up at once and down one replica per period after the stabilization window", () => {
    const spec = scaledObjectSpec({ ...DEFAULTS, scaleDownStabilizationSeconds: 420 }, TARGET) as unknown as Spec;
    const { scaleUp, scaleDown } = spec.advanced.horizontalPodAutoscalerConfig.behavior;
    expect(scaleUp.stabilizationWindowSeconds).toBe(0);
    expect(Math.max(...scaleUp.policies.filter((p) => p.type === "Percent").map((p) => p.value))).toBeGreaterThanOrEqual(100);
    expect(scaleDown.stabilizationWindowSeconds).toBe(420);
    expect(scaleDown.policies).toEqual([{ type: "Pods", value: 1, periodSeconds: SCALE_DOWN_PERIOD_SECONDS }]);
    expect((scaledObjectSpec(DEFAULTS, TARGET) as unknown as Spec).advanced.horizontalPodAutoscalerConfig.behavior).toEqual(hpaBehavior(DEFAULTS));
  });

  test("Prometheus down keeps the replicas that run (at least one), never scales down blind", () => {
    expect((scaledObjectSpec({ ...DEFAULTS, minReplicas: 0 }, TARGET) as unknown as Spec).fallback).toMatchObject({
      replicas: 1,
      behavior: "currentReplicasIfHigher",
    });
    expect((scaledObjectSpec({ ...DEFAULTS, minReplicas: 3, maxReplicas: 5 }, TARGET) as unknown as Spec).fallback.replicas).toBe(3);
  });

  test("min == max is a fixed count: no ScaledObject, and asking for one says why", () => {
    expect(isAutoscaled({ ...DEFAULTS, minReplicas: 2, maxReplicas: 2 })).toBe(false);
    expect(() => scaledObjectSpec({ ...DEFAULTS, minReplicas: 2, maxReplicas: 2 }, TARGET)).toThrow("a fixed count needs no ScaledObject");
  });

  test("settings that cannot work are refused with what to write instead", () => {
    expect(replicaScalingProblems({ ...DEFAULTS, minReplicas: 3, maxReplicas: 2 })).toEqual([
      "maxReplicas (2) is less than minReplicas (3); set maxReplicas to at least 3",
    ]);
    expect(replicaScalingProblems({ ...DEFAULTS, targetPerReplica: 0 })).toEqual(["targetPerReplica must be a whole number >= 1, got 0"]);
    expect(replicaScalingProblems({ ...DEFAULTS, scaleDownStabilizationSeconds: 7200 })[0]).toMatch(/at most 3600/);
    expect(() => scaledObjectSpec(DEFAULTS, { ...TARGET, prometheusUrl: "prometheus:9090" })).toThrow("prometheusUrl must be an http(s) URL");
  });
});

describe("the demand query", () => {
  test("parses as PromQL and selects only series the gateways export", () => {
    const parsed = parsePromql(demandQuery("team-a"));
    expect(parsed.errors).toEqual([]);
    expect(parsed.metrics).toEqual(["vllm_auth_inflight_requests", "vllm_auth_held_requests"]);
    const known = knownSeries();
    for (const m of parsed.metrics) expect(known.has(m)).toBe(true);
  });

  test("counts this stack's gateways only: role and namespace matchers on both sides", () => {
    const q = demandQuery("team-a");
    expect(q.match(/\{role="gateway",namespace="team-a"\}/g)).toHaveLength(2);
  });

  test("label values are escaped, names checked", () => {
    expect(matchers({ namespace: 'a"b' })).toBe('{namespace="a\\"b"}');
    expect(parsePromql(`x${matchers({ namespace: 'a"b' })}`).errors).toEqual([]);
    expect(() => matchers({ "bad-name": "x" })).toThrow('"bad-name" is not a Prometheus label name');
  });
});

describe("the KEDA chart", () => {
  test("is pinned and runs its pods where it is told, with requests set", () => {
    expect(KEDA_CHART_VERSION).toMatch(/^\d+\.\d+\.\d+$/);
    const values = kedaValues({ "vllm-auth.dev/pool": "system" }) as { nodeSelector: unknown; resources: Record<string, { requests: unknown }> };
    expect(values.nodeSelector).toEqual({ "vllm-auth.dev/pool": "system" });
    expect(Object.keys(values.resources).sort()).toEqual(["metricServer", "operator", "webhooks"]);
  });
});
