/**
 * Per-key limits: requests per minute (rpm), tokens per minute (tpm) and concurrent requests
 * (concurrency), held across gateways in a shared Redis-compatible store, and per gateway (each
 * limit divided by the number of gateways) while the store is unreachable or slow.
 *
 * rpm and tpm are token buckets (`bucket.ts`): a full bucket lets a key's whole per-minute amount
 * through at once, then refills evenly over the minute. rpm charges one request at admission; tpm
 * charges the tokens a request used when it ends, and admits while one token is left, as OpenAI
 * does. concurrency is a set of leases with an expiry that the gateway renews while a request runs,
 * so a gateway that dies cannot keep slots for more than one lease period.
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { KeyLimits } from "../keys/format";
import { rateLimitHeaders } from "./headers";
import { LocalLimits, localShare } from "./local";
import { LimitStore, LimitsStoreError } from "./store";
import { type ActiveLimits, type Decision, type LimitName, activeLimits } from "./types";

export type { LimitName } from "./types";
export { formatResetDuration, rateLimitHeaders, refusalMessage } from "./headers";
export { LimitsStoreError } from "./store";

/** A granted request: settle it exactly once when the response ends (tokens = prompt + completion actually used, 0 if unknown). */
export interface Lease {
  settle(tokens: number): void;
}

export type Admission =
  | { readonly ok: true; readonly lease: Lease; readonly headers: Readonly<Record<string, string>> }
  | { readonly ok: false; readonly limit: LimitName; readonly retryAfterMs: number; readonly headers: Readonly<Record<string, string>> };

export interface Limiter {
  /** Decides one request of key `name`; never rejects (a store failure falls back to per-gateway limits); resolves within the timeout. */
  admit(name: string, limits: KeyLimits): Promise<Admission>;
  close(): Promise<void>;
}

export interface LimiterOptions {
  /** `redis://host:6379` (or `rediss://`); unset: per-gateway limits only. */
  readonly redisUrl?: string;
  /** Bound on every store call, in ms. */
  readonly timeoutMs: number;
  /** Gateways sharing the limits; the fallback gives each ceil(limit / gatewayReplicas), at least 1. */
  readonly gatewayReplicas: number;
  /** How long a concurrency lease lives without renewal, in ms. Defaults to `DEFAULT_LEASE_MS`. */
  readonly leaseMs?: number;
  readonly events?: {
    /** The store became usable (true) or unusable (false); called on changes only. */
    storeUp?(up: boolean): void;
    storeError?(error: Error): void;
    /** A request of key `name` was decided by the per-gateway fallback while a store is configured. */
    fallback?(name: string): void;
  };
}

/**
 * 100 ms: a healthy store in the cluster answers in well under 1 ms, so only a sick one takes
 * this long; it is small next to a generation, and after one failure only one request a second
 * (`STORE_RETRY_MS`) waits for the store until it answers again.
 */
export const DEFAULT_LIMITS_TIMEOUT_MS = 100;
/** 30 s: slots of a gateway that died come back within 30 s; renewed every 10 s. */
export const DEFAULT_LEASE_MS = 30_000;
/** After a failed call, requests use the fallback and one request a second tries the store again. */
export const STORE_RETRY_MS = 1000;

const UNLIMITED_LEASE: Lease = { settle: () => undefined };
const UNLIMITED: Admission = Object.freeze({ ok: true, lease: UNLIMITED_LEASE, headers: Object.freeze({}) });

/** A monotonic clock in microseconds: the fallback must not jump with the wall clock. */
const monotonicUs = (): number => Math.round(performance.now() * 1000);

function checkOptions(options: LimiterOptions): void {
  if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) {
    throw new Error(`limits: timeoutMs must be a positive number of milliseconds, got ${options.timeoutMs}`);
  }
  if (!Number.isInteger(options.gatewayReplicas) || options.gatewayReplicas < 1) {
    throw new Error(`limits: gatewayReplicas must be a whole number >= 1 (GATEWAY_REPLICAS), got ${options.gatewayReplicas}`);
  }
  if (options.leaseMs !== undefined && (!Number.isInteger(options.leaseMs) || options.leaseMs < 30)) {
    throw new Error(`limits: leaseMs must be a whole number of milliseconds >= 30, got ${options.leaseMs}`);
  }
  if (options.redisUrl !== undefined && !/^rediss?:\/\//.test(options.redisUrl)) {
    throw new Error(`limits: the store URL must start with redis:// or rediss:// (REDIS_URL), got ${JSON.stringify(options.redisUrl)}`);
  }
}

export function createLimiter(options: LimiterOptions): Limiter {
  checkOptions(options);
  return new SharedLimiter(options);
}

class SharedLimiter implements Limiter {
  private readonly local = new LocalLimits(monotonicUs);
  private readonly store: LimitStore | undefined;
  private readonly leaseMs: number;
  private readonly gatewayId = randomBytes(6).toString("base64url");
  private sequence = 0;
  /** Slots of running requests, renewed in the store: lease id -> key name. */
  private readonly leases = new Map<string, string>();
  private renewTimer: NodeJS.Timeout | undefined;
  private up = false;
  private retryAt = 0;
  private probing = false;
  private closed = false;

