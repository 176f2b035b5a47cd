/**
 * The stack's configuration, defined once: every `vllm-auth:<key>` with its type, default, checks,
 * messages and documentation. `stacks/config.ts` parses with it; `Pulumi.yaml`'s `config:` block and
 * `docs/configuration.md` are generated from it (`npm run gen:config`), and tests fail on drift.
 *
 * zod rather than valibot: both infer the parsed types, but zod's per-check `error` functions see the
 * offending input (so a message can quote it and say what to write), its issues carry paths into
 * lists and objects, and `z.toJSONSchema` gives each key's type, default and range for the generated
 * files; valibot's smaller bundle does not matter in a Pulumi program, which is not shipped to a browser.
 */
import { z } from "zod";
import { EXAMPLE_ADMIN_ARN, adminArnsProblems } from "../infra/aws/arns";
import { proxyMemoryProblem } from "../infra/k8s/nodeHeap";
import { KEY_NAME_PATTERN } from "../proxy/src/keys/format";
import { KeyMeta, boolean, fields, integer, json, keyMeta, list, matching, object, oneOf, resources, stringList, text } from "./configFields";

/** The config namespace of every key this program reads (besides `aws:region`). */
export const CONFIG_NAMESPACE = "vllm-auth";

/** vLLM release the stack serves by default: pinned so a redeploy never changes the engine by surprise. */
export const DEFAULT_VLLM_IMAGE = "vllm/vllm-openai:v0.29.0";
export const DEFAULT_MODEL = "meta-llama/Llama-2-7b-chat-hf";
/** vLLM's CPU build of the same release (x86_64), for trials without a GPU. */
export const DEFAULT_CPU_VLLM_IMAGE = "public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.29.0";
/** Llama-2's context length; vLLM would otherwise size the KV cache for the model's full config. */
export const DEFAULT_VLLM_ARGS: readonly string[] = ["--max-model-len", "4096"];
export const DEFAULT_GPU_INSTANCE_TYPES: readonly string[] = ["g6.xlarge", "g5.xlarge"];
/** The newest EKS version with pinned add-ons (infra/aws/addons.ts): the longest standard support ahead. */
export const DEFAULT_KUBERNETES_VERSION = "1.36";
/** Fits a g6.xlarge / g5.xlarge (4 vCPU, 16 GiB) beside the proxy and the node's daemons. */
export const DEFAULT_VLLM_RESOURCES = { cpu: "3", memory: "12Gi" } as const;
export const DEFAULT_PROXY_RESOURCES = { cpu: "250m", memory: "256Mi" } as const;
export const DEFAULT_GATEWAY_RESOURCES = { cpu: "500m", memory: "256Mi" } as const;
/** One key named `default`: the seed's single token. */
export const DEFAULT_API_KEYS = [{ name: "default", generation: 0 }] as const;
/** Spot first; with both allowed, GPU nodes fall back to on-demand when spot has no capacity. */
export const DEFAULT_GPU_CAPACITY_TYPES = ["spot", "on-demand"] as const;
export const DEFAULT_SYSTEM_NODES = { min: 2, desired: 2, max: 3 } as const;
/** Room the pinned vLLM image takes on a GPU node's data volume once pulled and unpacked. */
export const VLLM_IMAGE_GIB = 30;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const CERT_ARN = /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/;
const HOSTED_ZONE_ID = /^Z[A-Z0-9]{1,31}$/;
const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const SUBNET_ID = /^subnet-[0-9a-f]{8,17}$/;

/** An image reference that names a fixed release: a tag other than `latest`, or a digest. */
export function isPinnedImage(ref: string): boolean {
  if (/\s/.test(ref) || ref.includes("://")) {
    return false;
  }
  if (/@sha256:[a-f0-9]{64}$/.test(ref)) {
    return true;
  }
  const lastSegment = ref.split("/").pop() ?? "";
  const colon = lastSegment.lastIndexOf(":");
  if (colon <= 0) {
    return false;
  }
  const tag = lastSegment.slice(colon + 1);
  return /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(tag) && tag !== "latest";
}

/** An IPv4 or IPv6 CIDR block, strictly written. */
export function isCidr(value: string): boolean {
  const [address, prefix, ...rest] = value.split("/");
  if (rest.length > 0 || prefix === undefined || !/^\d{1,3}$/.test(prefix)) {
    return false;
  }
  const bits = Number(prefix);
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) {
    return bits <= 32 && address.split(".").every((o) => Number(o) <= 255);
  }
  return isIpv6Cidr(value);
}

/** An IPv6 CIDR block such as `2001:db8::/32`. */
export function isIpv6Cidr(value: string): boolean {
  const [address, prefix, ...rest] = value.split("/");
  if (rest.length > 0 || prefix === undefined || !/^\d{1,3}$/.test(prefix) || Number(prefix) > 128) return false;
  return address.includes(":") && /^[0-9a-fA-F:]+$/.test(address) && address.split("::").length <= 2;
}

/** vLLM flags the program sets itself; a second copy in `vllmArgs` would break the sidecar wiring. */
const RESERVED_VLLM_FLAGS: Readonly<Record<string, string>> = {
  "--host": "vLLM must bind 127.0.0.1 so that only the auth proxy can reach it",
  "--port": "the proxy expects vLLM on port 8000",
  "--tensor-parallel-size": "it follows `gpusPerReplica`",
  "-tp": "it follows `gpusPerReplica`",
  "--model": "set the `model` key instead",
  "--api-key": "the auth proxy checks keys; set `apiKeys` instead",
  "--uds": "the proxy reaches vLLM over TCP on 127.0.0.1:8000",
};

