/**
 * The shared store adapter: one ioredis connection to Redis or Valkey, the three scripts, and the
 * decoding of their replies. Every call fails fast: no offline queue (a command while disconnected
 * fails at once), a `commandTimeout` on every command, nothing resent after a reconnect. ioredis
 * reconnects in the background.
 */
import type Redis from "ioredis";
import type { Result } from "ioredis";
import { ADMIT_LUA, RENEW_LUA, SETTLE_LUA } from "./scripts";
import { type ActiveLimits, CONCURRENCY_RETRY_MS, type Decision, type LimitName, type Quota } from "./types";

declare module "ioredis" {
  interface RedisCommander<Context> {
    vllmAuthLimitsAdmit(rpmKey: string, tpmKey: string, leaseKey: string, ...args: string[]): Result<unknown, Context>;
    vllmAuthLimitsSettle(tpmKey: string, leaseKey: string, ...args: string[]): Result<unknown, Context>;
    vllmAuthLimitsRenew(leaseKey: string, ...args: string[]): Result<unknown, Context>;
  }
}

/** A failed store call, with a stable code for logs. */
export class LimitsStoreError extends Error {
  constructor(
    readonly code: "timeout" | "unavailable" | "bad_reply",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "LimitsStoreError";
  }
}

/** A key's three store keys; the `{name}` hash tag keeps them in one slot of a Redis Cluster. */
export function storeKeys(name: string): { readonly rpm: string; readonly tpm: string; readonly leases: string } {
  const base = `vllm-auth:limits:{${name}}`;
  return { rpm: `${base}:rpm`, tpm: `${base}:tpm`, leases: `${base}:leases` };
}

const REFUSED_BY: readonly (LimitName | undefined)[] = [undefined, "rpm", "tpm", "concurrency"];

const usToMs = (us: number): number => Math.ceil(us / 1000);

/** Decodes the admit script's reply; throws on anything else, so a wrong store never passes for an answer. */
export function decodeAdmitReply(reply: unknown, limits: ActiveLimits): Decision {
  if (!Array.isArray(reply) || reply.length !== 8 || !reply.every((v): v is number => typeof v === "number" && Number.isFinite(v))) {
    throw new LimitsStoreError("bad_reply", `the limits store answered ${JSON.stringify(reply)} to the admit script`);
  }
  const [ok, refusedBy, waitUs, requestsLeft, requestsResetUs, tokensLeft, tokensResetUs] = reply;
  const requests: Quota | undefined =
    limits.rpm === undefined ? undefined : { limit: limits.rpm, remaining: requestsLeft, resetMs: usToMs(requestsResetUs) };
  const tokens: Quota | undefined =
    limits.tpm === undefined ? undefined : { limit: limits.tpm, remaining: tokensLeft, resetMs: usToMs(tokensResetUs) };
  if (ok === 1) return { ok: true, requests, tokens };
  const limit = REFUSED_BY[refusedBy];
  if (limit === undefined) throw new LimitsStoreError("bad_reply", `the admit script refused for an unknown limit ${refusedBy}`);
  return { ok: false, limit, retryAfterMs: Math.max(1, usToMs(waitUs)), requests, tokens };
}

export interface StoreEvents {
  /** The connection is ready (again). */
  ready(): void;
  /** The connection is gone; ioredis is reconnecting. */
  lost(): void;
  error(error: Error): void;
}

export interface LimitStoreOptions {
  readonly url: string;
  readonly timeoutMs: number;
  readonly leaseMs: number;
  readonly events: StoreEvents;
}

export class LimitStore {
  private readonly redis: Redis;
  private readonly leaseMs: string;
  private closed = false;

