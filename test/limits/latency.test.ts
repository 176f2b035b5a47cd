/**
 * What the limits add to a request at the gateway: `admit` against a local redis-server, one call
 * at a time (each request waits for its own), with every limit set and each lease settled as
 * responses end, next to a bare PING on the same server (the floor) and to per-gateway limits
 * without a store. The issue asks for <= 1 ms p50; the bound asserted here is looser because CI
 * machines are shared, and the figures are printed for the record.
 */
import Redis from "ioredis";
import { createLimiter } from "../../proxy/src/limits";
import { RedisServer } from "./redis-server";

const CALLS = Number(process.env.LIMITS_LATENCY_CALLS ?? "3000");
const WARMUP = 300;

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis?.stop();
});

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

type Call = (i: number) => Promise<unknown>;

/** Runs the calls in turn, one of each per round, so that all of them see the same machine load. */
async function measure(calls: Readonly<Record<string, Call>>): Promise<Record<string, { p50: number; p99: number }>> {
  const names = Object.keys(calls);
  const samples = new Map<string, number[]>(names.map((name) => [name, []]));
  for (let i = 0; i < WARMUP + CALLS; i++) {
    for (const name of names) {
      const start = performance.now();
      await calls[name](i);
      if (i >= WARMUP) samples.get(name)?.push(performance.now() - start);
    }
  }
  return Object.fromEntries(
    names.map((name) => {
      const sorted = (samples.get(name) ?? []).sort((a, b) => a - b);
      return [name, { p50: percentile(sorted, 50), p99: percentile(sorted, 99) }];
    }),
  );
}

const ms = (x: number): string => `${x.toFixed(3)} ms`;

test(`admit latency over ${CALLS} calls against a local redis-server`, async () => {
  let markUp: () => void = () => undefined;
  const up = new Promise<void>((resolve) => (markUp = resolve));
  const limiter = createLimiter({ redisUrl: redis.url, timeoutMs: 100, gatewayReplicas: 2, events: { storeUp: (isUp) => isUp && markUp() } });
  await up;
  const local = createLimiter({ timeoutMs: 100, gatewayReplicas: 2 });
  const bare = new Redis(redis.url, { lazyConnect: true });
  await bare.connect();
  const limits = { rpm: 1_000_000, tpm: 100_000_000, concurrency: 10_000 };

  const figures = await measure({
    all: async (i) => {
      const admission = await limiter.admit(`key-${i % 10}`, limits);
      if (!admission.ok) throw new Error(`refused: ${admission.limit}`);
      admission.lease.settle(150);
    },
    rpm: async (i) => {
      const admission = await limiter.admit(`rpm-${i % 10}`, { rpm: 1_000_000 });
      if (!admission.ok) throw new Error(`refused: ${admission.limit}`);
    },
    // The floor: one bare round trip to the same server from the same client library.
    ping: () => bare.ping(),
    local: async (i) => {
      const admission = await local.admit(`key-${i % 10}`, limits);
      if (!admission.ok) throw new Error(`refused: ${admission.limit}`);
      admission.lease.settle(150);
    },
  });
  await limiter.close();
  await local.close();
  bare.disconnect();

  const line = (label: string, f: { p50: number; p99: number }): string => `  ${label.padEnd(42)} p50 ${ms(f.p50)}  p99 ${ms(f.p99)}`;
  process.stdout.write(
    [
      `limits admit latency, ${CALLS} calls of each kind in turn after ${WARMUP} warm-up, local redis-server:`,
      line("admit, rpm + tpm + concurrency, settled:", figures.all),
      line("admit, rpm only:", figures.rpm),
      line("bare PING (the round-trip floor):", figures.ping),
      line("per-gateway limits (no store):", figures.local),
      "",
    ].join("\n"),
  );
  // Generous: the target is 1 ms p50 on a gateway pod; a shared 2-core CI machine gets 5x that.
  expect(figures.all.p50).toBeLessThan(5);
  expect(figures.all.p99).toBeLessThan(50);
  expect(figures.local.p50).toBeLessThan(0.5);
}, 120_000);
