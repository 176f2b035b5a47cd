/**
 * What the limits add to a request at the gateway: `admit` against a local redis-server, one call
 * at a time (each request waits for its own), with every limit set and each lease settled as
 * responses end. The issue asks for <= 1 ms p50; the bound asserted here is looser because CI
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

async function measure(call: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < WARMUP; i++) await call(i);
  const samples: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const start = performance.now();
    await call(i);
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

const ms = (x: number): string => `${x.toFixed(3)} ms`;

test(`admit latency over ${CALLS} calls against a local redis-server`, async () => {
  let markUp: () => void = () => undefined;
  const up = new Promise<void>((resolve) => (markUp = resolve));
  const limiter = createLimiter({ redisUrl: redis.url, timeoutMs: 100, gatewayReplicas: 2, events: { storeUp: (isUp) => isUp && markUp() } });
  await up;
  const fallbacks: string[] = [];
  const limits = { rpm: 1_000_000, tpm: 100_000_000, concurrency: 10_000 };
  const admitted = await measure(async (i) => {
    const admission = await limiter.admit(`key-${i % 10}`, limits);
    if (!admission.ok) throw new Error(`refused: ${admission.limit}`);
    admission.lease.settle(150);
  });
  const rpmOnly = await measure(async (i) => {
    const admission = await limiter.admit(`rpm-${i % 10}`, { rpm: 1_000_000 });
    if (admission.ok) admission.lease.settle(150);
  });
  await limiter.close();

  // The floor: one bare round trip to the same server from the same client library.
  const bare = new Redis(redis.url, { lazyConnect: true });
  await bare.connect();
  const ping = await measure(() => bare.ping());
  bare.disconnect();

  const local = createLimiter({ timeoutMs: 100, gatewayReplicas: 2, events: { fallback: (name) => fallbacks.push(name) } });
  const perGateway = await measure(async (i) => {
    const admission = await local.admit(`key-${i % 10}`, limits);
    if (admission.ok) admission.lease.settle(150);
  });
  await local.close();

  process.stdout.write(
    [
      `limits admit latency, ${CALLS} sequential calls after ${WARMUP} warm-up, local redis-server:`,
      `  admit, rpm + tpm + concurrency, settled: p50 ${ms(admitted.p50)}  p99 ${ms(admitted.p99)}`,
      `  admit, rpm only:                         p50 ${ms(rpmOnly.p50)}  p99 ${ms(rpmOnly.p99)}`,
      `  bare PING (the round-trip floor):        p50 ${ms(ping.p50)}  p99 ${ms(ping.p99)}`,
      `  per-gateway fallback (no store):         p50 ${ms(perGateway.p50)}  p99 ${ms(perGateway.p99)}`,
      "",
    ].join("\n"),
  );
  expect(fallbacks).toHaveLength(CALLS + WARMUP);
  // Generous: the target is 1 ms p50 on a gateway pod; a shared 2-core CI machine gets 5x that.
  expect(admitted.p50).toBeLessThan(5);
  expect(admitted.p99).toBeLessThan(50);
  expect(perGateway.p50).toBeLessThan(0.5);
}, 120_000);