  constructor(private readonly options: LimitStoreOptions) {
    this.leaseMs = String(options.leaseMs);
    // Loaded only when a store is configured: a gateway without REDIS_URL never pays for the client's code.
    const { default: RedisClient } = require("ioredis") as typeof import("ioredis");
    this.redis = new RedisClient(options.url, {
      // Fail fast: a command while disconnected fails at once instead of waiting for a reconnect.
      enableOfflineQueue: false,
      commandTimeout: options.timeoutMs,
      // A command cut by a disconnect fails at once and is never resent (it was decided without it).
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // Background reconnects: 50 ms doubling up to 1 s, forever.
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
      connectTimeout: Math.max(1000, options.timeoutMs * 10),
      // RESP2: the scripts answer integer arrays, the same in RESP2 and 3, and every Redis-compatible server speaks it.
      protocol: 2,
      // CLIENT SETINFO exists only from Redis 7.2; the connection name is enough to find us in CLIENT LIST.
      disableClientInfo: true,
      connectionName: "vllm-auth-gateway",
    });
    this.redis.defineCommand("vllmAuthLimitsAdmit", { numberOfKeys: 3, lua: ADMIT_LUA });
    this.redis.defineCommand("vllmAuthLimitsSettle", { numberOfKeys: 2, lua: SETTLE_LUA });
    this.redis.defineCommand("vllmAuthLimitsRenew", { numberOfKeys: 1, lua: RENEW_LUA });
    this.redis.on("ready", () => options.events.ready());
    this.redis.on("close", () => {
      if (!this.closed) options.events.lost();
    });
    this.redis.on("error", (error: Error) => {
      if (!this.closed) options.events.error(error);
    });
  }

  /** True while the connection is up and ready for commands. */
  get ready(): boolean {
    return this.redis.status === "ready";
  }

  /** One round trip: decides and, when admitted, charges the request and takes a lease. */
  async admit(name: string, limits: ActiveLimits, leaseId: string): Promise<Decision> {
    const keys = storeKeys(name);
    const reply = await this.guard(
      this.redis.vllmAuthLimitsAdmit(
        keys.rpm,
        keys.tpm,
        keys.leases,
        String(limits.rpm ?? 0),
        String(limits.tpm ?? 0),
        String(limits.concurrency ?? 0),
        leaseId,
        this.leaseMs,
        String(CONCURRENCY_RETRY_MS * 1000),
      ),
    );
    return decodeAdmitReply(reply, limits);
  }

  /** Charges the tokens a request used and gives its lease back. */
  async settle(name: string, tpm: number | undefined, tokens: number, leaseId: string | undefined): Promise<void> {
    const keys = storeKeys(name);
    await this.guard(this.redis.vllmAuthLimitsSettle(keys.tpm, keys.leases, String(tpm ?? 0), String(tokens), leaseId ?? ""));
  }

  /** Renews the leases of running requests, one pipelined round trip for all keys. */
  async renew(leases: ReadonlyMap<string, readonly string[]>): Promise<void> {
    if (leases.size === 0) return;
    const pipeline = this.redis.pipeline();
    for (const [name, ids] of leases) pipeline.vllmAuthLimitsRenew(storeKeys(name).leases, this.leaseMs, ...ids);
    const results = await this.guard(pipeline.exec());
    for (const [error] of results ?? []) if (error) throw new LimitsStoreError("unavailable", error.message, { cause: error });
  }

  async close(): Promise<void> {
    this.closed = true;
    try {
      await this.guard(this.redis.quit());
    } catch {
      // Already gone or not answering: cut the socket instead.
    } finally {
      this.redis.disconnect();
    }
  }

  /** Bounds a store call by the timeout whatever ioredis does (a script reload is a second command). */
  private guard<T>(call: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new LimitsStoreError("timeout", `the limits store did not answer within ${this.options.timeoutMs} ms`)),
        this.options.timeoutMs,
      );
      call.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          const message = error instanceof Error ? error.message : String(error);
          reject(new LimitsStoreError(message === "Command timed out" ? "timeout" : "unavailable", `the limits store call failed: ${message}`, { cause: error }));
        },
      );
    });
  }
}
