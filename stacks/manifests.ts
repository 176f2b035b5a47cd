import * as pulumi from "@pulumi/pulumi";

/** A Kubernetes object as `kubectl apply` would read it. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown>;
  [field: string]: unknown;
}

/** Placeholder for every secret value in rendered output: not base64, so the API server refuses a Secret that carries it. */
export const REDACTED = "<redacted>";

/** Order in which a reviewer (and kubectl) wants to read the objects. */
const KIND_ORDER = ["Namespace", "Secret", "ConfigMap", "Service", "NetworkPolicy", "PodDisruptionBudget", "Deployment"];

/**
 * The manifest of a `kubernetes:<group>/<version>:<Kind>` resource from its registered inputs, or
 * undefined for anything that is not a Kubernetes object (providers, Helm releases, other clouds).
 */
export function manifestOf(type: string, inputs: Record<string, unknown>, fallbackName?: string): Manifest | undefined {
  const match = /^kubernetes:([a-z0-9.]+)\/([a-z0-9]+):([A-Za-z]+)$/.exec(type);
  if (!match || match[3].endsWith("Patch") || match[1] === "helm.sh" || match[1] === "yaml" || match[1] === "kustomize") {
    return undefined;
  }
  const [, group, version, kind] = match;
  const { apiVersion: _apiVersion, kind: _kind, metadata, ...rest } = inputs;
  const meta = { ...((metadata as Record<string, unknown> | undefined) ?? {}) };
  if (meta.name === undefined && fallbackName !== undefined) {
    meta.name = fallbackName;
  }
  return {
    apiVersion: group === "core" ? version : `${group}/${version}`,
    kind,
    metadata: meta,
    ...rest,
  };
}

/** Whether a registered input is a secret as Pulumi serializes it: `{ <sig>: <secret sig>, value }`. */
export function isSecretEnvelope(value: unknown): value is { value: unknown } {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<string, unknown>)[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig
  );
}

/** A deep copy with every secret envelope replaced by `replace(value)`: the value itself, or a placeholder. */
export function mapSecrets(value: unknown, replace: (secret: unknown) => unknown): unknown {
  if (isSecretEnvelope(value)) {
    return replace(value.value);
  }
  if (Array.isArray(value)) {
    return value.map((v) => mapSecrets(v, replace));
  }
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapSecrets(v, replace)]));
  }
  return value;
}

/**
 * A copy with every Secret value replaced by a placeholder, under `data` (stringData keys move there): the
 * placeholder is not base64, so applying the copy by mistake fails instead of storing "<redacted>" as a key.
 */
export function redactSecrets(manifest: Manifest): Manifest {
  if (manifest.kind !== "Secret") {
    return manifest;
  }
  const { data, stringData, ...rest } = manifest;
  const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
  const present = [data, stringData].filter((v) => v !== undefined);
  if (present.length === 0) {
    return { ...rest };
  }
  if (!present.every(isMap)) {
    return { ...rest, data: REDACTED };
  }
  const keys = present.flatMap((values) => Object.keys(values as Record<string, unknown>));
  return { ...rest, data: Object.fromEntries(keys.map((k) => [k, REDACTED])) };
}

/** Manifests sorted by kind (namespaces first), then name. */
export function sortManifests(manifests: readonly Manifest[]): Manifest[] {
  const rank = (k: string) => (KIND_ORDER.includes(k) ? KIND_ORDER.indexOf(k) : KIND_ORDER.length);
  return [...manifests].sort(
    (a, b) => rank(a.kind) - rank(b.kind) || String(a.metadata.name).localeCompare(String(b.metadata.name)),
  );
}

/** The manifest as a reviewer may see it: Secret values and every other secret input redacted. */
export function safeManifestOf(type: string, inputs: Record<string, unknown>, fallbackName?: string): Manifest | undefined {
  const revealed = manifestOf(type, mapSecrets(inputs, (v) => v) as Record<string, unknown>, fallbackName);
  if (revealed === undefined || revealed.kind === "Secret") {
    return revealed === undefined ? undefined : redactSecrets(revealed);
  }
  return manifestOf(type, mapSecrets(inputs, () => REDACTED) as Record<string, unknown>, fallbackName);
}