/**
 * GPU families the pinned vLLM image cannot run on. Unsuffixed `vllm/vllm-openai` tags are CUDA 13
 * builds since v0.20 (vllm #39878), and CUDA 13 dropped Volta (compute capability 7.0); the `-cu129`
 * variant does not bring it back, since PyTorch's CUDA 12.8+ builds dropped Volta from 2.11 on.
 */
export const UNSUPPORTED_GPU_FAMILIES: Readonly<Record<string, string>> = {
  p3: "V100 (Volta)",
  p3dn: "V100 (Volta)",
};

/** Whether `image` is an official vLLM CUDA image from v0.20 on, which needs a Turing or newer GPU. */
export function isCuda13EraVllmImage(image: string): boolean {
  const match = /^(?:docker\.io\/)?vllm\/vllm-openai:v(\d+)\.(\d+)\.\d+/.exec(image);
  if (!match) return false;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return major > 0 || minor >= 20;
}

/** The instance family of an EC2 type: `p3dn` for `p3dn.24xlarge`. */
export function instanceFamily(instanceType: string): string {
  return instanceType.split(".")[0];
}

/** Quoted values joined for a message: `"a", "b"`. */
function quoted(values: readonly string[]): string {
  return values.map((v) => `"${v}"`).join(", ");
}

/** Subnet IDs; `[]`, Pulumi.yaml's default, is unset. */
const subnetIds = (example: string) =>
  z.preprocess(
    (v) => {
      const parsed = json(v);
      return Array.isArray(parsed) && parsed.length === 0 ? undefined : parsed;
    },
    stringList(example)
      .superRefine((ids, ctx) => {
        const bad = ids.filter((s) => !SUBNET_ID.test(s));
        if (bad.length > 0) {
          ctx.addIssue({ code: "custom", message: `${quoted(bad)} ${bad.length === 1 ? "is not a subnet ID" : "are not subnet IDs"}. Write e.g. ${example}.` });
        } else if (ids.length === 1) {
          ctx.addIssue({ code: "custom", message: `lists one subnet; EKS needs subnets in at least two availability zones. Write e.g. ${example}.` });
        }
      })
      .optional(),
  );

const apiKey = fields(
  {
    name: z
      .string({ error: (iss) => (iss.input === undefined ? 'needs a name, e.g. name: "alice".' : `name ${JSON.stringify(iss.input)} is not a key name. Write lowercase letters, digits and dashes (at most 32), e.g. "alice".`) })
      .regex(KEY_NAME_PATTERN, { error: (iss) => `name ${JSON.stringify(iss.input)} is not a key name. Write lowercase letters, digits and dashes (at most 32), e.g. "alice".` }),
    generation: integer({ min: 0, max: Number.MAX_SAFE_INTEGER, example: 1, field: "generation" }).default(0),
    rpm: integer({ min: 1, max: Number.MAX_SAFE_INTEGER, example: 60, field: "rpm" }).optional(),
    tpm: integer({ min: 1, max: Number.MAX_SAFE_INTEGER, example: 100000, field: "tpm" }).optional(),
    concurrency: integer({ min: 1, max: Number.MAX_SAFE_INTEGER, example: 4, field: "concurrency" }).optional(),
  },
  "a key with a name",
  '{ name: "ci-bot", rpm: 60 }',
);

const TOLERATION_EXAMPLE = '[{ key: "dedicated", operator: "Equal", value: "llm", effect: "NoSchedule" }]';
const TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"] as const;
const toleration = z
  .strictObject(
    {
      key: z
        .string({ error: `needs a key (a taint key such as "dedicated"), e.g. ${TOLERATION_EXAMPLE}.` })
        .regex(LABEL_KEY, { error: (iss) => `key "${String(iss.input)}" is not a taint key. Write e.g. "dedicated".` }),
      operator: z.enum(["Exists", "Equal"], { error: (iss) => `has operator "${String(iss.input)}". Write Exists or Equal.` }).optional(),
      value: z.string({ error: 'has a value that is not a string. Quote it, e.g. value: "true".' }).optional(),
      effect: z
        .enum(TAINT_EFFECTS, { error: (iss) => `has effect "${String(iss.input)}". Write one of: ${TAINT_EFFECTS.join(", ")}, or leave it out to tolerate every effect.` })
        .optional(),
    },
    {
      error: (iss) =>
        iss.code === "unrecognized_keys"
          ? `has unknown field ${iss.keys.join(", ")}. Fields: key, operator, value, effect.`
          : `needs a key (a taint key such as "dedicated"), e.g. ${TOLERATION_EXAMPLE}.`,
    },
  )
  .superRefine((t, ctx) => {
    if (t.operator === "Exists" && t.value !== undefined) {
      ctx.addIssue({ code: "custom", message: "sets a value with operator Exists. Remove the value or write operator: Equal." });
    }
  });

const NODE_SELECTOR_EXAMPLE = "{ node.kubernetes.io/instance-type: g6.xlarge }";

