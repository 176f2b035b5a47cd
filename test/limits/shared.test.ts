/**
 * Limits shared through a real redis-server by two gateways: this process's limiter and a second
 * one in its own process (`gateway-process.ts`), each with its own connection.
 */
import Redis from "ioredis";
import { type Admission, type Limiter, createLimiter } from "../../proxy/src/limits";
import { GatewayProcess, type RemoteAdmission } from "./gateway";
import { RedisServer } from "./redis-server";

let redis: RedisServer;
let admin: Redis;
let here: Limiter;
let there: GatewayProcess;
const storeErrors: Error[] = [];
const fallbacks: string[] = [];

const LEASE_MS = 600;
// These cases are about sharing, not timeouts (outage.test.ts): a generous bound keeps a loaded CI machine from tripping the fallback.
const TIMEOUT_MS = 2000;

beforeAll(async () => {
  redis = await RedisServer.start();
  admin = new Redis(redis.url, { lazyConnect: true });
  await admin.connect();
  const up = new Promise<void>((resolve) => {
    here = createLimiter({
      redisUrl: redis.url,
      timeoutMs: TIMEOUT_MS,
      gatewayReplicas: 2,
      leaseMs: LEASE_MS,
      events: { storeUp: (isUp) => isUp && resolve(), storeError: (e) => storeErrors.push(e), fallback: (name) => fallbacks.push(name) },
    });
  });
  [there] = await Promise.all([GatewayProcess.start({ REDIS_URL: redis.url, GATEWAY_REPLICAS: "2", LEASE_MS: String(LEASE_MS), TIMEOUT_MS: String(TIMEOUT_MS) }), up]);
});

afterAll(async () => {
  await there?.kill();
  await here?.close();
  admin?.disconnect();
  await redis?.stop();
});

afterEach(() => {
  // Every case here runs with the store up: nothing may have been decided without it.
  expect(storeErrors).toEqual([]);
  expect(fallbacks).toEqual([]);
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** Settling is off the request's path (fire and forget): wait until the store shows it. */
async function until(condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("the store never showed the settlement");
    await sleep(10);
  }
}
const leasesHeld = (name: string): Promise<number> => admin.zcard(`vllm-auth:limits:{${name}}:leases`);
const admitted = (results: ReadonlyArray<Admission | RemoteAdmission>): number => results.filter((r) => r.ok).length;

describe("requests per minute across two gateways", () => {
  test("a key limited to N rpm gets exactly N through both gateways together in a burst", async () => {
    const n = 10;
    // 30 requests, alternating between the gateways, all in flight at once.
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? here : there).admit("burst", { rpm: n })));
    expect(admitted(results)).toBe(n);
    for (const refused of results.filter((r) => !r.ok)) {
      expect(refused).toMatchObject({ ok: false, limit: "rpm" });
      // The next request is one minute / N away at most: 6 s.
      expect(refused.headers["retry-after"]).toMatch(/^[1-6]$/);
      expect(Number(refused.headers["retry-after-ms"])).toBeGreaterThan(5000);
      expect(Number(refused.headers["retry-after-ms"])).toBeLessThanOrEqual(6000);
      expect(refused.headers["x-ratelimit-limit-requests"]).toBe("10");
      expect(refused.headers["x-ratelimit-remaining-requests"]).toBe("0");
    }
  });

  test("admitted requests count down x-ratelimit-remaining-requests, whichever gateway they pass", async () => {
    const a = await here.admit("countdown", { rpm: 60 });
    const b = await there.admit("countdown", { rpm: 60 });
    const c = await here.admit("countdown", { rpm: 60 });
    expect([a, b, c].map((r) => r.headers["x-ratelimit-remaining-requests"])).toEqual(["59", "58", "57"]);
    expect(a.headers["x-ratelimit-reset-requests"]).toBe("1s");
    expect(c.headers["x-ratelimit-reset-requests"]).toMatch(/^(2\.9\d*|3)s$/);
    expect(a.headers["retry-after"]).toBeUndefined();
  });

  test("a refused request costs nothing: after the advertised wait, exactly one more gets in", async () => {
    const rpm = 120; // one every 500 ms
    const burst = await Promise.all(Array.from({ length: rpm + 5 }, (_, i) => (i % 2 ? here : there).admit("refill", { rpm })));
    expect(admitted(burst)).toBe(rpm);
    const refused = await here.admit("refill", { rpm });
    expect(refused.ok).toBe(false);
    await sleep(Number(refused.headers["retry-after-ms"]) + 5);
    const [x, y] = await Promise.all([here.admit("refill", { rpm }), there.admit("refill", { rpm })]);
    expect(admitted([x, y])).toBe(1);
  });
});

