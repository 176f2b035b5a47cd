/**
 * Per-gateway limits: what a gateway applies on its own while the shared store is unreachable or
 * slow. Each limit is divided by the number of gateways (`shareOf`), so G gateways together admit
 * about what the shared limit would, and never an unlimited amount.
 */
import { type BucketState, levelAt, remainingUnits, resetUs, shareOf, waitUs } from "./bucket";
import { type ActiveLimits, CONCURRENCY_RETRY_MS, type Decision, type LimitName, type Quota } from "./types";

/** A key's limits scaled down to this gateway's share. */
export function localShare(limits: ActiveLimits, gateways: number): ActiveLimits {
  return {
    rpm: limits.rpm === undefined ? undefined : shareOf(limits.rpm, gateways),
    tpm: limits.tpm === undefined ? undefined : shareOf(limits.tpm, gateways),
    concurrency: limits.concurrency === undefined ? undefined : shareOf(limits.concurrency, gateways),
  };
}

const usToMs = (us: number): number => Math.ceil(us / 1000);

const quota = (limit: number, level: number): Quota => ({
  limit,
  remaining: remainingUnits(level, limit),
  resetMs: usToMs(resetUs(level, limit)),
});

interface KeyState {
  rpm?: BucketState;
  tpm?: BucketState;
}

export class LocalLimits {
  private readonly buckets = new Map<string, KeyState>();
  private readonly inflight = new Map<string, number>();

  /** `clockUs`: a monotonic clock in microseconds (this gateway's only: the store is not there to agree with). */
  constructor(private readonly clockUs: () => number) {}

  /** Decides one request against `limits` (already this gateway's share); on success charges one request. */
  decide(name: string, limits: ActiveLimits): Decision {
    const now = this.clockUs();
    const state = this.buckets.get(name) ?? {};
    const rpmLevel = limits.rpm === undefined ? 0 : levelAt(state.rpm, limits.rpm, now);
    const tpmLevel = limits.tpm === undefined ? 0 : levelAt(state.tpm, limits.tpm, now);
    const inUse = this.inflight.get(name) ?? 0;
    let refused: LimitName | undefined;
    let waitMs = 0;
    const consider = (limit: LimitName, ms: number): void => {
      if (ms > waitMs) {
        waitMs = ms;
        refused = limit;
      }
    };
    if (limits.rpm !== undefined) consider("rpm", usToMs(waitUs(rpmLevel, limits.rpm)));
    if (limits.tpm !== undefined) consider("tpm", usToMs(waitUs(tpmLevel, limits.tpm)));
    if (limits.concurrency !== undefined && inUse >= limits.concurrency) consider("concurrency", CONCURRENCY_RETRY_MS);
    const tokens = limits.tpm === undefined ? undefined : quota(limits.tpm, tpmLevel);
    if (refused !== undefined) {
      const requests = limits.rpm === undefined ? undefined : quota(limits.rpm, rpmLevel);
      return { ok: false, limit: refused, retryAfterMs: waitMs, requests, tokens };
    }
    if (limits.rpm === undefined) return { ok: true, tokens };
    const charged = rpmLevel + 1;
    this.buckets.set(name, { ...state, rpm: { level: charged, at: now, capacity: limits.rpm } });
    return { ok: true, requests: quota(limits.rpm, charged), tokens };
  }

  /** Charges tokens used against this gateway's share of `tpm`. */
  charge(name: string, tpm: number, tokens: number): void {
    if (tokens <= 0) return;
    const now = this.clockUs();
    const state = this.buckets.get(name) ?? {};
    this.buckets.set(name, { ...state, tpm: { level: levelAt(state.tpm, tpm, now) + tokens, at: now, capacity: tpm } });
  }

  /** Counts a request in flight at this gateway, whoever admitted it. */
  enter(name: string): void {
    this.inflight.set(name, (this.inflight.get(name) ?? 0) + 1);
  }

  leave(name: string): void {
    const n = (this.inflight.get(name) ?? 0) - 1;
    if (n > 0) this.inflight.set(name, n);
    else this.inflight.delete(name);
  }
}