function selectorEntryProblem(label: PropertyKey | undefined, value: unknown): string {
  return `"${String(label)}: ${String(value)}" is not a valid label selector entry. Write a label key and a string value, e.g. ${NODE_SELECTOR_EXAMPLE}.`;
}

/**
 * Every key, in the order the reference page lists them. Each schema reads the CLI's text (JSON for
 * lists and objects) and yields the typed value, or issues whose messages say what to write.
 */
export const CONFIG_SHAPE = {
  target: oneOf(["aws", "existing"]).default("aws").register(keyMeta, {
    description: "Where to deploy: aws (a new VPC, EKS cluster and GPU nodes) or existing (a cluster from a kubeconfig).",
    example: "existing",
  }),
  namespace: matching(DNS_LABEL, (v) => `"${v}" is not a valid namespace name. Write lowercase letters, digits and dashes (at most 63), e.g. vllm.`)
    .default("vllm")
    .register(keyMeta, { description: "Kubernetes namespace of every serving object.", example: "llm-serving" }),
  createNamespace: boolean().default(true).register(keyMeta, {
    description:
      "Create the namespace; false deploys into one that already exists (on EKS, label it elbv2.k8s.aws/pod-readiness-gate-inject=enabled for the load balancer controller's readiness gate).",
    example: "false",
  }),
  model: matching(/^\S+$/, (v) => `"${v}" contains whitespace. Write a Hugging Face model ID such as ${DEFAULT_MODEL}.`)
    .default(DEFAULT_MODEL)
    .register(keyMeta, { description: "Hugging Face model ID vLLM serves.", example: "facebook/opt-125m" }),
  hfToken: text(z.string()).optional().register(keyMeta, {
    description: "Hugging Face token, needed for gated models such as meta-llama/* (set with pulumi config set --secret).",
    example: "hf_...",
    secret: true,
    defaultText: "unset",
  }),
  gpusPerReplica: integer({ min: 0, max: 8, example: 1 }).default(1).register(keyMeta, {
    description: "GPUs per vLLM pod, also vLLM's --tensor-parallel-size; 0 runs vLLM on CPU (existing target only).",
    example: "2",
  }),
  vllmImage: text(z.string().refine(isPinnedImage, { error: (iss) => `"${String(iss.input)}" is not pinned. Write a release tag or a digest, e.g. ${DEFAULT_VLLM_IMAGE}.` }))
    .default(DEFAULT_VLLM_IMAGE)
    .register(keyMeta, {
      description: "Pinned vLLM image (a release tag or a digest). Unsuffixed tags from v0.20 are CUDA 13 builds: NVIDIA driver 580 or newer; the -cu129 tags run on CUDA 12 drivers.",
      example: "vllm/vllm-openai:v0.29.0-cu129",
    }),
  vllmArgs: stringList('["--max-model-len", "4096"]')
    .superRefine((args, ctx) => {
      for (const arg of args) {
        const flag = arg.split("=")[0];
        const reason = RESERVED_VLLM_FLAGS[flag];
        if (reason !== undefined) ctx.addIssue({ code: "custom", message: `remove ${flag}: ${reason}.` });
      }
    })
    .default([...DEFAULT_VLLM_ARGS])
    .register(keyMeta, {
      description: "Extra vLLM flags; --host, --port, --tensor-parallel-size, --model and --api-key are the program's and refused.",
      example: '["--max-model-len", "4096", "--gpu-memory-utilization", "0.92"]',
    }),
  proxyImage: text(
    z.string().refine(isPinnedImage, { error: (iss) => `"${String(iss.input)}" is not pinned. Write a release tag or a digest, e.g. ghcr.io/acme/vllm-auth-proxy:0.1.0.` }),
  )
    .optional()
    .register(keyMeta, {
      description: "Prebuilt auth proxy image, pinned. Required on existing unless proxyRegistry is set; aws builds one into ECR when unset.",
      example: "ghcr.io/acme/vllm-auth-proxy:0.1.0",
      defaultText: "unset",
    }),
  // Trailing slashes dropped: "ghcr.io/acme/" is "ghcr.io/acme".
  proxyRegistry: z
    .preprocess(
      (v) => (typeof v === "string" ? v.trim().replace(/\/+$/, "") : v),
      z.string().refine((v) => !(v.includes("://") || /[:@][^/]*$/.test(v.split("/").slice(1).join("/")) || /\s/.test(v)), {
        error: (iss) => `"${String(iss.input)}" is not a registry path. Write a registry host and path without scheme or tag, e.g. ghcr.io/acme.`,
      }),
    )
    .optional()
    .register(keyMeta, {
      description: "Registry path to build and push the proxy image to, with your docker login.",
      example: "ghcr.io/acme",
      target: "existing",
      defaultText: "unset",
    }),
  domain: text(
    z
      .string()
      .toLowerCase()
      .regex(HOSTNAME, { error: (iss) => `"${String(iss.input)}" is not a DNS name. Write the name clients will use, e.g. llm.example.com (no scheme, no port, no path).` }),
  )
    .optional()
    .register(keyMeta, {
      description: "DNS name clients use; with certificateArn or hostedZoneId it turns on TLS at the load balancer and the 308 redirect from HTTP.",
      example: "llm.example.com",
      defaultText: "unset",
    }),
  certificateArn: matching(CERT_ARN, (v) => `"${v}" is not an ACM certificate ARN. Write e.g. arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-...`)
    .optional()
    .register(keyMeta, {
      description: "ACM certificate for domain, terminated at the load balancer (on existing, an EKS cluster with the AWS Load Balancer Controller).",
      example: "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789",
      defaultText: "unset",
    }),
  hostedZoneId: matching(HOSTED_ZONE_ID, (v) => `"${v}" is not a Route 53 hosted zone ID. Write the ID that starts with Z, e.g. Z0123456789ABCDEFGHIJ.`)
    .optional()
    .register(keyMeta, {
      description: "Route 53 zone of domain; the program issues the certificate and creates the DNS record.",
      example: "Z0123456789ABCDEFGHIJ",
      target: "aws",
      defaultText: "unset",
    }),
  allowedCidrs: stringList('["203.0.113.0/24"]')
    .superRefine((cidrs, ctx) => {
      if (cidrs.length === 0) {
        ctx.addIssue({ code: "custom", message: 'is empty, which would block everyone. Write ["0.0.0.0/0"] for the whole internet, or your client ranges.' });
      }
      const bad = cidrs.filter((c) => !isCidr(c));
      if (bad.length > 0) {
        ctx.addIssue({ code: "custom", message: `${quoted(bad)} ${bad.length === 1 ? "is not a CIDR block" : "are not CIDR blocks"}. Write e.g. ["203.0.113.0/24"].` });
      }
      const v6 = cidrs.filter(isIpv6Cidr);
      if (v6.length > 0) {
        ctx.addIssue({
          code: "custom",
          message:
            `${quoted(v6)} ${v6.length === 1 ? "is an IPv6 range" : "are IPv6 ranges"}, but the load balancer is IPv4-only: the AWS Load Balancer Controller ` +
            "refuses IPv6 source ranges on a load balancer that is not dual-stack, and the Service would never get an address. " +
            'List IPv4 ranges only, e.g. ["203.0.113.0/24"]; IPv6-only clients cannot reach an IPv4 endpoint.',
        });
      }
    })
    .default(["0.0.0.0/0"])
    .register(keyMeta, { description: "IPv4 source ranges allowed to reach the load balancer (IPv6 ranges are refused: the load balancer is IPv4-only).", example: '["203.0.113.0/24"]' }),
  apiKeys: list(apiKey, "a list of named keys", '[{ name: "alice" }, { name: "ci-bot", rpm: 60 }]')
    .superRefine((keys, ctx) => {
      if (keys.length === 0) ctx.addIssue({ code: "custom", message: 'is empty, which would lock everyone out. Name at least one key, e.g. [{ name: "alice" }].' });
      const seen = new Set<string>();
      keys.forEach((k, i) => {
        if (seen.has(k.name)) ctx.addIssue({ code: "custom", path: [i], message: `repeats the name "${k.name}". Give each key its own name.` });
        seen.add(k.name);
      });
    })
    .default(DEFAULT_API_KEYS.map((k) => ({ ...k })))
    .register(keyMeta, {
      description:
        "Named API keys, one per user or app: each {name, generation?, rpm?, tpm?, concurrency?}. Removing a name revokes that key; raising its generation replaces it. The keys are in pulumi stack output apiKeys --show-secrets.",
      example: '[{ name: "alice" }, { name: "ci-bot", rpm: 60, tpm: 100000, concurrency: 4 }]',
      item: "key",
    }),
  internalTokenGeneration: integer({ min: 0, max: 1_000_000, example: 1 }).default(0).register(keyMeta, {
    description: "Raise by one to replace the credential the gateways send to the replicas.",
    example: "1",
  }),
  gatewayReplicas: integer({ min: 1, max: 20, example: 2 }).default(2).register(keyMeta, {
    description: "Gateway pods behind the load balancer; they check keys and balance requests over the replicas.",
    example: "3",
  }),
  gatewayResources: resources(DEFAULT_GATEWAY_RESOURCES, proxyMemoryProblem).default({ ...DEFAULT_GATEWAY_RESOURCES }).register(keyMeta, {
    description: "CPU and memory of each gateway pod, requests = limits. Memory at least 128Mi; half of it is V8's old space (NODE_OPTIONS).",
    example: '{ cpu: "1", memory: "512Mi" }',
  }),
  coldStartTimeoutSeconds: integer({ min: 30, max: 3600, example: 600 }).default(600).register(keyMeta, {
    description: "Longest a request is held while no replica is ready (a cold start from zero), then 503 with Retry-After.",
    example: "900",
  }),
  minReplicas: integer({ min: 0, max: 100, example: 1 }).default(1).register(keyMeta, {
    description: "Fewest vLLM replicas; 0 scales to zero when idle (the gateway holds requests while one starts).",
    example: "0",
  }),
  maxReplicas: integer({ min: 1, max: 100, example: 2 }).default(2).register(keyMeta, {
    description: "Most vLLM replicas, at least max(1, minReplicas); equal to minReplicas turns autoscaling off.",
    example: "4",
  }),
  targetPerReplica: integer({ min: 1, max: 10000, example: 16 }).default(16).register(keyMeta, {
    description: "Requests in flight plus held, per replica, that the autoscaler aims for.",
    example: "8",
  }),
  // HPA behavior caps stabilizationWindowSeconds at 3600 (autoscaling/v2 HPAScalingRules).
  scaleDownStabilizationSeconds: integer({ min: 0, max: 3600, example: 300 }).default(300).register(keyMeta, {
    description: "How long demand must stay low before replicas are removed.",
    example: "600",
  }),
  scaleToZeroAfterSeconds: integer({ min: 0, max: 86400, example: 900 }).default(900).register(keyMeta, {
    description: "Idle time before the last replica goes when minReplicas is 0 (KEDA's cooldownPeriod).",
    example: "1800",
  }),
  pollingIntervalSeconds: integer({ min: 1, max: 3600, example: 10 }).default(10).register(keyMeta, {
    description: "How often the autoscaler reads the demand (KEDA's pollingInterval).",
    example: "15",
  }),
  installKeda: boolean().default(true).register(keyMeta, {
    description: "Install KEDA; false when an existing cluster already runs it.",
    example: "false",
  }),
  installMonitoring: boolean().default(true).register(keyMeta, {
    description: "Install Prometheus and Grafana (kube-prometheus-stack); false needs prometheusUrl while autoscaling is on.",
    example: "false",
  }),
  prometheusUrl: text(
    z.url({ protocol: /^https?$/, error: (iss) => `"${String(iss.input)}" is not an http(s) URL. Write e.g. http://prometheus-operated.monitoring.svc:9090.` }),
  )
    .optional()
    .register(keyMeta, {
      description: "The Prometheus KEDA queries when installMonitoring is false.",
      example: "http://prometheus-operated.monitoring.svc:9090",
      defaultText: "unset",
    }),
  nodeSelector: z
    .preprocess(
      json,
      z.record(
        z.string().regex(LABEL_KEY),
        z.string({ error: (iss) => selectorEntryProblem(iss.path?.at(-1), iss.input) }).regex(LABEL_VALUE, {
          error: (iss) => selectorEntryProblem(iss.path?.at(-1), iss.input),
        }),
        {
          error: (iss) =>
            iss.code === "invalid_key"
              ? `"${String(iss.input)}" is not a label key. Write a label key and a string value, e.g. ${NODE_SELECTOR_EXAMPLE}.`
              : typeof iss.input === "string"
                ? `expected an object of label: value, got the text "${iss.input}". Write it as YAML in the stack file, e.g. ${NODE_SELECTOR_EXAMPLE}.`
                : `expected an object of label: value, e.g. ${NODE_SELECTOR_EXAMPLE}.`,
        },
      ),
    )
    .default({})
    .register(keyMeta, { description: "Node labels the vLLM pods require.", example: NODE_SELECTOR_EXAMPLE }),
  tolerations: list(toleration, "a list of tolerations", TOLERATION_EXAMPLE)
    .default([])
    .register(keyMeta, {
      description: "Extra tolerations of the vLLM pods, each {key, operator (Exists or Equal), value, effect}; GPU pods always tolerate nvidia.com/gpu.",
      example: TOLERATION_EXAMPLE,
      item: "entry",
    }),
  vllmResources: resources(DEFAULT_VLLM_RESOURCES).default({ ...DEFAULT_VLLM_RESOURCES }).register(keyMeta, {
    description: "CPU and memory of the vLLM container, requests = limits (sized for a 4 vCPU / 16 GiB g6.xlarge).",
    example: '{ cpu: "6", memory: "24Gi" }',
  }),
  proxyResources: resources(DEFAULT_PROXY_RESOURCES, proxyMemoryProblem).default({ ...DEFAULT_PROXY_RESOURCES }).register(keyMeta, {
    description: "CPU and memory of the auth proxy sidecar next to vLLM, requests = limits. Memory at least 128Mi; half of it is V8's old space (NODE_OPTIONS).",
    example: '{ cpu: "500m", memory: "512Mi" }',
  }),
  modelCacheGiB: integer({ min: 1, max: 4096, example: 40 }).default(40).register(keyMeta, {
    description: "Size limit of each pod's model download cache (an emptyDir on the node's disk).",
    example: "60",
  }),
  kubeconfig: text(z.string()).optional().register(keyMeta, {
    description: "Kubeconfig contents or path (set with --secret); unset uses the ambient kubeconfig (KUBECONFIG or ~/.kube/config).",
    example: "~/.kube/config",
    target: "existing",
    secret: true,
    defaultText: "the ambient kubeconfig",
  }),
  kubeContext: text(z.string()).optional().register(keyMeta, {
    description: "The kubeconfig context to use; unset uses the current context.",
    example: "kind-vllm",
    target: "existing",
    defaultText: "the current context",
  }),
  gpuInstanceTypes: stringList('["g6.xlarge", "g5.xlarge"]')
    .superRefine((types, ctx) => {
      if (types.length === 0 || !types.every((t) => INSTANCE_TYPE.test(t))) {
        ctx.addIssue({ code: "custom", message: 'expected EC2 instance types such as ["g6.xlarge", "g5.xlarge"].' });
      } else if (new Set(types).size !== types.length) {
        ctx.addIssue({ code: "custom", message: "lists a type twice. List each instance type once." });
      }
    })
    .default([...DEFAULT_GPU_INSTANCE_TYPES])
    .register(keyMeta, {
      description: "GPU instance types Karpenter may launch; it picks among them by price, not by their order (x86_64 NVIDIA types; not V100 p3/p3dn, which the pinned vLLM cannot run on).",
      example: '["g6.xlarge", "g6.2xlarge", "g5.xlarge"]',
      target: "aws",
    }),
  gpuCapacityTypes: list(
    z.enum(DEFAULT_GPU_CAPACITY_TYPES, { error: (iss) => `"${String(iss.input)}" is not a capacity type. Write spot, on-demand or both, e.g. ["spot", "on-demand"].` }),
    "a list of capacity types",
    '["spot", "on-demand"]',
  )
    .superRefine((types, ctx) => {
      if (types.length === 0) ctx.addIssue({ code: "custom", message: 'is empty. Write spot, on-demand or both, e.g. ["spot", "on-demand"].' });
      if (new Set(types).size !== types.length) ctx.addIssue({ code: "custom", message: "lists a capacity type twice. List each once." });
    })
    .default([...DEFAULT_GPU_CAPACITY_TYPES])
    .register(keyMeta, {
      description: "Capacity types GPU nodes may use: spot, on-demand or both (spot first, on-demand when spot has no capacity).",
      example: '["on-demand"]',
      target: "aws",
      item: "entry",
    }),
  maxGpus: integer({ min: 0, max: 10000, example: 3 }).default(0).register(keyMeta, {
    description: "The most GPUs the stack may run at once, a cap on cost; at least (maxReplicas + 1) * gpusPerReplica, room for a rolling update's surge pod. 0 means exactly that.",
    example: "8",
    target: "aws",
    defaultText: "0: (maxReplicas + 1) * gpusPerReplica",
  }),
  gpuDiskGiB: integer({ min: 20, max: 16384, example: 100 }).default(100).register(keyMeta, {
    description: `Size of each GPU node's Bottlerocket data volume (/dev/xvdb), which holds container images and the model cache; the OS volume is separate. At least modelCacheGiB + ${VLLM_IMAGE_GIB}.`,
    example: "150",
    target: "aws",
  }),
  kubernetesVersion: matching(/^1\.\d{2}$/, (v) => `"${v}" is not an EKS version. Write major.minor, e.g. "${DEFAULT_KUBERNETES_VERSION}".`)
    .default(DEFAULT_KUBERNETES_VERSION)
    .register(keyMeta, {
      description: "EKS Kubernetes version, one with pinned add-ons (1.34, 1.35 or 1.36). EKS upgrades one minor version at a time.",
      example: '"1.35"',
      target: "aws",
    }),
  clusterAdminArns: stringList(`["${EXAMPLE_ADMIN_ARN}"]`)
    .superRefine((arns, ctx) => {
      for (const message of adminArnsProblems(arns)) ctx.addIssue({ code: "custom", message });
    })
    .default([])
    .register(keyMeta, {
      description:
        "IAM role or user ARNs made cluster admin through EKS access entries. Empty: the identity running Pulumi. With CI, the deploy role's ARN, so that previews run as another role plan the same admins.",
      example: `["${EXAMPLE_ADMIN_ARN}"]`,
      target: "aws",
      defaultText: "[]: the identity running Pulumi",
    }),
  vpcId: matching(/^vpc-[0-9a-f]{8,17}$/, (v) => `"${v}" is not a VPC ID. Write e.g. vpc-0123456789abcdef0.`)
    .optional()
    .register(keyMeta, {
      description: "Use this VPC instead of creating one (with publicSubnetIds and privateSubnetIds).",
      example: "vpc-0123456789abcdef0",
      target: "aws",
      defaultText: "unset: a new VPC",
    }),
  publicSubnetIds: subnetIds('["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]').register(keyMeta, {
    description: "Public subnets of vpcId, for the load balancer.",
    example: '["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]',
    target: "aws",
    defaultText: "unset",
  }),
  privateSubnetIds: subnetIds('["subnet-0123456789abcdef1", "subnet-0fedcba9876543211"]').register(keyMeta, {
    description: "Private subnets of vpcId, for the nodes.",
    example: '["subnet-0123456789abcdef1", "subnet-0fedcba9876543211"]',
    target: "aws",
    defaultText: "unset",
  }),
  natGateways: oneOf(["single", "perAz"]).default("single").register(keyMeta, {
    description: "single (one NAT gateway) or perAz (one per availability zone).",
    example: "perAz",
    target: "aws",
  }),
  systemInstanceType: matching(INSTANCE_TYPE, (v) => `"${v}" is not an EC2 instance type. Write e.g. t3.large.`)
    .default("t3.large")
    .register(keyMeta, {
      description: "x86_64 instance type of the CPU node group for the controllers and the gateways.",
      example: "t3.xlarge",
      target: "aws",
    }),
  systemNodes: object(
    {
      min: integer({ min: 0, max: 100, example: DEFAULT_SYSTEM_NODES.min, field: "min" }).default(DEFAULT_SYSTEM_NODES.min),
      desired: integer({ min: 0, max: 100, example: DEFAULT_SYSTEM_NODES.desired, field: "desired" }).default(DEFAULT_SYSTEM_NODES.desired),
      max: integer({ min: 0, max: 100, example: DEFAULT_SYSTEM_NODES.max, field: "max" }).default(DEFAULT_SYSTEM_NODES.max),
    },
    "an object with min, desired and max",
    "{ min: 2, desired: 2, max: 3 }",
  )
    .superRefine((n, ctx) => {
      if (!(n.min <= n.desired && n.desired <= n.max) || n.max < 1) {
        ctx.addIssue({ code: "custom", message: `needs min <= desired <= max and max >= 1 (got min ${n.min}, desired ${n.desired}, max ${n.max}).` });
      }
    })
    .default({ ...DEFAULT_SYSTEM_NODES })
    .register(keyMeta, {
      description: "Node counts {min, desired, max} of the CPU node group for the controllers and the gateways.",
      example: "{ min: 2, desired: 3, max: 4 }",
      target: "aws",
    }),
};