describe("a changed limit", () => {
  test("lowered or raised, the store keeps what was used and never makes the key wait longer than before", async () => {
    for (let i = 0; i < 30; i++) expect((await (i % 2 ? here : there).admit("changed", { rpm: 30 })).ok).toBe(true);
    // 30 of 30: two seconds until one is left, a minute until full; at 3 rpm: 20 s until one is left, still a minute until full.
    const lowered = await there.admit("changed", { rpm: 3 });
    expect(lowered).toMatchObject({ ok: false, limit: "rpm", headers: { "x-ratelimit-limit-requests": "3", "x-ratelimit-remaining-requests": "0" } });
    if (!lowered.ok) expect(lowered.retryAfterMs).toBeGreaterThan(19_000);
    expect(lowered.headers["x-ratelimit-reset-requests"]).toMatch(/^(59(\.\d+)?s|1m0s)$/);
    const raised = await here.admit("changed", { rpm: 300 });
    expect(raised).toMatchObject({ ok: true, headers: { "x-ratelimit-remaining-requests": "269" } });
  });
});

describe("tokens per minute across two gateways", () => {
  test("tokens are charged when a request ends, and that blocks the next request at the other gateway", async () => {
    const tpm = 1000;
    const first = await here.admit("tokens", { tpm });
    expect(first).toMatchObject({ ok: true, headers: { "x-ratelimit-limit-tokens": "1000", "x-ratelimit-remaining-tokens": "1000" } });
    // Admitted while the budget is not spent: a second request starts before the first ends.
    const second = await there.admit("tokens", { tpm });
    expect(second.ok).toBe(true);
    if (!first.ok) return;
    first.lease.settle(1200);
    await until(async () => (await admin.exists("vllm-auth:limits:{tokens}:tpm")) === 1);
    const refused = await there.admit("tokens", { tpm });
    expect(refused).toMatchObject({ ok: false, limit: "tpm", headers: { "x-ratelimit-remaining-tokens": "0" } });
    if (refused.ok) return;
    // 1200 used of 1000: 201 tokens drain at 1000 a minute before one is left (12.06 s, less the time since).
    expect(refused.retryAfterMs).toBeGreaterThan(11_800);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(12_060);
    expect(refused.headers["retry-after"]).toBe("13");
    expect(refused.headers["x-ratelimit-reset-tokens"]).toMatch(/^1m1[12](\.\d+)?s$/);
  });
});

