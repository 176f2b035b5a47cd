/** The bench's verdicts: each target passes on figures that meet it and is a MISS otherwise, and no earlier target is dropped. */
import type { FloodResult } from "../../bench/flood-protocol";
import type { FloodPhase } from "../../bench/flood-row";
import { checks, checksTable, computeFigures, floodChecks, limitsCheck, mainTable, spreadDeviation, tierChecks, type Collected } from "../../bench/report";
import { emptyCollected } from "../../bench/rounds";
import type { LimitsRun } from "../../bench/tier-rows";
import type { RateRun } from "../../bench/workloads";

/** `n` latencies spread evenly from `low` to `high` ms: p50 near the middle, p99 near `high`. */
const spread = (n: number, low: number, high: number): number[] => Array.from({ length: n }, (_, i) => low + ((high - low) * i) / (n - 1));

const run = (samples: number[], over: Partial<RateRun> = {}): RateRun => ({
  samples,
  requests: samples.length,
  seconds: 4,
  failures: 0,
  cpuSeconds: 0,
  ...over,
});

const floodResult: FloodResult = { mode: "pipeline", seconds: 4.5, written: 9000, statuses: { "200": 4000, "503": 500 }, opened: 600, closedByServer: 500, connectErrors: 0 };

const phase = (samples: number[], rssPeakMb: number | undefined, failures = 0): FloodPhase => ({
  auth: run(samples, { failures }),
  flood: floodResult,
  rssPeakMb,
});

/** The proxy's flood row: 10 ms p99 alone; under each flood `factor` times that. */
function withFlood(data: Collected, factor: number, rssPeakMb: number | undefined, failures = 0): Collected {
  const base = spread(1000, 1, 10);
  data.flood.proxy.baseline.push(run(base));
  data.flood.proxy.pipeline.push(phase(base.map((ms) => ms * factor), rssPeakMb, failures));
  data.flood.proxy.connections.push(phase(base.map((ms) => ms * factor), rssPeakMb));
  return data;
}

describe("issue 9: authenticated chat under an unauthenticated flood", () => {
  test("p99 within 2x its no-flood p99, no error and RSS under 150 MB: every flood target passes", () => {
    const list = floodChecks(computeFigures(withFlood(emptyCollected(), 1.9, 120)));
    expect(list.map((c) => [c.row, c.target, c.pass])).toEqual([
      ["flood, pipelining", "auth chat p99 <= 2x its p99 without flood", true],
      ["flood, many conns", "auth chat p99 <= 2x its p99 without flood", true],
      ["flood, both", "0 authenticated errors", true],
      ["flood, both", "RSS <= 150 MB under the flood", true],
    ]);
    expect(list[0].measured).toBe("1.90x (18.83 vs 9.91 ms)");
  });

  test("p99 at 2.5x is a MISS; so is one failed authenticated request, and RSS above 150 MB or never sampled", () => {
    expect(floodChecks(computeFigures(withFlood(emptyCollected(), 2.5, 120))).map((c) => c.pass)).toEqual([false, false, true, true]);
    const failed = floodChecks(computeFigures(withFlood(emptyCollected(), 1, 120, 1)));
    expect(failed[2]).toMatchObject({ pass: false, measured: expect.stringMatching(/^1 of /) });
    expect(floodChecks(computeFigures(withFlood(emptyCollected(), 1, 151)))[3].pass).toBe(false);
    expect(floodChecks(computeFigures(withFlood(emptyCollected(), 1, undefined)))[3].pass).toBe(false);
  });

  test("a row that was not measured is never a pass", () => {
    expect(floodChecks(computeFigures(emptyCollected())).every((c) => !c.pass)).toBe(true);
  });
});