/** The schemas by key, seen as plain zod schemas (no per-key generics to check where that is all a caller needs). */
export const KEY_SCHEMAS = CONFIG_SHAPE as unknown as Readonly<Record<keyof typeof CONFIG_SHAPE, z.core.$ZodType>>;

/** Every key the program reads, without the namespace. */
export type ConfigKey = keyof typeof CONFIG_SHAPE;
/** The parsed value of every key. */
export type ConfigValues = { -readonly [K in ConfigKey]: z.output<(typeof CONFIG_SHAPE)[K]> };

/** The documentation of `key`. */
export function metaOf(key: ConfigKey): KeyMeta {
  const meta = keyMeta.get(KEY_SCHEMAS[key]);
  if (meta === undefined) throw new Error(`config key ${key} has no documentation`);
  return meta;
}

/** A key an earlier version read: what replaced it, and what to write instead. */
export interface RemovedKey {
  readonly replacedBy: readonly ConfigKey[];
  readonly instead: string;
}

/** Keys an earlier version read; setting one is an error that says what to write instead. */
export const REMOVED_CONFIG_KEYS: Readonly<Record<string, RemovedKey>> = {
  replicas: {
    replacedBy: ["minReplicas", "maxReplicas"],
    instead:
      "was replaced by minReplicas and maxReplicas. For a fixed count write both to the same number, e.g. minReplicas: 2 and maxReplicas: 2; " +
      "for autoscaling, e.g. minReplicas: 1 and maxReplicas: 4",
  },
  tokenCount: {
    replacedBy: ["apiKeys"],
    instead:
      'was replaced by apiKeys, one named key per user or app, e.g. apiKeys: [{ name: "alice" }, { name: "ci-bot" }]. ' +
      "The old tokens stop working; the new keys are in: pulumi stack output apiKeys --show-secrets",
  },
  firstTokenId: {
    replacedBy: ["apiKeys"],
    instead:
      'was replaced by apiKeys: to replace one key, raise its generation, e.g. apiKeys: [{ name: "alice", generation: 1 }]; ' +
      "to revoke one, remove its name. The new keys are in: pulumi stack output apiKeys --show-secrets",
  },
  gpuPools: {
    replacedBy: ["gpuCapacityTypes", "maxGpus"],
    instead:
      "was replaced by gpuCapacityTypes and maxGpus: GPU nodes are launched on demand, spot first with on-demand as the fallback, " +
      'e.g. gpuCapacityTypes: ["spot", "on-demand"] and maxGpus: 3',
  },
  gpuNodes: {
    replacedBy: ["maxGpus", "minReplicas", "maxReplicas"],
    instead: "was replaced by maxGpus (the most GPUs the stack may run) and minReplicas/maxReplicas: GPU nodes are launched on demand, e.g. maxGpus: 3",
  },
  gpuCapacityType: {
    replacedBy: ["gpuCapacityTypes"],
    instead: 'was replaced by gpuCapacityTypes, a list, e.g. gpuCapacityTypes: ["on-demand"] (ON_DEMAND) or ["spot", "on-demand"] (spot, falling back to on-demand)',
  },
};

