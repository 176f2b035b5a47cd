/**
 * Building blocks of the configuration schema: zod schemas that read the text the Pulumi CLI hands
 * the program (JSON for lists and objects) and carry the messages a user sees when a value is wrong.
 * Every message says what was found and what to write instead; none of them echoes a secret.
 */
import { z } from "zod";
import { QUANTITY } from "../infra/k8s/quantity";

/** What the docs and Pulumi.yaml say about one key, beside what the zod schema itself tells. */
export interface KeyMeta {
  /** One sentence (or two) for Pulumi.yaml and the reference page. */
  readonly description: string;
  /** A value a user could write, as YAML in the stack file; also used in error messages. */
  readonly example: string;
  /** Which target reads the key; both when unset. */
  readonly target?: "aws" | "existing";
  /** Read as a secret Output and never echoed. */
  readonly secret?: true;
  /** The default as the docs state it, when the schema's default is a placeholder (`""`, `0`). */
  readonly defaultText?: string;
  /** What one entry of a list is called in messages: "key 2 repeats the name". */
  readonly item?: string;
}

/** Documentation of every key, attached to its schema. */
export const keyMeta = z.registry<KeyMeta>();

/** The CLI passes unset optional keys as `""` (Pulumi.yaml's default for them): that means unset. */
function unsetIfBlank(value: unknown): unknown {
  return typeof value === "string" && value.trim() === "" ? undefined : value;
}

function trimmed(value: unknown): unknown {
  const v = unsetIfBlank(value);
  return typeof v === "string" ? v.trim() : v;
}

/** A string key, trimmed; blank is unset. */
export function text<T extends z.core.SomeType>(schema: T) {
  return z.preprocess(trimmed, schema);
}

/** A value as a message quotes it: text as it is, anything else as JSON. */
function shown(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
}

/** Whole-number text becomes a number; anything else stays as it was, for the message to quote. */
function wholeNumber(value: unknown): unknown {
  const v = trimmed(value);
  return typeof v === "string" && /^-?\d+$/.test(v) ? Number(v) : v;
}

interface IntegerOptions {
  readonly min: number;
  readonly max: number;
  readonly example: number;
  /** Inside an object: the field's name, which the message then starts with. */
  readonly field?: string;
}

/** A whole number from `min` to `max`, with the messages of a top-level key or of an object's field. */
export function integer({ min, max, example, field }: IntegerOptions) {
  const range = max >= Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
  const write = field === undefined ? `Write a number ${range}, e.g. ${example}.` : `Write e.g. ${field}: ${example}.`;
  const notWhole = (input: unknown) =>
    field === undefined
      ? `"${shown(input)}" is not a whole number. ${write}`
      : `${field} "${shown(input)}" is not a whole number ${range}. ${write}`;
  const outOfRange = (input: unknown) =>
    field === undefined ? `${String(input)} is out of range. ${write}` : `${field} ${String(input)} is out of range. Write a whole number ${range}, e.g. ${field}: ${example}.`;
  return z.preprocess(
    wholeNumber,
    z
      .int({ error: (iss) => (iss.input === undefined ? `${field ?? "the value"} is missing. ${write}` : notWhole(iss.input)) })
      .min(min, { error: (iss) => outOfRange(iss.input) })
      .max(max, { error: (iss) => outOfRange(iss.input) }),
  );
}

/** `true` or `false`. */
export function boolean() {
  return z.preprocess(
    (value) => {
      const v = trimmed(value);
      return v === "true" ? true : v === "false" ? false : v;
    },
    z.boolean({ error: (iss) => `"${String(iss.input)}" is not a boolean. Write true or false.` }),
  );
}

/** One of a few words. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  const schema = z.enum(values, { error: (iss) => `"${String(iss.input)}" is not allowed. Write one of: ${values.join(", ")}.` });
  return z.preprocess(trimmed, schema);
}

/** Text that must match `pattern`; `problem` says what is wrong with the value and what to write. */
export function matching(pattern: RegExp, problem: (value: string) => string) {
  return text(z.string().regex(pattern, { error: (iss) => problem(String(iss.input)) }));
}

/** JSON text from the CLI; not JSON, the text stays a string, which the list or object schema then refuses, quoting it. */
export function json(value: unknown): unknown {
  const v = unsetIfBlank(value);
  if (typeof v !== "string") return v;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    return v;
  }
}

/** The message for a list or object key whose value has the wrong shape. */
function shapeProblem(shape: string, example: string, input: unknown): string {
  return typeof input === "string"
    ? `expected ${shape}, got the text "${input}". Write it as YAML in the stack file, e.g. ${example}.`
    : `expected ${shape}. Write it as YAML in the stack file, e.g. ${example}.`;
}

/** A list key: JSON text from the CLI; items are checked by `items`. */
export function list<T extends z.core.SomeType>(items: T, shape: string, example: string) {
  return z.preprocess(json, z.array(items, { error: (iss) => shapeProblem(shape, example, iss.input) }));
}

/** A list of strings, each trimmed. */
export function stringList(example: string) {
  return list(z.string().trim(), "a list of strings", example);
}

/** An object key (JSON text from the CLI) with exactly the fields of `shape`. */
export function object<T extends z.core.$ZodLooseShape>(shape: T, description: string, example: string) {
  return z.preprocess(json, fields(shape, description, example));
}

/** An object with exactly the fields of `shape`; unknown fields are named, with the fields there are. */
export function fields<T extends z.core.$ZodLooseShape>(shape: T, description: string, example: string) {
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === "unrecognized_keys"
        ? `has unknown field ${iss.keys.join(", ")}. Fields: ${Object.keys(shape).join(", ")}; e.g. ${example}.`
        : shapeProblem(description, example, iss.input),
  });
}

/** A Kubernetes quantity; a YAML number such as `cpu: 6` is read as "6". */
export function quantity(field: "cpu" | "memory", fallback: string) {
  const write = field === "cpu" ? '"500m" or "2"' : '"512Mi" or "12Gi"';
  return z
    .preprocess(
      (v) => (typeof v === "number" ? String(v) : v),
      z.string({ error: (iss) => `${field} "${String(iss.input)}" is not a Kubernetes quantity. Write e.g. ${write}.` }).regex(QUANTITY, {
        error: (iss) => `${field} "${String(iss.input)}" is not a Kubernetes quantity. Write e.g. ${write}.`,
      }),
    )
    .default(fallback);
}

/**
 * CPU and memory of a container, requests = limits; a missing field keeps its default.
 * `memoryProblem` says why a memory quantity is too small for what runs in the container.
 */
export function resources(fallback: { readonly cpu: string; readonly memory: string }, memoryProblem?: (memory: string) => string | undefined) {
  const example = `{ cpu: "${fallback.cpu}", memory: "${fallback.memory}" }`;
  const shape = { cpu: quantity("cpu", fallback.cpu), memory: quantity("memory", fallback.memory) };
  const checked = z
    .strictObject(shape, {
      error: (iss) =>
        iss.code === "unrecognized_keys"
          ? `unknown field ${iss.keys.join(", ")}. Only cpu and memory are read, e.g. ${example}.`
          : shapeProblem("an object with cpu and memory", example, iss.input),
    })
    .superRefine((value, ctx) => {
      const problem = memoryProblem?.(value.memory);
      if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
    });
  return z.preprocess(json, checked);
}