describe("concurrency across two gateways", () => {
  test("slots are shared, and a settled request frees its slot for the other gateway", async () => {
    const limits = { concurrency: 2 };
    const a = await here.admit("slots", limits);
    const b = await there.admit("slots", limits);
    expect([a.ok, b.ok]).toEqual([true, true]);
    const refusedHere = await here.admit("slots", limits);
    const refusedThere = await there.admit("slots", limits);
    expect(refusedHere).toMatchObject({ ok: false, limit: "concurrency", retryAfterMs: 1000, headers: { "retry-after": "1", "retry-after-ms": "1000" } });
    expect(refusedThere).toMatchObject({ ok: false, limit: "concurrency" });
    if (!b.ok || !a.ok) return;
    await there.settle(b.lease, 0);
    await until(async () => (await leasesHeld("slots")) === 1);
    const c = await here.admit("slots", limits);
    expect(c.ok).toBe(true);
    a.lease.settle(0);
    a.lease.settle(0); // a second settle is ignored: it must not free someone else's slot
    if (c.ok) c.lease.settle(0);
  });

  test("a running request keeps its slot past many lease periods: the gateway renews it", async () => {
    const held = await here.admit("renewed", { concurrency: 1 });
    expect(held.ok).toBe(true);
    await sleep(LEASE_MS * 3);
    expect(await there.admit("renewed", { concurrency: 1 })).toMatchObject({ ok: false, limit: "concurrency" });
    if (held.ok) held.lease.settle(0);
    await until(async () => (await leasesHeld("renewed")) === 0);
    const next = await there.admit("renewed", { concurrency: 1 });
    expect(next.ok).toBe(true);
    if (next.ok) await there.settle(next.lease, 0);
  });

  test("slots held by a gateway that dies without settling come back after one lease period", async () => {
    const dying = await GatewayProcess.start({ REDIS_URL: redis.url, LEASE_MS: String(LEASE_MS), TIMEOUT_MS: String(TIMEOUT_MS) });
    const limits = { concurrency: 2 };
    expect((await dying.admit("orphans", limits)).ok).toBe(true);
    expect((await dying.admit("orphans", limits)).ok).toBe(true);
    await dying.kill();
    const killedAt = Date.now();
    expect(await here.admit("orphans", limits)).toMatchObject({ ok: false, limit: "concurrency" });
    let freed: Admission | undefined;
    while (Date.now() - killedAt < LEASE_MS * 4) {
      const attempt = await here.admit("orphans", limits);
      if (attempt.ok) {
        freed = attempt;
        break;
      }
      await sleep(25);
    }
    expect(freed?.ok).toBe(true);
    // Not before the lease period (less the renewal period that may have passed before the kill).
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(LEASE_MS - LEASE_MS / 3 - 50);
    if (freed?.ok) freed.lease.settle(0);
  });
});

describe("the store's clock decides", () => {
  test("two gateways whose clocks are an hour apart agree on the same bucket", async () => {
    const real = Date.now;
    const ahead = jest.spyOn(Date, "now").mockImplementation(() => real() + 3_600_000);
    const fast = await here.admit("clock", { rpm: 2 });
    ahead.mockImplementation(() => real() - 3_600_000);
    const slow = await here.admit("clock", { rpm: 2 });
    const refused = await here.admit("clock", { rpm: 2 });
    ahead.mockRestore();
    expect([fast.ok, slow.ok, refused.ok]).toEqual([true, true, false]);
    // The other process, with its own clock, sees the same state.
    const remote = await there.admit("clock", { rpm: 2 });
    expect(remote).toMatchObject({ ok: false, limit: "rpm" });
    if (refused.ok || remote.ok) return;
    expect(Math.abs(refused.retryAfterMs - remote.retryAfterMs)).toBeLessThan(1000);
    // The state the store keeps is stamped with its own TIME, not either gateway's.
    const [value] = await admin.mget("vllm-auth:limits:{clock}:rpm");
    const [seconds] = await admin.time();
    const stamp = Number(value?.split(" ")[1]) / 1e6;
    expect(Math.abs(stamp - Number(seconds))).toBeLessThan(5);
  });
});

describe("store traffic", () => {
  test("a key without limits never reaches the store; a key with one costs one script call", async () => {
    await admin.config("RESETSTAT");
    for (let i = 0; i < 100; i++) {
      const admission = await here.admit("free", {});
      expect(admission).toMatchObject({ ok: true, headers: {} });
      if (admission.ok) admission.lease.settle(100);
    }
    await sleep(50);
    const none = await admin.info("commandstats");
    expect(none).not.toMatch(/cmdstat_(evalsha|eval|get|set|zadd)/);
    expect((await here.admit("limited", { rpm: 5 })).ok).toBe(true);
    const one = await admin.info("commandstats");
    const calls = [...one.matchAll(/cmdstat_(evalsha|eval):calls=(\d+)/g)].reduce((sum, m) => sum + Number(m[2]), 0);
    expect(calls).toBe(1);
  });

  test("an idle key leaves nothing in the store once its buckets have drained", async () => {
    expect((await here.admit("short-lived", { rpm: 60_000 })).ok).toBe(true);
    const ttl = await admin.pttl("vllm-auth:limits:{short-lived}:rpm");
    // One request of 60000 a minute drains in 1 ms; the key is kept one second more.
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1001);
  });
});