  constructor(private readonly options: LimiterOptions) {
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    if (options.redisUrl === undefined) return;
    this.store = new LimitStore({
      url: options.redisUrl,
      timeoutMs: options.timeoutMs,
      leaseMs: this.leaseMs,
      events: {
        ready: () => {
          this.retryAt = 0;
          this.setUp(true);
        },
        lost: () => {
          if (this.up) this.emit(() => options.events?.storeError?.(new LimitsStoreError("unavailable", "the connection to the limits store closed")));
          this.setUp(false);
        },
        error: (error) => this.emit(() => options.events?.storeError?.(error)),
      },
    });
  }

  async admit(name: string, keyLimits: KeyLimits): Promise<Admission> {
    const limits = activeLimits(keyLimits);
    if (limits === undefined) return UNLIMITED;
    // One id whoever decides: a store call that timed out may still have taken the slot under it.
    const leaseId = `${this.gatewayId}:${(this.sequence++).toString(36)}`;
    if (this.store !== undefined && this.mayCallStore()) {
      const probe = !this.up;
      if (probe) this.probing = true;
      try {
        const decision = await this.store.admit(name, limits, leaseId);
        this.setUp(true);
        return this.admission(name, limits, decision, true, leaseId);
      } catch (error) {
        this.failed(error);
      } finally {
        if (probe) this.probing = false;
      }
    }
    if (this.store !== undefined) this.emit(() => this.options.events?.fallback?.(name));
    const share = localShare(limits, this.options.gatewayReplicas);
    return this.admission(name, share, this.local.decide(name, share), false, leaseId);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.renewTimer !== undefined) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    await this.store?.close();
  }

  /** Up: every request asks the store. Down: one request at a time, once `STORE_RETRY_MS` has passed. */
  private mayCallStore(): boolean {
    if (this.closed || this.store === undefined || !this.store.ready) return false;
    if (this.up) return true;
    return !this.probing && performance.now() >= this.retryAt;
  }

  private failed(error: unknown): void {
    this.retryAt = performance.now() + STORE_RETRY_MS;
    this.setUp(false);
    const e = error instanceof Error ? error : new Error(String(error));
    this.emit(() => this.options.events?.storeError?.(e));
  }

  private setUp(up: boolean): void {
    if (this.up === up) return;
    this.up = up;
    this.emit(() => this.options.events?.storeUp?.(up));
  }

  /** A throwing event handler must not turn an admission into a rejection. */
  private emit(call: () => void): void {
    try {
      call();
    } catch {
      // The handlers only log and count.
    }
  }

  private admission(name: string, limits: ActiveLimits, decision: Decision, shared: boolean, leaseId: string): Admission {
    const headers = rateLimitHeaders(decision);
    if (!decision.ok) return { ok: false, limit: decision.limit, retryAfterMs: decision.retryAfterMs, headers };
    return { ok: true, lease: this.lease(name, limits, shared, leaseId), headers };
  }

  /**
   * `shared`: admitted by the store, which then gets the tokens; else by this gateway's share, which
   * does. Either way a slot is renewed in the store while the request runs (a request admitted
   * while the store was away counts there once it is back) and given back at the end.
   */
  private lease(name: string, limits: ActiveLimits, shared: boolean, leaseId: string): Lease {
    const counted = limits.concurrency !== undefined;
    if (!counted && limits.tpm === undefined) return UNLIMITED_LEASE;
    if (counted) {
      this.local.enter(name);
      this.hold(leaseId, name);
    }
    let settled = false;
    return {
      settle: (tokens: number) => {
        if (settled) return;
        settled = true;
        const used = Number.isFinite(tokens) && tokens > 0 ? Math.ceil(tokens) : 0;
        if (counted) {
          this.local.leave(name);
          this.leases.delete(leaseId);
        }
        const tpm = shared ? limits.tpm : undefined;
        if (!shared && limits.tpm !== undefined) this.local.charge(name, limits.tpm, used);
        if (this.store === undefined || this.closed || (!counted && (tpm === undefined || used === 0))) return;
        if (!shared && !this.store.ready) return;
        this.store.settle(name, tpm, used, counted ? leaseId : undefined).catch((error: unknown) => {
          // The store lost these tokens: count them here, where the next requests are decided while it is away.
          if (tpm !== undefined) this.local.charge(name, localShare(limits, this.options.gatewayReplicas).tpm ?? tpm, used);
          this.failed(error);
        });
      },
    };
  }

  private hold(leaseId: string, name: string): void {
    if (this.store === undefined) return;
    this.leases.set(leaseId, name);
    if (this.renewTimer !== undefined) return;
    // A third of the lease: two renewals can fail before a running request loses its slot.
    this.renewTimer = setInterval(() => this.renew(), Math.floor(this.leaseMs / 3));
    this.renewTimer.unref();
  }

  private renew(): void {
    if (this.leases.size === 0) {
      clearInterval(this.renewTimer);
      this.renewTimer = undefined;
      return;
    }
    if (this.store === undefined || !this.store.ready) return;
    const byName = new Map<string, string[]>();
    for (const [id, name] of this.leases) {
      const ids = byName.get(name);
      if (ids === undefined) byName.set(name, [id]);
      else ids.push(id);
    }
    this.store.renew(byName).catch((error: unknown) => this.failed(error));
  }
}
