/**
 * When the store is unreachable or slow, each gateway decides alone with its share of every limit
 * (ceil(limit / gateways)): never unlimited, never refusing everything, and back to the store when it
 * answers again. Two gateways (G = 2) in this process, each with its own connection.
 */
import net from "node:net";
import Redis from "ioredis";
import { type Admission, type Limiter, type LimiterOptions, createLimiter, DEFAULT_LIMITS_TIMEOUT_MS } from "../../proxy/src/limits";
import { RedisServer, freePort } from "./redis-server";

const TIMEOUT_MS = DEFAULT_LIMITS_TIMEOUT_MS;
/** What "within the timeout" may overshoot by on a busy 2-core CI machine: timers and scheduling, no second wait. */
const MARGIN_MS = 200;

interface Observed {
  readonly limiter: Limiter;
  readonly ups: boolean[];
  readonly errors: Error[];
  readonly fallbacks: string[];
  isUp(): boolean;
}

function gateway(redisUrl: string, extra: Partial<LimiterOptions> = {}): Observed {
  const ups: boolean[] = [];
  const errors: Error[] = [];
  const fallbacks: string[] = [];
  const limiter = createLimiter({
    redisUrl,
    timeoutMs: TIMEOUT_MS,
    gatewayReplicas: 2,
    ...extra,
    events: { storeUp: (up) => ups.push(up), storeError: (e) => errors.push(e), fallback: (name) => fallbacks.push(name) },
  });
  return { limiter, ups, errors, fallbacks, isUp: () => ups.at(-1) === true };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

async function timed(call: Promise<Admission>): Promise<{ admission: Admission; ms: number }> {
  const start = performance.now();
  const admission = await call;
  return { admission, ms: performance.now() - start };
}

const admitted = (results: readonly Admission[]): number => results.filter((r) => r.ok).length;

describe("the store killed and restarted", () => {
  let redis: RedisServer;
  let a: Observed;
  let b: Observed;

  beforeAll(async () => {
    redis = await RedisServer.start();
    // Short leases (renewed every 200 ms) so that slots carried over the outage show quickly.
    a = gateway(redis.url, { leaseMs: 600 });
    b = gateway(redis.url, { leaseMs: 600 });
    await until("both gateways reach the store", () => a.isUp() && b.isUp());
  });

  afterAll(async () => {
    await a?.limiter.close();
    await b?.limiter.close();
    await redis?.stop();
  });

  test("shared while up, per-gateway shares while down, shared again once it is back", async () => {
    const burst = (name: string, limits: { rpm?: number; concurrency?: number }): Promise<Admission[]> =>
      Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).limiter.admit(name, limits)));

    // Up: the key's 10 rpm hold across both gateways.
    expect(admitted(await burst("before", { rpm: 10 }))).toBe(10);
    expect(a.fallbacks).toEqual([]);

    await redis.kill();
    await until("both gateways see the store gone", () => !a.isUp() && !b.isUp());

    // Down: each gateway admits ceil(10 / 2) = 5 in a burst, so both together 10, and every answer comes at once.
    const during = await Promise.all(Array.from({ length: 20 }, (_, i) => timed((i % 2 ? a : b).limiter.admit("during", { rpm: 10 }))));
    expect(admitted(during.filter((_, i) => i % 2).map((r) => r.admission))).toBe(5);
    expect(admitted(during.filter((_, i) => i % 2 === 0).map((r) => r.admission))).toBe(5);
    for (const { ms } of during) expect(ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS);
    const refused = during.map((r) => r.admission).find((r) => !r.ok);
    // The headers tell the share this gateway applies.
    expect(refused).toMatchObject({ ok: false, limit: "rpm", headers: { "x-ratelimit-limit-requests": "5", "x-ratelimit-remaining-requests": "0", "retry-after": "12" } });

    // A limit of 1 stays 1 per gateway (never 0: the fallback does not refuse everything).
    expect(admitted(await burst("tiny", { rpm: 1 }))).toBe(2);
    // Concurrency 3: 2 per gateway.
    expect(admitted(await burst("slots", { concurrency: 3 }))).toBe(4);
    // Two requests that start during the outage and are still running when the store comes back.
    const carried = [await a.limiter.admit("carried", { concurrency: 4 }), await a.limiter.admit("carried", { concurrency: 4 })];
    expect(admitted(carried)).toBe(2);

    expect(a.fallbacks.filter((n) => n === "during")).toHaveLength(10);
    expect(a.errors.length).toBeGreaterThan(0);
    expect(a.ups).toEqual([true, false]);

    await redis.spawn();
    await until("both gateways are back on the store", () => a.isUp() && b.isUp());
    const fallbacksBefore = a.fallbacks.length + b.fallbacks.length;
    expect(admitted(await burst("after", { rpm: 10 }))).toBe(10);
    expect(a.fallbacks.length + b.fallbacks.length).toBe(fallbacksBefore);
    expect(a.ups).toEqual([true, false, true]);

    // The requests admitted during the outage take their slots in the store at the next renewal, and give them back when they end.
    const admin = new Redis(redis.url);
    try {
      const held = (): Promise<number> => admin.zcard("vllm-auth:limits:{carried}:leases");
      const deadline = Date.now() + 5000;
      while ((await held()) < 2 && Date.now() < deadline) await sleep(20);
      expect(await held()).toBe(2);
      expect(admitted(await Promise.all([1, 2, 3].map(() => b.limiter.admit("carried", { concurrency: 4 }))))).toBe(2);
      for (const lease of carried) if (lease.ok) lease.lease.settle(0);
      while ((await held()) > 2 && Date.now() < deadline) await sleep(20);
      expect(await held()).toBe(2);
    } finally {
      admin.disconnect();
    }
  });
});