/** Two tiers measured: models latency added, chat CPU, aborts, slow streams, balancing. */
function withTiers(over: { addedP50?: number; addedP99?: number; cpuUs?: number; abortMs?: number; streamErrors?: number; perReplica?: number[]; connections?: number } = {}): Collected {
  const data = emptyCollected();
  const direct = spread(1000, 0.1, 0.3);
  const addedP50 = over.addedP50 ?? 0.2;
  const addedP99 = over.addedP99 ?? 1;
  data.latency.direct.push(run(direct));
  // Every sample later by the added p50; the slowest 2% later by the added p99.
  data.latency.tiers.push(run(direct.map((ms, i) => ms + (i >= 980 ? addedP99 : addedP50))));
  // CPU per request: nginx 100 µs, the two tiers `cpuUs` (1000 requests each).
  data.chat.nginx.push(run(spread(1000, 1, 2), { cpuSeconds: 0.1 }));
  data.chat.tiers.push(run(spread(1000, 1, 2), { cpuSeconds: (over.cpuUs ?? 250) / 1000 }));
  for (let i = 0; i < 100; i++) data.aborts.tiers.push({ closeMs: i === 0 ? (over.abortMs ?? 3) : 1, error: undefined });
  data.many.tiers = {
    streams: 1000,
    completed: 1000 - (over.streamErrors ?? 0),
    errors: over.streamErrors ?? 0,
    errorKinds: {},
    queued: 0,
    peakUpstreamOpen: 1000,
    rssBeforeMb: 100,
    rssPeakMb: 160,
    hwmMb: 170,
    seconds: 7,
  };
  data.balance.push({ requests: 300, perReplica: over.perReplica ?? [100, 100, 100], failures: 0, clientConnections: over.connections ?? 1 });
  return data;
}

describe("issue 11: the two tiers", () => {
  test("within every target: all pass, and the CPU check names the throughput", () => {
    const list = tierChecks(computeFigures(withTiers()));
    expect(list.map((c) => [c.row, c.target, c.pass])).toEqual([
      ["models, two tiers", "added p50 <= 0.4 ms", true],
      ["models, two tiers", "added p99 <= 2 ms", true],
      ["chat, two tiers", "CPU/request, both hops, <= 3x nginx", true],
      ["slow streams, two tiers", "0 errors", true],
      ["client aborts, two tiers", "all within 100 ms", true],
      ["balancing, 3 replicas", "spread within 10% of even", true],
    ]);
    expect(list[2].measured).toBe("2.50x at 250 req/s");
  });

  test.each([
    ["added p50 0.5 ms", { addedP50: 0.5 }, 0],
    ["added p99 2.5 ms", { addedP99: 2.5 }, 1],
    ["CPU 3.2x nginx's", { cpuUs: 320 }, 2],
    ["one stream failed", { streamErrors: 1 }, 3],
    ["one abort took 150 ms", { abortMs: 150 }, 4],
    ["115/100/85 over the replicas", { perReplica: [115, 100, 85] }, 5],
    ["an even spread over two client connections", { connections: 2 }, 5],
  ])("%s: that target is a MISS, the others pass", (_name, over, missed) => {
    const list = tierChecks(computeFigures(withTiers(over)));
    expect(list.map((c) => c.pass)).toEqual(list.map((_c, i) => i !== missed));
  });

  test("the spread over replicas: the largest distance from an even share", () => {
    expect(spreadDeviation([20, 20, 20])).toBe(0);
    expect(spreadDeviation([22, 20, 18])).toBeCloseTo(0.1);
    expect(spreadDeviation([30, 15, 15])).toBeCloseTo(0.5);
    expect(spreadDeviation([0, 0, 0])).toBeNaN();
  });
});

const limitsRun = (addedMs: number, over: Partial<LimitsRun> = {}): LimitsRun => {
  const plain = spread(500, 1, 2);
  return { plain, limited: plain.map((ms) => ms + addedMs), failures: 0, limitedWithHeaders: 500, storeUp: true, storeErrors: 0, fallbacks: 0, ...over };
};

describe("issue 13: what per-key limits add at the gateway", () => {
  const check = (runs: LimitsRun[]) => {
    const data = emptyCollected();
    data.limits.push(...runs);
    return limitsCheck(computeFigures(data).limits);
  };

  test("0.4 ms added at p50 with the store up passes; 1.2 ms is a MISS", () => {
    expect(check([limitsRun(0.4), limitsRun(0.4)])).toMatchObject({ row: "key limits, gateway", target: "added p50 <= 1 ms (Redis)", measured: "0.400 ms", pass: true });
    expect(check([limitsRun(1.2)]).pass).toBe(false);
  });

  test("a cheap figure does not count when the store was down, requests fell back, or limited answers carried no rate-limit headers", () => {
    expect(check([limitsRun(0.1, { storeUp: false })])).toMatchObject({ pass: false, measured: "0.100 ms (store not up)" });
    expect(check([limitsRun(0.1, { fallbacks: 3 })])).toMatchObject({ pass: false, measured: "0.100 ms (3 fell back to per-gateway limits)" });
    expect(check([limitsRun(0.1, { limitedWithHeaders: 499 })])).toMatchObject({ pass: false, measured: "0.100 ms (1 limited answers without x-ratelimit headers)" });
    expect(check([]).pass).toBe(false);
  });
});

