/** The application every object belongs to: the `app.kubernetes.io/part-of` value. */
export const PART_OF = "vllm-auth";

/** What identifies one deployment of the serving stack; shared by all of its objects. */
export interface AppIdentity {
  /** `app.kubernetes.io/name`, e.g. `vllm`. */
  readonly name: string;
  /** `app.kubernetes.io/instance`: unique per stack, e.g. `vllm-auth-dev`. */
  readonly instance: string;
  /** `app.kubernetes.io/version`: the served engine's version, e.g. `v0.29.0`. */
  readonly version: string;
}

/** The six recommended labels for one object of the stack. */
export function appLabels(app: AppIdentity, component: string): Record<string, string> {
  return {
    "app.kubernetes.io/name": labelValue(app.name),
    "app.kubernetes.io/instance": labelValue(app.instance),
    "app.kubernetes.io/version": labelValue(app.version),
    "app.kubernetes.io/component": labelValue(component),
    "app.kubernetes.io/part-of": PART_OF,
    "app.kubernetes.io/managed-by": "pulumi",
  };
}

/** Selectors use only name and instance: the other labels may change without orphaning pods. */
export function selectorLabels(app: AppIdentity): Record<string, string> {
  return {
    "app.kubernetes.io/name": labelValue(app.name),
    "app.kubernetes.io/instance": labelValue(app.instance),
  };
}

/** The version label for an image reference: its tag, or the start of its digest. */
export function imageVersion(image: string): string {
  const digest = image.match(/@sha256:([a-f0-9]{12})/);
  if (digest) {
    return `sha256-${digest[1]}`;
  }
  const last = image.split("/").pop() ?? image;
  const colon = last.lastIndexOf(":");
  return colon > 0 ? last.slice(colon + 1) : "unversioned";
}

/** Coerces text into a legal label value (at most 63 of [A-Za-z0-9._-], alphanumeric at both ends). */
export function labelValue(text: string): string {
  const cleaned = text.replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 63);
  return cleaned.replace(/^[^A-Za-z0-9]+/, "").replace(/[^A-Za-z0-9]+$/, "");
}
