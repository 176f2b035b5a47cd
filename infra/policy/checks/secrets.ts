import { at, describe, peek, record, records, ResourceInput, str, stringMap } from "../values";
import { commandLine, podOf } from "../workloads";

/** Names that hold a credential: HF_TOKEN, API_KEY, *_TOKEN(S), *_SECRET, *_PASSWORD, ... */
const SENSITIVE_NAME = /(^|_)(HF_TOKEN|HUGGING_FACE_HUB_TOKEN|TOKENS?|API_?KEYS?|SECRET(_?KEY)?|PASSWORD|PASSPHRASE|CREDENTIALS?|BEARER)$/;
/** Names that only point at or fingerprint a credential. */
const REFERENCE_WORD = /(^|_)(CHECKSUM|HASH|SHA\d*|DIGEST|FILE|PATH|DIR|REF|NAME)(_|$)/;
/** Values that look like a credential whatever they are called. */
const SENSITIVE_VALUE: readonly [RegExp, string][] = [
  [/\bhf_[A-Za-z0-9]{30,}\b/, "a Hugging Face token"],
  [/\bsk-[A-Za-z0-9_-]{20,}/, "an API key"],
  [/\bvllmauth_[A-Za-z0-9]{42}\b/, "a vllm-auth API key"],
  [/\bBearer\s+[A-Za-z0-9._~+/-]{16,}=*/i, "a bearer token"],
];
/** CLI flags whose value is a credential (vLLM's --api-key, huggingface-cli's --token). */
const SENSITIVE_FLAGS = ["--api-key", "--hf-token", "--token"];

function normalise(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]+/g, "_");
}

export function isSensitiveName(name: string): boolean {
  const n = normalise(name);
  return SENSITIVE_NAME.test(n) && !REFERENCE_WORD.test(n);
}

/** What kind of credential a value looks like, if any. */
export function credentialShape(value: string): string | undefined {
  return SENSITIVE_VALUE.find(([pattern]) => pattern.test(value))?.[1];
}

/** `$(VAR)` is expanded by the kubelet from another env entry, which may come from a Secret. */
const ENV_REFERENCE = /^\$\(?[A-Za-z_][A-Za-z0-9_]*\)?$/;

function literalProblem(name: string, value: string): string | undefined {
  if (value.trim() === "" || ENV_REFERENCE.test(value.trim())) return undefined;
  const shape = credentialShape(value);
  if (shape) return `holds what looks like ${shape}`;
  return isSensitiveName(name) ? "holds a credential in plain text" : undefined;
}

/** `KEY=value` lines inside a ConfigMap file (.env style). */
function dotenvProblems(text: string): string[] {
  return text.split(/\r?\n/).flatMap((line) => {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*[=:]\s*(\S.*)$/.exec(line);
    return match && isSensitiveName(match[1] ?? "") ? [match[1] ?? ""] : [];
  });
}

function annotationProblems(where: string, annotations: Readonly<Record<string, string>>): string[] {
  return Object.entries(annotations).flatMap(([key, value]) => {
    const problem = literalProblem(key, value);
    return problem
      ? [`${where}: annotation "${key}" ${problem}. Annotations are readable by anyone who can get the object; move the value into a Kubernetes Secret and mount it.`]
      : [];
  });
}

/**
 * Policy 3: no API token or Hugging Face token in a plain env value, a ConfigMap, an annotation or a
 * command-line flag; only Secrets (`secretKeyRef`, Secret volumes) may carry them.
 */
export function checkTokensOnlyInSecrets(resource: ResourceInput): string[] {
  if (!resource.type.startsWith("kubernetes:") || resource.type === "kubernetes:core/v1:Secret") return [];
  const where = describe(resource);
  const messages = annotationProblems(where, stringMap(peek(() => at(resource.props, "metadata", "annotations"))));

  if (resource.type === "kubernetes:core/v1:ConfigMap") {
    for (const [key, value] of Object.entries(stringMap(resource.props.data))) {
      const problem = literalProblem(key, value);
      if (problem) {
        messages.push(`${where}: key "${key}" ${problem}. ConfigMaps are not secret; store it in a Kubernetes Secret and reference it with secretKeyRef or a Secret volume.`);
      }
      for (const name of dotenvProblems(value)) {
        messages.push(`${where}: key "${key}" sets ${name} in plain text. Move ${name} into a Kubernetes Secret and reference it with secretKeyRef.`);
      }
    }
    for (const key of Object.keys(record(resource.props.binaryData) ?? {})) {
      if (isSensitiveName(key)) {
        messages.push(`${where}: binaryData "${key}" holds a credential. Store it in a Kubernetes Secret instead of a ConfigMap.`);
      }
    }
  }

  const pod = podOf(resource);
  if (!pod) return messages;
  if (resource.type !== "kubernetes:core/v1:Pod") messages.push(...annotationProblems(`${where} pod template`, pod.annotations));
  for (const container of pod.containers) {
    for (const entry of records(container.raw.env)) {
      const name = str(entry.name) ?? "";
      const value = str(peek(() => entry.value));
      const problem = value === undefined ? undefined : literalProblem(name, value);
      if (problem) {
        messages.push(
          `${where}: env ${name} of container "${container.name}" ${problem}. ` +
            `Use valueFrom.secretKeyRef pointing at a Kubernetes Secret (as HF_TOKEN does) so the value stays out of the pod spec.`,
        );
      }
    }
    const words = commandLine(container);
    words.forEach((word, index) => {
      const flag = SENSITIVE_FLAGS.find((f) => word === f || word.startsWith(`${f}=`));
      if (!flag) return;
      const value = word === flag ? words[index + 1] : word.slice(flag.length + 1);
      if (value !== undefined && !ENV_REFERENCE.test(value)) {
        messages.push(
          `${where}: container "${container.name}" passes ${flag} a literal value on its command line. ` +
            `Read it from an env var set by secretKeyRef (for example ${flag} $(API_KEY)) or a mounted Secret file.`,
        );
      }
    });
  }
  return messages;
}
