/** One resource as a policy sees it: its Pulumi type token and its (input or output) properties. */
export interface ResourceInput {
  readonly type: string;
  readonly props: Readonly<Record<string, unknown>>;
  /** The Pulumi resource name, used in messages when the object has no `metadata.name`. */
  readonly name?: string;
  readonly urn?: string;
}

/** A violation found by a stack-wide check, tied to the resource that must change. */
export interface Finding {
  readonly message: string;
  readonly urn?: string;
}

export type Rec = Readonly<Record<string, unknown>>;

export function record(value: unknown): Rec | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Rec) : undefined;
}

export function list(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

export function records(value: unknown): readonly Rec[] {
  return list(value).flatMap((item) => {
    const r = record(item);
    return r ? [r] : [];
  });
}

export function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

export function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

export function strings(value: unknown): readonly string[] {
  return list(value).flatMap((item) => (typeof item === "string" ? [item] : []));
}

/** A string map (labels, selectors, annotations, ConfigMap data); non-string values are dropped. */
export function stringMap(value: unknown): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [key, item] of Object.entries(record(value) ?? {})) {
    if (typeof item === "string") out[key] = item;
  }
  return out;
}

/** Walks `path` through nested objects; undefined as soon as a step is missing. */
export function at(value: unknown, ...path: readonly string[]): unknown {
  let current: unknown = value;
  for (const key of path) {
    const r = record(current);
    if (!r) return undefined;
    current = r[key];
  }
  return current;
}

/**
 * Reads a value that may be unknown during `pulumi preview`. The policy SDK throws an
 * `UnknownValueError` on such reads; identification helpers treat them as absent instead of
 * abandoning the whole policy.
 */
export function peek<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (error) {
    // The SDK does not export the class in its typings, so match it by name.
    if (error instanceof Error && error.constructor.name === "UnknownValueError") return undefined;
    throw error;
  }
}

/** `metadata.name`, else the Pulumi resource name, for messages and cross-references. */
export function objectName(resource: ResourceInput): string {
  return str(peek(() => at(resource.props, "metadata", "name"))) ?? resource.name ?? "(unnamed)";
}

export function objectNamespace(resource: ResourceInput): string | undefined {
  return str(peek(() => at(resource.props, "metadata", "namespace")));
}

/** `Kind "name"` for messages, from the type token's last segment. */
export function describe(resource: ResourceInput): string {
  const kind = resource.type.split(":").pop() ?? resource.type;
  return `${kind} "${objectName(resource)}"`;
}
