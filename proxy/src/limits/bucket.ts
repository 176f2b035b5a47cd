/**
 * The one rate algorithm behind `rpm` and `tpm`: a token bucket of `capacity`, refilled continuously
 * at `capacity` per minute (the same decisions as GCRA). Its state is how full it is (`level`, in
 * requests or tokens) at a time in microseconds. The store's Lua script (`scripts.ts`) runs the same
 * arithmetic on the store's clock; these functions run it on the gateway's while the store is away.
 */

export const MINUTE_US = 60_000_000;

/** Float slack for "level <= capacity - 1", so a client that waits exactly the advertised time gets in. */
const EPSILON = 1e-9;

export interface BucketState {
  /** Requests or tokens used, as of `at`. */
  readonly level: number;
  /** Microseconds on the clock that decides. */
  readonly at: number;
  /** The limit the level was charged against. */
  readonly capacity: number;
}

/**
 * The level at `now`: what was used, less what has drained since; never below 0. After a limit
 * is lowered the level shrinks in proportion (the time until full stays); after it is raised the
 * level stays: a changed limit never makes a key wait longer than the old one would have.
 */
export function levelAt(state: BucketState | undefined, capacity: number, now: number): number {
  if (state === undefined) return 0;
  const level = capacity < state.capacity ? (state.level * capacity) / state.capacity : state.level;
  const elapsed = Math.max(0, now - state.at);
  return Math.max(0, level - (elapsed * capacity) / MINUTE_US);
}

/** Microseconds until at least one unit is left (level <= capacity - 1); 0 when one is left now. */
export function waitUs(level: number, capacity: number): number {
  const over = level - (capacity - 1);
  return over <= EPSILON ? 0 : Math.ceil((over * MINUTE_US) / capacity);
}

/** Whole units left before the bucket is empty. */
export function remainingUnits(level: number, capacity: number): number {
  return Math.max(0, Math.floor(capacity - level + EPSILON));
}

/** Microseconds until the bucket is full again if nothing more is used (OpenAI's "reset"). */
export function resetUs(level: number, capacity: number): number {
  return Math.ceil((level * MINUTE_US) / capacity);
}

/** Per-gateway share of a limit when the shared store is away: ceil(limit / gateways), at least 1. */
export function shareOf(limit: number, gateways: number): number {
  return Math.max(1, Math.ceil(limit / Math.max(1, gateways)));
}
