/**
 * Strict field checks for kubernetes-models and the @kubernetes-models CRD packages. They ship their schemas only as
 * validators compiled by ajv, and those accept any unknown field: the schemas never set
 * `additionalProperties: false`. A compiled validator reads every property its schema defines, and
 * every key of a map whose schema allows additional properties (labels, annotations, resource limits,
 * Secret data), so a field it never reads is one the schema does not define.
 */

/** A kubernetes-models object: `validate` checks `this` against the schema of its kind. */
export interface SchemaModel {
  validate(): void;
}

/** Path of a field below `path`, as a reader would write it: `spec.containers[1].readinessProbe`. */
function child(path: string, key: string, inArray: boolean): string {
  if (inArray) return `${path}[${key}]`;
  return path === "" ? key : `${path}.${key}`;
}

/** `value` behind proxies that add the path of every own field the validator reads to `read`. */
function recording(value: unknown, path: string, read: Set<string>): unknown {
  if (typeof value !== "object" || value === null) return value;
  return new Proxy(value, {
    get(target, key, receiver) {
      const field = Reflect.get(target, key, receiver);
      if (typeof key !== "string" || !Object.prototype.hasOwnProperty.call(target, key)) return field;
      const at = child(path, key, Array.isArray(target));
      read.add(at);
      return recording(field, at, read);
    },
  });
}

/** Paths of the fields of `value` not in `read`; below an unread field nothing more is listed. */
function unread(value: unknown, path: string, read: ReadonlySet<string>): string[] {
  if (typeof value !== "object" || value === null) return [];
  const inArray = Array.isArray(value);
  return Object.keys(value).flatMap((key) => {
    const at = child(path, key, inArray);
    if (!inArray && !read.has(at)) return [at];
    return unread((value as Record<string, unknown>)[key], at, read);
  });
}

/** Fields of `model` that its kind's schema does not define, e.g. `spec.template.spec.containers[0].readinesProbe`. */
export function unknownFields(model: SchemaModel): string[] {
  const read = new Set<string>();
  model.validate.call(recording(model, "", read));
  return unread(model, "", read);
}

/**
 * Validates `model` against its schema, then fails on any field the schema does not define. `schema`
 * names the schema in the message: the Kubernetes OpenAPI schema, or a CRD's (the @kubernetes-models
 * packages for Karpenter, KEDA and prometheus-operator compile theirs the same way, so the same walk applies).
 */
export function validateStrictly(model: SchemaModel, what: string, schema = "the Kubernetes schema"): void {
  model.validate();
  const unknown = unknownFields(model);
  if (unknown.length > 0) {
    throw new Error(`${what}: ${unknown.join(", ")} ${unknown.length === 1 ? "is not a field" : "are not fields"} of ${schema}`);
  }
}