describe("the report as a whole", () => {
  test("every earlier row keeps its target, and the new rows come after them", () => {
    const targets = checks(computeFigures(emptyCollected())).map((c) => `${c.row}: ${c.target}`);
    expect(targets.slice(0, 9)).toEqual([
      "models, 1 conn: added p50 <= 0.2 ms",
      "models, 1 conn: added p99 <= 1 ms",
      "chat, 50 conns: CPU/request <= 2x nginx",
      "chat, 50 conns: p99 <= nginx p99 + 1 ms",
      "stream delay: p99 <= 2 ms",
      "stream delay: 0 coalesced reads",
      "client aborts: all within 100 ms",
      "slow streams: 0 errors",
      "slow streams: RSS <= 150 MB",
    ]);
    expect(targets).toHaveLength(9 + 4 + 6 + 1);
  });

  test("the figures table has a two-tier column and a line for each new row; the gateway-only rows show a dash elsewhere", () => {
    const data = withTiers();
    data.limits.push(limitsRun(0.4));
    const text = mainTable(computeFigures(withFlood(data, 1.5, 100)));
    const lines = text.split("\n");
    expect(lines[0]).toBe("| workload | measure | direct | our proxy | nginx (seed config) | two tiers (gateway + sidecar) |");
    for (const row of ["`POST /v1/chat/completions`, 1 connection", "authenticated chat, steady rate, no flood", "… while 4 connections pipeline", "… while many connections send"]) {
      expect(lines.some((line) => line.startsWith(`| ${row}`))).toBe(true);
    }
    const limits = lines.find((line) => line.startsWith("| chat, 1 connection, key with rpm + tpm + concurrency"));
    expect(limits?.split(" | ").slice(2, 5)).toEqual(["—", "—", "—"]);
    expect(limits).toContain("+0.400 / +0.400 ms");
    expect(lines.find((line) => line.startsWith("| slow requests over 1 client connection"))).toContain("100 / 100 / 100 of 300 (0.0% off even), 1 client connection |");
    const proxyFlood = lines.find((line) => line.startsWith("| … while 4 connections pipeline"))?.split(" | ")[3];
    expect(proxyFlood).toBe("p99 14.86 ms (1.50x), 250 answered/s, 0 failed; flood 2.0k req/s sent: 889/s 200, 111/s 503, 111/s conns closed; RSS peak 100 MB");
  });

  test("a fast /v1/models row with shed requests is a MISS, for the proxy and the two tiers: its latencies are of the answered ones only", () => {
    const data = emptyCollected();
    const direct = spread(1000, 0.1, 0.3);
    data.latency.direct.push(run(direct));
    data.latency.proxy.push(run(direct.map((ms) => ms + 0.05), { failures: 40, requests: 1040 }));
    data.latency.tiers.push(run(direct.map((ms) => ms + 0.05), { failures: 7, requests: 1007 }));
    const figures = computeFigures(data);
    const models = checks(figures).filter((c) => c.row === "models, 1 conn" || c.row === "models, two tiers");
    expect(models.map((c) => c.pass)).toEqual([false, false, false, false]);
    expect(models[0].measured).toBe("0.050 ms, 40 of 1040 failed");
    expect(models[2].measured).toBe("0.050 ms, 7 of 1007 failed");
    expect(mainTable(figures).split("\n")[2]).toContain("| +0.050 / +0.050 ms, 40 of 1040 failed |");
  });

  test("a MISS stands out in the targets table", () => {
    const table = checksTable(tierChecks(computeFigures(withTiers({ cpuUs: 400 }))));
    expect(table).toContain("| chat, two tiers | CPU/request, both hops, <= 3x nginx | 4.00x at 250 req/s | **MISS** |");
  });
});