describe("a store that stops answering", () => {
  let redis: RedisServer;
  let g: Observed;

  beforeAll(async () => {
    redis = await RedisServer.start();
    g = gateway(redis.url);
    await until("the gateway reaches the store", () => g.isUp());
  });

  afterAll(async () => {
    redis?.resume();
    await g?.limiter.close();
    await redis?.stop();
  });

  test("an admission waits at most the timeout, then the share decides; one probe a second until it answers again", async () => {
    expect((await g.limiter.admit("slow", { rpm: 100 })).ok).toBe(true);
    redis.pause();
    const first = await timed(g.limiter.admit("slow", { rpm: 100, concurrency: 5 }));
    expect(first.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(first.ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS);
    expect(first.admission).toMatchObject({ ok: true, headers: { "x-ratelimit-limit-requests": "50" } });
    expect(g.errors.at(-1)).toMatchObject({ name: "LimitsStoreError", code: "timeout" });
    expect(g.ups).toEqual([true, false]);

    // While it is down, the next requests do not wait for it at all.
    const next = await Promise.all(Array.from({ length: 20 }, () => timed(g.limiter.admit("slow", { rpm: 100 }))));
    for (const { ms } of next) expect(ms).toBeLessThan(MARGIN_MS);
    expect(g.fallbacks).toHaveLength(21);

    redis.resume();
    // The next probe (at most a second later) finds it again.
    await until("a probe finds the store again", () => {
      void g.limiter.admit("probe", { rpm: 1000 });
      return g.isUp();
    }, 5000);
    const fallbacks = g.fallbacks.length;
    expect((await g.limiter.admit("slow", { rpm: 100 })).ok).toBe(true);
    expect(g.fallbacks.length).toBe(fallbacks);

    // The store ran the timed-out admission once it woke up: its slot is the running request's, and goes when it ends.
    const admin = new Redis(redis.url);
    try {
      expect(await admin.zcard("vllm-auth:limits:{slow}:leases")).toBe(1);
      if (first.admission.ok) first.admission.lease.settle(0);
      const deadline = Date.now() + 5000;
      while ((await admin.zcard("vllm-auth:limits:{slow}:leases")) > 0 && Date.now() < deadline) await sleep(20);
      expect(await admin.zcard("vllm-auth:limits:{slow}:leases")).toBe(0);
    } finally {
      admin.disconnect();
    }
  });
});

describe("stores that never become usable", () => {
  test("a server that accepts connections and never answers: every admission falls back within the timeout", async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const address = silent.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    const g = gateway(`redis://127.0.0.1:${address.port}`);
    try {
      // Right away, and once the client has had time to try its handshake.
      for (const wait of [0, 300]) {
        await sleep(wait);
        const { admission, ms } = await timed(g.limiter.admit("silent", { rpm: 3 }));
        expect(ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS);
        expect(admission).toMatchObject({ ok: true, headers: { "x-ratelimit-limit-requests": "2" } });
      }
      expect(await g.limiter.admit("silent", { rpm: 3 })).toMatchObject({ ok: false, limit: "rpm" });
      expect(g.fallbacks).toHaveLength(3);
      expect(sockets.length).toBeGreaterThan(0);
      const closing = timed(g.limiter.close().then(() => ({ ok: false, limit: "rpm", retryAfterMs: 0, headers: {} }) as const));
      expect((await closing).ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS);
    } finally {
      await g.limiter.close();
      sockets.forEach((s) => s.destroy());
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test("nothing listening: admissions fall back at once, never unlimited", async () => {
    const g = gateway(`redis://127.0.0.1:${await freePort()}`, { gatewayReplicas: 3 });
    try {
      const results = await Promise.all(Array.from({ length: 6 }, () => timed(g.limiter.admit("nobody", { rpm: 7 }))));
      for (const { ms } of results) expect(ms).toBeLessThan(MARGIN_MS);
      // ceil(7 / 3) = 3 at this gateway.
      expect(admitted(results.map((r) => r.admission))).toBe(3);
      expect(g.ups).toEqual([]);
    } finally {
      await g.limiter.close();
    }
  });

  test("no store configured: per-gateway limits only, and nothing to report", async () => {
    const events: string[] = [];
    const g = createLimiter({
      timeoutMs: TIMEOUT_MS,
      gatewayReplicas: 1,
      events: { storeUp: () => events.push("storeUp"), storeError: () => events.push("storeError"), fallback: () => events.push("fallback") },
    });
    const results = await Promise.all(Array.from({ length: 5 }, () => g.admit("alone", { rpm: 4, concurrency: 10, tpm: 10 })));
    expect(admitted(results)).toBe(4);
    for (const r of results) if (r.ok) r.lease.settle(20);
    expect(await g.admit("alone", { tpm: 10 })).toMatchObject({ ok: false, limit: "tpm" });
    expect(events).toEqual([]);
    await g.close();
  });
});

describe("options", () => {
  test.each([
    [{ timeoutMs: 0, gatewayReplicas: 2 }, /timeoutMs must be a positive number/],
    [{ timeoutMs: 100, gatewayReplicas: 0 }, /gatewayReplicas must be a whole number >= 1 \(GATEWAY_REPLICAS\)/],
    [{ timeoutMs: 100, gatewayReplicas: 1.5 }, /gatewayReplicas must be a whole number/],
    [{ timeoutMs: 100, gatewayReplicas: 2, redisUrl: "valkey:6379" }, /must start with redis:\/\/ or rediss:\/\/ \(REDIS_URL\)/],
    [{ timeoutMs: 100, gatewayReplicas: 2, leaseMs: 5 }, /leaseMs must be a whole number of milliseconds >= 30/],
  ])("%p is refused with a message that says what to change", (options, message) => {
    expect(() => createLimiter(options)).toThrow(message);
  });
});