/** Reports a problem with one key. */
export type Report = (key: ConfigKey, message: string) => void;

/** A check across keys; it runs only when every key it reads parsed. */
export interface CrossCheck {
  readonly reads: readonly ConfigKey[];
  readonly check: (v: ConfigValues, report: Report) => void;
}

/** The GPUs the stack needs at most: every replica plus the surge pod of a rolling update. */
export function neededGpus(v: Pick<ConfigValues, "maxReplicas" | "gpusPerReplica">): number {
  return (v.maxReplicas + 1) * v.gpusPerReplica;
}

/** Checks that involve more than one key, each reported on the key the user most likely has to change. */
export const CROSS_CHECKS: readonly CrossCheck[] = [
  {
    reads: ["target", "gpusPerReplica"],
    check: (v, report) => {
      if (v.gpusPerReplica === 0 && v.target === "aws") {
        report("gpusPerReplica", "0 (CPU only) is allowed only on target existing; the aws target runs vLLM on GPU nodes. Write 1 or more.");
      }
    },
  },
  {
    reads: ["target", "proxyImage", "proxyRegistry"],
    check: (v, report) => {
      if (v.proxyImage !== undefined && v.proxyRegistry !== undefined) {
        report("proxyRegistry", "is set together with proxyImage. Keep proxyImage to use a prebuilt image, or proxyRegistry to build and push one.");
      }
      if (v.target === "existing" && v.proxyImage === undefined && v.proxyRegistry === undefined) {
        report("proxyImage", "is required on target existing. Set proxyImage to a prebuilt proxy image, or proxyRegistry to a registry the program pushes the image to.");
      }
    },
  },
  {
    reads: ["target", "domain", "certificateArn", "hostedZoneId"],
    check: (v, report) => {
      if (v.domain === undefined) {
        if (v.certificateArn !== undefined || v.hostedZoneId !== undefined) {
          report("domain", "is unset, but certificateArn or hostedZoneId is set. Set domain to the name on the certificate, or remove the TLS keys for plain HTTP.");
        }
      } else if (v.certificateArn === undefined && v.hostedZoneId === undefined) {
        report("domain", "is set without certificateArn or hostedZoneId. Set certificateArn (an ACM certificate for the domain) or hostedZoneId (target aws issues one), or remove domain for plain HTTP.");
      } else if (v.target === "existing" && v.certificateArn === undefined) {
        report("certificateArn", "is required for TLS on target existing (hostedZoneId is used only by target aws). Set an ACM certificate ARN for the domain.");
      }
    },
  },
  {
    reads: ["vpcId", "publicSubnetIds", "privateSubnetIds"],
    check: (v, report) => {
      const network = { vpcId: v.vpcId, publicSubnetIds: v.publicSubnetIds, privateSubnetIds: v.privateSubnetIds };
      const missing = (Object.keys(network) as (keyof typeof network)[]).filter((k) => network[k] === undefined);
      if (missing.length > 0 && missing.length < 3) {
        report(
          missing[0],
          `set vpcId, publicSubnetIds and privateSubnetIds together to use your own network, or none of them for a new VPC (missing: ${missing.join(", ")}).`,
        );
      }
    },
  },
  {
    reads: ["minReplicas", "maxReplicas"],
    check: (v, report) => {
      const least = Math.max(1, v.minReplicas);
      if (v.maxReplicas < least) report("maxReplicas", `${v.maxReplicas} is less than minReplicas (${v.minReplicas}). Write at least ${least}.`);
    },
  },
  {
    reads: ["installMonitoring", "prometheusUrl", "minReplicas", "maxReplicas"],
    check: (v, report) => {
      if (!v.installMonitoring && v.prometheusUrl === undefined && v.minReplicas !== v.maxReplicas) {
        report(
          "prometheusUrl",
          "is required when installMonitoring is false and autoscaling is on (minReplicas differs from maxReplicas): the autoscaler reads the demand from Prometheus. " +
            "Write the Prometheus to query, e.g. http://prometheus-operated.monitoring.svc:9090, or set minReplicas equal to maxReplicas.",
        );
      }
    },
  },
  {
    reads: ["target", "installKeda", "minReplicas", "maxReplicas"],
    check: (v, report) => {
      if (v.target === "aws" && !v.installKeda && v.minReplicas !== v.maxReplicas) {
        report(
          "installKeda",
          "is false, but the aws target's new cluster has no KEDA to autoscale with. Remove the key (KEDA is installed), or set minReplicas equal to maxReplicas.",
        );
      }
    },
  },
  {
    reads: ["target", "maxGpus", "maxReplicas", "gpusPerReplica"],
    check: (v, report) => {
      const needed = neededGpus(v);
      if (v.target === "aws" && v.maxGpus !== 0 && v.maxGpus < needed) {
        report(
          "maxGpus",
          `${v.maxGpus} leaves no room for maxReplicas (${v.maxReplicas}) plus the surge pod of a rolling update at ${v.gpusPerReplica} GPU(s) each. Write at least ${needed}, or 0 for exactly that.`,
        );
      }
    },
  },
  {
    reads: ["target", "gpuDiskGiB", "modelCacheGiB"],
    check: (v, report) => {
      const least = v.modelCacheGiB + VLLM_IMAGE_GIB;
      if (v.target === "aws" && v.gpuDiskGiB < least) {
        report(
          "gpuDiskGiB",
          `${v.gpuDiskGiB} GiB leaves no room for the vLLM image (about ${VLLM_IMAGE_GIB} GiB) beside modelCacheGiB (${v.modelCacheGiB} GiB). Write at least ${least}.`,
        );
      }
    },
  },
  {
    reads: ["target", "gpuInstanceTypes", "vllmImage"],
    check: (v, report) => {
      if (v.target !== "aws" || !isCuda13EraVllmImage(v.vllmImage)) return;
      for (const type of v.gpuInstanceTypes) {
        const gpu = UNSUPPORTED_GPU_FAMILIES[instanceFamily(type)];
        if (gpu !== undefined) report("gpuInstanceTypes", unsupportedGpuMessage(`"${type}"`, gpu, v.vllmImage));
      }
    },
  },
  {
    reads: ["nodeSelector", "vllmImage", "gpusPerReplica"],
    check: (v, report) => {
      if (v.gpusPerReplica === 0 || !isCuda13EraVllmImage(v.vllmImage)) return;
      for (const label of ["node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type"]) {
        const type = v.nodeSelector[label];
        const gpu = type === undefined ? undefined : UNSUPPORTED_GPU_FAMILIES[instanceFamily(type)];
        if (gpu !== undefined) report("nodeSelector", unsupportedGpuMessage(`${label}: ${type}`, gpu, v.vllmImage));
      }
    },
  },
];

function unsupportedGpuMessage(what: string, gpu: string, image: string): string {
  return (
    `${what} has ${gpu} GPUs, which ${image} cannot run on: it is a CUDA 13 build, CUDA 13 dropped Volta, ` +
    "and the -cu129 variant's PyTorch dropped it too. Pick a Turing or newer GPU, e.g. g6.xlarge (L4), g5.xlarge (A10G) or g4dn.xlarge (T4)."
  );
}
