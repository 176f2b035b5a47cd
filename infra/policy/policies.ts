import type { Policies, PolicyResource, ReportViolation, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { checkVllmNotExposed } from "./checks/exposure";
import { checkGpuLimitsAndTaints } from "./checks/gpu";
import { checkImagesPinned } from "./checks/images";
import { checkReplicasAdmitOnlyGateways } from "./checks/isolation";
import { checkVllmLoopbackAndSidecar } from "./checks/loopback";
import { checkProxyRestricted } from "./checks/proxy-hardening";
import { checkTokensOnlyInSecrets } from "./checks/secrets";
import { checkSourceRangesNotOpen, checkSourceRangesSet } from "./checks/source-ranges";
import { Finding, ResourceInput } from "./values";

export type ResourceCheck = (resource: ResourceInput) => string[];
export type StackCheck = (resources: readonly ResourceInput[]) => Finding[];

/** One policy of the pack, with the pure check behind it so tests and tools can run it without the engine. */
export interface PolicyDefinition {
  readonly name: string;
  readonly description: string;
  readonly enforcementLevel: "mandatory" | "advisory";
  readonly severity: "low" | "medium" | "high" | "critical";
  readonly check: { readonly kind: "resource"; readonly run: ResourceCheck } | { readonly kind: "stack"; readonly run: StackCheck };
}

export const DEFINITIONS: readonly PolicyDefinition[] = [
  {
    name: "vllm-port-not-exposed",
    description:
      "No LoadBalancer or NodePort Service, Ingress or route reaches vLLM's port; only the gateway's (or a one-tier proxy's) serving ports are exposed, never a replica.",
    enforcementLevel: "mandatory",
    severity: "critical",
    check: { kind: "stack", run: checkVllmNotExposed },
  },
  {
    name: "vllm-loopback-with-auth-proxy",
    description: "vLLM binds 127.0.0.1 (--host) and every pod running vLLM has the auth proxy sidecar; a sidecar in role sidecar holds the internal credential and no client keys.",
    enforcementLevel: "mandatory",
    severity: "critical",
    check: { kind: "resource", run: checkVllmLoopbackAndSidecar },
  },
  {
    name: "tokens-only-in-secrets",
    description: "API and Hugging Face tokens live only in Secrets: never in plain env values, ConfigMaps, annotations or flags.",
    enforcementLevel: "mandatory",
    severity: "high",
    check: { kind: "resource", run: checkTokensOnlyInSecrets },
  },
  {
    name: "images-pinned",
    description: "Every container image is pinned to a tag other than latest, or to a digest.",
    enforcementLevel: "mandatory",
    severity: "medium",
    check: { kind: "resource", run: checkImagesPinned },
  },
  {
    name: "gpu-limits-and-taints",
    description:
      "GPU containers set nvidia.com/gpu limits; GPU node groups and Karpenter GPU NodePools carry the nvidia.com/gpu NoSchedule taint; GPU NodePools cap nvidia.com/gpu.",
    enforcementLevel: "mandatory",
    severity: "medium",
    check: { kind: "resource", run: checkGpuLimitsAndTaints },
  },
  {
    name: "proxy-restricted-security-context",
    description: "The auth proxy runs non-root with a read-only root filesystem, no privilege escalation and all capabilities dropped.",
    enforcementLevel: "mandatory",
    severity: "high",
    check: { kind: "resource", run: checkProxyRestricted },
  },
  {
    name: "replicas-admit-only-gateways",
    description: "Pods running vLLM behind a sidecar in role sidecar are selected by an Ingress NetworkPolicy that opens the sidecar's API port only to gateway pods.",
    enforcementLevel: "mandatory",
    severity: "high",
    check: { kind: "stack", run: checkReplicasAdmitOnlyGateways },
  },
  {
    name: "load-balancer-source-ranges-set",
    description: "Every LoadBalancer Service sets its source ranges explicitly.",
    enforcementLevel: "mandatory",
    severity: "high",
    check: { kind: "resource", run: checkSourceRangesSet },
  },
  {
    name: "load-balancer-source-ranges-not-open",
    description: "LoadBalancer source ranges are narrower than 0.0.0.0/0 where the clients are known.",
    enforcementLevel: "advisory",
    severity: "low",
    check: { kind: "resource", run: checkSourceRangesNotOpen },
  },
];

function toInput(resource: { type: string; props: Record<string, unknown>; name: string; urn: string }): ResourceInput {
  return { type: resource.type, props: resource.props, name: resource.name, urn: resource.urn };
}

function toPolicy(definition: PolicyDefinition): ResourceValidationPolicy | StackValidationPolicy {
  const base = {
    name: definition.name,
    description: definition.description,
    enforcementLevel: definition.enforcementLevel,
    severity: definition.severity,
  };
  const check = definition.check;
  if (check.kind === "stack") {
    return {
      ...base,
      validateStack: (args, report: ReportViolation) => {
        for (const finding of check.run(args.resources.map((r: PolicyResource) => toInput(r)))) report(finding.message, finding.urn);
      },
    };
  }
  return {
    ...base,
    validateResource: (args, report: ReportViolation) => {
      for (const message of check.run(toInput(args))) report(message);
    },
  };
}

/** The pack's policies, in the order docs/ci.md lists them. */
export const policies: Policies = DEFINITIONS.map(toPolicy);
