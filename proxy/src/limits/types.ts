/** Types shared by the limiter, the store adapter, the per-gateway fallback and the header writer. */
import type { KeyLimits } from "../keys/format";

export type LimitName = "rpm" | "tpm" | "concurrency";

/** A key's limits with only the ones it has, each a whole number >= 1. */
export interface ActiveLimits {
  readonly rpm?: number;
  readonly tpm?: number;
  readonly concurrency?: number;
}

/** Where one rate limit stands after a decision, in OpenAI's terms. */
export interface Quota {
  readonly limit: number;
  readonly remaining: number;
  /** Until the bucket is full again if nothing more is used. */
  readonly resetMs: number;
}

/** One admission decision, from the store or from the per-gateway fallback. */
export type Decision =
  | { readonly ok: true; readonly requests?: Quota; readonly tokens?: Quota }
  | { readonly ok: false; readonly limit: LimitName; readonly retryAfterMs: number; readonly requests?: Quota; readonly tokens?: Quota };

/** How long a refused client is told to wait when only `concurrency` refused it: nobody knows when a running generation ends. */
export const CONCURRENCY_RETRY_MS = 1000;

/** The keys file admits only whole numbers >= 1; anything below 1 still limits (to 1), never opens. */
const usable = (value: number | undefined): number | undefined =>
  typeof value === "number" && Number.isFinite(value) ? Math.max(1, Math.floor(value)) : undefined;

/** Keeps the limits a key really has; undefined when it has none. */
export function activeLimits(limits: KeyLimits): ActiveLimits | undefined {
  const rpm = usable(limits.rpm);
  const tpm = usable(limits.tpm);
  const concurrency = usable(limits.concurrency);
  if (rpm === undefined && tpm === undefined && concurrency === undefined) return undefined;
  return { rpm, tpm, concurrency };
}
