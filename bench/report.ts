/** Turns the collected runs into figures, target checks, the stdout table and bench/results.md. */
import { FLOOD_MODES, floodRates, mergeFloodResults, type FloodMode, type FloodResult } from "./flood-protocol";
import type { FloodPhase } from "./flood-row";
import type { StreamOutcome } from "./sse-client";
import { fmt, summarize, type Summary } from "./stats";
import type { BalanceRun, LimitsRun } from "./tier-rows";
import { QUEUED_MS, type AbortTrial, type ManyStreamsRun, type RateRun, type TargetName } from "./workloads";

export const TARGETS: readonly TargetName[] = ["direct", "proxy", "nginx", "tiers"];

export const TARGET_LABELS: Readonly<Record<TargetName, string>> = {
  direct: "direct",
  proxy: "our proxy",
  nginx: "nginx (seed config)",
  tiers: "two tiers (gateway + sidecar)",
};

export type PerTarget<T> = Record<TargetName, T>;

/** The flood row of one target: the steady authenticated client alone, then under each flood. */
export interface FloodRuns {
  readonly baseline: RateRun[];
  readonly pipeline: FloodPhase[];
  readonly connections: FloodPhase[];
}

export interface Collected {
  readonly latency: PerTarget<RateRun[]>;
  readonly chatLatency: PerTarget<RateRun[]>;
  readonly chat: PerTarget<RateRun[]>;
  readonly flood: PerTarget<FloodRuns>;
  readonly delay: PerTarget<StreamOutcome[]>;
  readonly aborts: PerTarget<AbortTrial[]>;
  readonly many: Partial<PerTarget<ManyStreamsRun>>;
  /** Per round, at the two-tier target's gateway. */
  readonly limits: LimitsRun[];
  /** The balancing row (run once). */
  readonly balance: BalanceRun[];
}

export interface Machine {
  readonly cores: number;
  readonly cpuModel: string;
  readonly node: string;
  readonly nginx: string;
  readonly kernel: string;
  readonly date: string;
  readonly command: string;
  readonly loadBefore: readonly number[];
  readonly pinning: string;
  readonly proxy: string;
  readonly settings: string;
  /** Said first, under the heading: e.g. that a quick run's figures are noisy. */
  readonly notice?: string;
}

export interface Check {
  readonly row: string;
  readonly target: string;
  readonly measured: string;
  readonly pass: boolean;
}

export interface FloodPhaseFigures {
  readonly auth: Summary;
  readonly requests: number;
  /** Authenticated requests answered per second (the client asks for a steady rate; a stalled front answers fewer). */
  readonly rps: number;
  readonly failures: number;
  /** Authenticated p99 under this flood / p99 without a flood (same target, same run). */
  readonly p99Ratio: number;
  readonly rssPeakMb: number | undefined;
  /** The flood's own counts, rounds pooled. */
  readonly flood: FloodResult;
}

export interface FloodFigures {
  readonly baseline: Summary;
  readonly baselineRequests: number;
  readonly baselineRps: number;
  readonly baselineFailures: number;
  readonly phases: Readonly<Record<FloodMode, FloodPhaseFigures>>;
  /** p99 per round, ms: without a flood, and under each. */
  readonly roundsP99: { readonly baseline: number[]; readonly pipeline: number[]; readonly connections: number[] };
}

export interface LimitsFigures {
  readonly pairs: number;
  readonly plain: Summary;
  readonly limited: Summary;
  /** Limited p50 − plain p50 (and p99), all rounds pooled, ms. */
  readonly addedP50: number;
  readonly addedP99: number;
  readonly roundsAddedP50: number[];
  readonly failures: number;
  readonly limitedWithHeaders: number;
  readonly storeUp: boolean;
  readonly storeErrors: number;
  readonly fallbacks: number;
}

export interface BalanceFigures {
  readonly requests: number;
  readonly perReplica: readonly number[];
  /** Largest |served − even share| / even share over the replicas. */
  readonly maxDeviation: number;
  readonly failures: number;
  readonly clientConnections: number;
}

export interface Figures {
  readonly latency: PerTarget<Summary>;
  /** Non-2xx answers and errors of the `/v1/models` row (a shed request is not a fast one). */
  readonly latencyFailures: PerTarget<{ readonly failures: number; readonly requests: number }>;
  /** Per round: [p50, p99] added over direct's in the same round. */
  readonly latencyRoundsAdded: PerTarget<Array<[number, number]>>;
  readonly chatLatency: PerTarget<Summary>;
  readonly chatLatencyFailures: PerTarget<{ readonly failures: number; readonly requests: number }>;
  readonly chatLatencyRoundsAdded: PerTarget<Array<[number, number]>>;
  readonly flood: PerTarget<FloodFigures>;
  readonly limits: LimitsFigures;
  readonly balance: BalanceFigures | undefined;
  readonly chatRoundsP99: PerTarget<number[]>;
  readonly delayStreamsP99: PerTarget<number[]>;
  readonly chat: PerTarget<{ rps: number; p99: number; p50: number; cpuUs: number; failures: number; requests: number }>;
  readonly delay: PerTarget<{ delays: Summary; events: number; reads: number; coalesced: number; errors: number }>;
  readonly aborts: PerTarget<{ trials: number; within: number; closes: Summary; missed: number; errors: number }>;
  readonly many: Partial<PerTarget<ManyStreamsRun>>;
}

export const ABORT_LIMIT_MS = 100;
/** Issue 9: the authenticated p99 under a flood, at most this many times the p99 without one. */
export const FLOOD_P99_FACTOR = 2;
export const RSS_LIMIT_MB = 150;
/** Issue 11: the balancing row's spread, within this fraction of an even share. */
export const BALANCE_TOLERANCE = 0.1;
/** Issue 13: what the limits may add at the gateway, p50, ms. */
export const LIMITS_ADDED_P50_MS = 1;

const byTarget = <T>(make: (name: TargetName) => T): PerTarget<T> => ({ direct: make("direct"), proxy: make("proxy"), nginx: make("nginx"), tiers: make("tiers") });

const pooled = (runs: readonly RateRun[]): Summary => summarize(runs.flatMap((run) => run.samples));
const sumOf = <T>(items: readonly T[], pick: (item: T) => number): number => items.reduce((total, item) => total + pick(item), 0);

/** Per round, [p50, p99] of each target's runs minus direct's in the same round. */
function roundsAdded(runs: PerTarget<RateRun[]>): PerTarget<Array<[number, number]>> {
  const perRound = (t: TargetName): Summary[] => runs[t].map((run) => summarize(run.samples));
  return byTarget((t) =>
    perRound(t).map((s, i): [number, number] => {
      const base = perRound("direct")[i];
      return base === undefined ? [Number.NaN, Number.NaN] : [s.p50 - base.p50, s.p99 - base.p99];
    }),
  );
}

function floodFigures(runs: FloodRuns): FloodFigures {
  const baseline = pooled(runs.baseline);
  const phase = (mode: FloodMode): FloodPhaseFigures => {
    const phases = runs[mode];
    const auth = pooled(phases.map((p) => p.auth));
    const peaks = phases.flatMap((p) => (p.rssPeakMb === undefined ? [] : [p.rssPeakMb]));
    const requests = sumOf(phases, (p) => p.auth.requests);
    const seconds = sumOf(phases, (p) => p.auth.seconds);
    return {
      auth,
      requests,
      rps: seconds > 0 ? requests / seconds : Number.NaN,
      failures: sumOf(phases, (p) => p.auth.failures),
      p99Ratio: auth.p99 / baseline.p99,
      rssPeakMb: peaks.length === 0 ? undefined : Math.max(...peaks),
      flood: mergeFloodResults(mode, phases.map((p) => p.flood)),
    };
  };
  return {
    baseline,
    baselineRequests: sumOf(runs.baseline, (r) => r.requests),
    baselineRps: (() => {
      const seconds = sumOf(runs.baseline, (r) => r.seconds);
      return seconds > 0 ? sumOf(runs.baseline, (r) => r.requests) / seconds : Number.NaN;
    })(),
    baselineFailures: sumOf(runs.baseline, (r) => r.failures),
    phases: { pipeline: phase("pipeline"), connections: phase("connections") },
    roundsP99: {
      baseline: runs.baseline.map((r) => summarize(r.samples).p99),
      pipeline: runs.pipeline.map((p) => summarize(p.auth.samples).p99),
      connections: runs.connections.map((p) => summarize(p.auth.samples).p99),
    },
  };
}

function limitsFigures(runs: readonly LimitsRun[]): LimitsFigures {
  const plain = summarize(runs.flatMap((r) => r.plain));
  const limited = summarize(runs.flatMap((r) => r.limited));
  return {
    pairs: Math.max(plain.n, limited.n),
    plain,
    limited,
    addedP50: limited.p50 - plain.p50,
    addedP99: limited.p99 - plain.p99,
    roundsAddedP50: runs.map((r) => summarize(r.limited).p50 - summarize(r.plain).p50),
    failures: sumOf(runs, (r) => r.failures),
    limitedWithHeaders: sumOf(runs, (r) => r.limitedWithHeaders),
    storeUp: runs.length > 0 && runs.every((r) => r.storeUp),
    storeErrors: sumOf(runs, (r) => r.storeErrors),
    fallbacks: sumOf(runs, (r) => r.fallbacks),
  };
}

/** The largest relative distance of a replica's count from an even share (0 = perfectly even). */
export function spreadDeviation(perReplica: readonly number[]): number {
  const total = perReplica.reduce((sum, n) => sum + n, 0);
  if (perReplica.length === 0 || total === 0) return Number.NaN;
  const even = total / perReplica.length;
  return Math.max(...perReplica.map((n) => Math.abs(n - even) / even));
}

function balanceFigures(runs: readonly BalanceRun[]): BalanceFigures | undefined {
  if (runs.length === 0) return undefined;
  const width = Math.max(...runs.map((r) => r.perReplica.length));
  const perReplica = Array.from({ length: width }, (_, i) => sumOf(runs, (r) => r.perReplica[i] ?? 0));
  return {
    requests: sumOf(runs, (r) => r.requests),
    perReplica,
    maxDeviation: spreadDeviation(perReplica),
    failures: sumOf(runs, (r) => r.failures),
    clientConnections: sumOf(runs, (r) => r.clientConnections),
  };
}

export function computeFigures(data: Collected): Figures {
  const latency = byTarget((t) => pooled(data.latency[t]));
  const failuresOf = (runs: PerTarget<RateRun[]>) => byTarget((t) => ({ failures: sumOf(runs[t], (r) => r.failures), requests: sumOf(runs[t], (r) => r.requests) }));
  const latencyFailures = failuresOf(data.latency);
  const latencyRoundsAdded = roundsAdded(data.latency);
  const chatLatency = byTarget((t) => pooled(data.chatLatency[t]));
  const chatLatencyRoundsAdded = roundsAdded(data.chatLatency);
  const chatRoundsP99 = byTarget((t) => data.chat[t].map((run) => summarize(run.samples).p99));
  const delayStreamsP99 = byTarget((t) => data.delay[t].map((run) => summarize(run.delays).p99));
  const chat = byTarget((t) => {
    const runs = data.chat[t];
    const requests = runs.reduce((sum, run) => sum + run.requests, 0);
    const seconds = runs.reduce((sum, run) => sum + run.seconds, 0);
    const cpu = runs.reduce((sum, run) => sum + run.cpuSeconds, 0);
    const latencies = summarize(runs.flatMap((run) => run.samples));
    return {
      rps: seconds === 0 ? Number.NaN : requests / seconds,
      p50: latencies.p50,
      p99: latencies.p99,
      cpuUs: requests === 0 ? Number.NaN : (cpu * 1e6) / requests,
      failures: runs.reduce((sum, run) => sum + run.failures, 0),
      requests,
    };
  });
  const delay = byTarget((t) => {
    const runs = data.delay[t];
    return {
      delays: summarize(runs.flatMap((run) => run.delays)),
      events: runs.reduce((sum, run) => sum + run.events, 0),
      reads: runs.reduce((sum, run) => sum + run.reads, 0),
      coalesced: runs.reduce((sum, run) => sum + run.coalescedReads, 0),
      errors: runs.filter((run) => run.error !== undefined).length,
    };
  });
  const aborts = byTarget((t) => {
    const trials = data.aborts[t];
    const closes = trials.flatMap((trial) => (trial.closeMs === undefined ? [] : [trial.closeMs]));
    return {
      trials: trials.length,
      within: closes.filter((ms) => ms <= ABORT_LIMIT_MS).length,
      closes: summarize(closes),
      missed: trials.filter((trial) => trial.closeMs === undefined && trial.error === undefined).length,
      errors: trials.filter((trial) => trial.error !== undefined).length,
    };
  });
  return {
    latency,
    latencyFailures,
    latencyRoundsAdded,
    chatLatency,
    chatLatencyFailures: failuresOf(data.chatLatency),
    chatLatencyRoundsAdded,
    flood: byTarget((t) => floodFigures(data.flood[t])),
    limits: limitsFigures(data.limits),
    balance: balanceFigures(data.balance),
    chatRoundsP99,
    delayStreamsP99,
    chat,
    delay,
    aborts,
    many: data.many,
  };
}

export function checks(f: Figures): Check[] {
  const addedP50 = f.latency.proxy.p50 - f.latency.direct.p50;
  const addedP99 = f.latency.proxy.p99 - f.latency.direct.p99;
  const cpuRatio = f.chat.proxy.cpuUs / f.chat.nginx.cpuUs;
  const p99Gap = f.chat.proxy.p99 - f.chat.nginx.p99;
  const many = f.many.proxy;
  return [
    { row: "models, 1 conn", target: "added p50 <= 0.2 ms", measured: `${fmt(addedP50, 3)} ms${failedNote(f, "proxy")}`, pass: addedP50 <= 0.2 && f.latencyFailures.proxy.failures === 0 },
    { row: "models, 1 conn", target: "added p99 <= 1 ms", measured: `${fmt(addedP99, 3)} ms${failedNote(f, "proxy")}`, pass: addedP99 <= 1 && f.latencyFailures.proxy.failures === 0 },
    { row: "chat, 50 conns", target: "CPU/request <= 2x nginx", measured: `${fmt(cpuRatio, 2)}x`, pass: cpuRatio <= 2 },
    { row: "chat, 50 conns", target: "p99 <= nginx p99 + 1 ms", measured: `${fmt(p99Gap, 2)} ms`, pass: p99Gap <= 1 && f.chat.proxy.failures === 0 },
    { row: "stream delay", target: "p99 <= 2 ms", measured: `${fmt(f.delay.proxy.delays.p99, 3)} ms`, pass: f.delay.proxy.delays.p99 <= 2 && f.delay.proxy.errors === 0 },
    { row: "stream delay", target: "0 coalesced reads", measured: `${f.delay.proxy.coalesced}`, pass: f.delay.proxy.coalesced === 0 },
    {
      row: "client aborts",
      target: `all within ${ABORT_LIMIT_MS} ms`,
      measured: `${f.aborts.proxy.within}/${f.aborts.proxy.trials}`,
      pass: f.aborts.proxy.trials > 0 && f.aborts.proxy.within === f.aborts.proxy.trials,
    },
    { row: "slow streams", target: "0 errors", measured: many === undefined ? "n/a" : `${many.errors}`, pass: many !== undefined && many.errors === 0 },
    {
      row: "slow streams",
      target: "RSS <= 150 MB",
      measured: many === undefined ? "n/a" : `${fmt(Math.max(many.rssPeakMb ?? 0, many.hwmMb ?? 0), 1)} MB`,
      pass: many !== undefined && Math.max(many.rssPeakMb ?? Infinity, many.hwmMb ?? Infinity) <= 150,
    },
    ...floodChecks(f),
    ...tierChecks(f),
    limitsCheck(f.limits),
  ];
}

/** ", N of M failed" when the `/v1/models` row had failures (the latencies are of the answered ones only). */
function failedNote(f: Pick<Figures, "latencyFailures">, t: TargetName, which: Pick<Figures, "latencyFailures">["latencyFailures"] = f.latencyFailures): string {
  const { failures, requests } = which[t];
  return failures > 0 ? `, ${failures} of ${requests} failed` : "";
}

const FLOOD_ROW: Readonly<Record<FloodMode, string>> = { pipeline: "flood, pipelining", connections: "flood, many conns" };

/** Issue 9, for our proxy: the authenticated client keeps its tail, gets no error, and memory stays bounded. */
export function floodChecks(f: Pick<Figures, "flood">): Check[] {
  const flood = f.flood.proxy;
  const ratioChecks = FLOOD_MODES.map((mode): Check => {
    const phase = flood.phases[mode];
    return {
      row: FLOOD_ROW[mode],
      target: `auth chat p99 <= ${FLOOD_P99_FACTOR}x its p99 without flood`,
      measured: `${fmt(phase.p99Ratio, 2)}x (${fmt(phase.auth.p99, 2)} vs ${fmt(flood.baseline.p99, 2)} ms)`,
      pass: phase.auth.n > 0 && flood.baseline.n > 0 && phase.p99Ratio <= FLOOD_P99_FACTOR,
    };
  });
  const errors = flood.baselineFailures + sumOf(FLOOD_MODES, (mode) => flood.phases[mode].failures);
  const answered = flood.baseline.n + sumOf(FLOOD_MODES, (mode) => flood.phases[mode].auth.n);
  const peaks = FLOOD_MODES.map((mode) => flood.phases[mode].rssPeakMb);
  const peak = peaks.some((p) => p === undefined) ? undefined : Math.max(...peaks.map((p) => p ?? Infinity));
  return [
    ...ratioChecks,
    { row: "flood, both", target: "0 authenticated errors", measured: `${errors} of ${answered + errors}`, pass: answered > 0 && errors === 0 },
    { row: "flood, both", target: `RSS <= ${RSS_LIMIT_MB} MB under the flood`, measured: `${fmt(peak, 1)} MB`, pass: peak !== undefined && peak <= RSS_LIMIT_MB },
  ];
}

/** Issue 11, for the two tiers (gateway + sidecar processes). */
export function tierChecks(f: Pick<Figures, "latency" | "latencyFailures" | "chat" | "aborts" | "many" | "balance">): Check[] {
  const addedP50 = f.latency.tiers.p50 - f.latency.direct.p50;
  const addedP99 = f.latency.tiers.p99 - f.latency.direct.p99;
  const cpuRatio = f.chat.tiers.cpuUs / f.chat.nginx.cpuUs;
  const many = f.many.tiers;
  const aborts = f.aborts.tiers;
  const balance = f.balance;
  const balanceMeasured =
    balance === undefined
      ? "n/a"
      : `${fmt(100 * balance.maxDeviation, 1)}% off (${balance.perReplica.join("/")} of ${balance.requests}` +
        `${balance.failures > 0 ? `, ${balance.failures} failed` : ""}${balance.clientConnections !== 1 ? `, ${balance.clientConnections} client connections` : ""})`;
  return [
    { row: "models, two tiers", target: "added p50 <= 0.4 ms", measured: `${fmt(addedP50, 3)} ms${failedNote(f, "tiers")}`, pass: addedP50 <= 0.4 && f.latencyFailures.tiers.failures === 0 },
    { row: "models, two tiers", target: "added p99 <= 2 ms", measured: `${fmt(addedP99, 3)} ms${failedNote(f, "tiers")}`, pass: addedP99 <= 2 && f.latencyFailures.tiers.failures === 0 },
    {
      row: "chat, two tiers",
      target: "CPU/request, both hops, <= 3x nginx",
      measured: `${fmt(cpuRatio, 2)}x at ${fmt(f.chat.tiers.rps, 0)} req/s`,
      pass: cpuRatio <= 3 && f.chat.tiers.failures === 0,
    },
    { row: "slow streams, two tiers", target: "0 errors", measured: many === undefined ? "n/a" : `${many.errors} of ${many.streams}`, pass: many !== undefined && many.errors === 0 },
    {
      row: "client aborts, two tiers",
      target: `all within ${ABORT_LIMIT_MS} ms`,
      measured: `${aborts.within}/${aborts.trials}`,
      pass: aborts.trials > 0 && aborts.within === aborts.trials,
    },
    {
      row: "balancing, 3 replicas",
      target: `spread within ${100 * BALANCE_TOLERANCE}% of even`,
      measured: balanceMeasured,
      pass: balance !== undefined && balance.maxDeviation <= BALANCE_TOLERANCE && balance.failures === 0 && balance.clientConnections === 1,
    },
  ];
}

/** Issue 13: the limits' cost at the gateway, valid only when the store answered and every limited answer was limited. */
export function limitsCheck(limits: LimitsFigures): Check {
  const problems = [
    ...(limits.storeUp ? [] : ["store not up"]),
    ...(limits.fallbacks > 0 ? [`${limits.fallbacks} fell back to per-gateway limits`] : []),
    ...(limits.limitedWithHeaders < limits.limited.n ? [`${limits.limited.n - limits.limitedWithHeaders} limited answers without x-ratelimit headers`] : []),
    ...(limits.failures > 0 ? [`${limits.failures} failed`] : []),
  ];
  return {
    row: "key limits, gateway",
    target: `added p50 <= ${LIMITS_ADDED_P50_MS} ms (Redis)`,
    measured: `${fmt(limits.addedP50, 3)} ms${problems.length > 0 ? ` (${problems.join("; ")})` : ""}`,
    pass: limits.limited.n > 0 && problems.length === 0 && limits.addedP50 <= LIMITS_ADDED_P50_MS,
  };
}

function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  return [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((row) => `| ${row.join(" | ")} |`)].join("\n");
}

function manyCell(run: ManyStreamsRun | undefined): string {
  if (run === undefined) return "n/a";
  const memory = run.rssPeakMb === undefined ? "" : `, RSS ${fmt(run.rssBeforeMb, 0)} → peak ${fmt(run.rssPeakMb, 0)} MB (VmHWM ${fmt(run.hwmMb, 0)})`;
  const queued = run.queued > 0 ? `, ${run.queued} held > ${QUEUED_MS / 1000} s before reaching the upstream (peak ${run.peakUpstreamOpen} open there)` : "";
  return `${run.errors} errors / ${run.streams}${queued}${memory}`;
}

/** Thousands as "12.3k". */
function rate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return "n/a";
  return perSecond >= 1000 ? `${fmt(perSecond / 1000, 1)}k` : fmt(perSecond, 0);
}

function floodCell(f: FloodFigures, mode: FloodMode): string {
  const phase = f.phases[mode];
  const r = floodRates(phase.flood);
  const failed = phase.failures > 0 ? `, **${phase.failures} failed**` : ", 0 failed";
  const rss = phase.rssPeakMb === undefined ? "" : `; RSS peak ${fmt(phase.rssPeakMb, 0)} MB`;
  return (
    `p99 ${fmt(phase.auth.p99, 2)} ms (${fmt(phase.p99Ratio, 2)}x), ${fmt(phase.rps, 0)} answered/s${failed}; ` +
    `flood ${rate(r.writtenPerSecond)} req/s sent: ${rate(r.okPerSecond)}/s 200, ${rate(r.shedPerSecond)}/s 503, ${rate(r.closedPerSecond)}/s conns closed${rss}`
  );
}

/** The main table: one line per workload, the targets side by side. */
export function mainTable(f: Figures): string {
  const added = (summary: PerTarget<Summary>, t: TargetName, failed = ""): string =>
    t === "direct"
      ? `${fmt(summary.direct.p50, 3)} / ${fmt(summary.direct.p99, 3)} ms (baseline)${failed}`
      : `+${fmt(summary[t].p50 - summary.direct.p50, 3)} / +${fmt(summary[t].p99 - summary.direct.p99, 3)} ms${failed}`;
  const chat = (t: TargetName): string => {
    const c = f.chat[t];
    const rel = t === "direct" ? "" : ` (${fmt((100 * c.rps) / f.chat.direct.rps, 0)}% of direct)`;
    const failed = c.failures > 0 ? `, ${c.failures} failed` : "";
    return `${fmt(c.rps, 0)} req/s${rel}, p99 ${fmt(c.p99, 2)} ms, ${fmt(c.cpuUs, 0)} µs CPU/req${failed}`;
  };
  const delay = (t: TargetName): string => {
    const d = f.delay[t];
    const errors = d.errors > 0 ? `, ${d.errors} failed` : "";
    return `${fmt(d.delays.p50, 3)} / ${fmt(d.delays.p99, 3)} ms; ${d.coalesced} of ${d.reads} reads coalesced${errors}`;
  };
  const aborts = (t: TargetName): string => {
    const a = f.aborts[t];
    const extra = a.errors > 0 ? `, ${a.errors} failed to start` : "";
    return `${a.within}/${a.trials} within ${ABORT_LIMIT_MS} ms (p50 ${fmt(a.closes.p50, 2)}, max ${fmt(a.closes.max, 2)} ms)${extra}`;
  };
  const calm = (t: TargetName): string => {
    const c = f.flood[t];
    const failed = c.baselineFailures > 0 ? `, ${c.baselineFailures} failed` : "";
    return `p50 ${fmt(c.baseline.p50, 2)} / p99 ${fmt(c.baseline.p99, 2)} ms, ${fmt(c.baselineRps, 0)} answered/s${failed}`;
  };
  const onlyTiers = (cell: string): string[] => [...TARGETS.filter((t) => t !== "tiers").map(() => "—"), cell];
  const limits = f.limits;
  const limitsCell = `+${fmt(limits.addedP50, 3)} / +${fmt(limits.addedP99, 3)} ms (p50 ${fmt(limits.limited.p50, 3)} vs ${fmt(limits.plain.p50, 3)} ms, ${limits.pairs} pairs)`;
  const balance = f.balance;
  const balanceCell =
    balance === undefined
      ? "n/a"
      : `${balance.perReplica.join(" / ")} of ${balance.requests} (${fmt(100 * balance.maxDeviation, 1)}% off even)` +
        `${balance.failures > 0 ? `, ${balance.failures} failed` : ""}, ${balance.clientConnections} client connection${balance.clientConnections === 1 ? "" : "s"}`;
  return table(
    ["workload", "measure", ...TARGETS.map((t) => TARGET_LABELS[t])],
    [
      ["`GET /v1/models`, 1 connection", "latency p50 / p99 (added vs direct)", ...TARGETS.map((t) => added(f.latency, t, failedNote(f, t)))],
      ["`POST /v1/chat/completions`, 1 connection", "latency p50 / p99 (added vs direct)", ...TARGETS.map((t) => added(f.chatLatency, t, failedNote(f, t, f.chatLatencyFailures)))],
      ["`POST /v1/chat/completions`, 50 connections", "req/s, p99, CPU per request", ...TARGETS.map(chat)],
      ["streamed completion, 200 events 10 ms apart", "write→read delay p50 / p99; coalesced reads", ...TARGETS.map(delay)],
      ["client aborts mid-stream", "time until the upstream socket closes", ...TARGETS.map(aborts)],
      ["concurrent slow streams", "errors, memory", ...TARGETS.map((t) => manyCell(f.many[t]))],
      ["authenticated chat, steady rate, no flood", "latency p50 / p99, rate answered", ...TARGETS.map(calm)],
      ["… while 4 connections pipeline `GET /v1/models` without a key", "auth p99 (x no flood), failures; the flood's rate and answers", ...TARGETS.map((t) => floodCell(f.flood[t], "pipeline"))],
      ["… while many connections send `GET /v1/models` without a key", "auth p99 (x no flood), failures; the flood's rate and answers", ...TARGETS.map((t) => floodCell(f.flood[t], "connections"))],
      ["chat, 1 connection, key with rpm + tpm + concurrency (Redis) vs without", "latency added by the limits p50 / p99", ...onlyTiers(limitsCell)],
      ["slow requests over 1 client connection, 3 replicas", "requests per replica", ...onlyTiers(balanceCell)],
    ],
  );
}

export function checksTable(list: readonly Check[]): string {
  return table(
    ["row", "target for our proxy", "measured", "result"],
    list.map((c) => [c.row, c.target, c.measured, c.pass ? "pass" : "**MISS**"]),
  );
}

function details(f: Figures): string {
  const rounds = (added: PerTarget<Array<[number, number]>>, t: TargetName): string => added[t].map(([p50, p99]) => `+${fmt(p50, 3)}/+${fmt(p99, 2)}`).join(", ");
  const list = (values: readonly number[], digits: number): string => values.map((v) => fmt(v, digits)).join(", ");
  const fronts = TARGETS.filter((t) => t !== "direct");
  const lat = (summary: PerTarget<Summary>, failed: Figures["latencyFailures"]) => (t: TargetName): string => {
    const s = summary[t];
    return `| ${t} | ${s.n} | ${failed[t].failures} | ${fmt(s.p50, 3)} | ${fmt(s.p90, 3)} | ${fmt(s.p99, 3)} | ${fmt(s.max, 3)} |`;
  };
  const delay = (t: TargetName): string => {
    const d = f.delay[t];
    return `| ${t} | ${d.events} | ${fmt(d.delays.p50, 3)} | ${fmt(d.delays.p90, 3)} | ${fmt(d.delays.p99, 3)} | ${fmt(d.delays.max, 3)} | ${d.coalesced}/${d.reads} |`;
  };
  const abort = (t: TargetName): string => {
    const a = f.aborts[t];
    return `| ${t} | ${a.trials} | ${fmt(a.closes.p50, 3)} | ${fmt(a.closes.p99, 3)} | ${fmt(a.closes.max, 3)} | ${a.missed} | ${a.errors} |`;
  };
  const chat = (t: TargetName): string => {
    const c = f.chat[t];
    return `| ${t} | ${c.requests} | ${fmt(c.rps, 0)} | ${fmt(c.p50, 2)} | ${fmt(c.p99, 2)} | ${fmt(c.cpuUs, 1)} | ${c.failures} |`;
  };
  const many = (t: TargetName): string => {
    const m = f.many[t];
    if (m === undefined) return `| ${t} | n/a |`;
    const kinds = Object.entries(m.errorKinds).map(([kind, n]) => `${n}× ${kind}`).join("; ");
    return `| ${t} | ${m.streams} | ${m.completed} | ${m.errors}${kinds === "" ? "" : ` (${kinds})`} | ${m.queued} | ${m.peakUpstreamOpen} | ${fmt(m.rssBeforeMb, 1)} | ${fmt(m.rssPeakMb, 1)} | ${fmt(m.hwmMb, 1)} | ${fmt(m.seconds, 1)} |`;
  };
  const floodAuth = (t: TargetName): string[] => {
    const c = f.flood[t];
    const base = `| ${t} | none | ${c.baseline.n} | ${fmt(c.baselineRps, 0)} | ${fmt(c.baseline.p50, 2)} | ${fmt(c.baseline.p99, 2)} | ${fmt(c.baseline.max, 2)} | ${c.baselineFailures} | 1.00 | n/a |`;
    return [
      base,
      ...FLOOD_MODES.map((mode) => {
        const p = c.phases[mode];
        return `| ${t} | ${mode} | ${p.auth.n} | ${fmt(p.rps, 0)} | ${fmt(p.auth.p50, 2)} | ${fmt(p.auth.p99, 2)} | ${fmt(p.auth.max, 2)} | ${p.failures} | ${fmt(p.p99Ratio, 2)} | ${fmt(p.rssPeakMb, 1)} |`;
      }),
    ];
  };
  const floodOwn = (t: TargetName): string[] =>
    FLOOD_MODES.map((mode) => {
      const flood = f.flood[t].phases[mode].flood;
      const r = floodRates(flood);
      const others = Object.entries(flood.statuses)
        .filter(([status]) => status !== "200" && status !== "503")
        .map(([status, n]) => `${n}× ${status}`)
        .join(", ");
      return (
        `| ${t} | ${mode} | ${fmt(flood.seconds, 1)} | ${flood.written} (${rate(r.writtenPerSecond)}/s) | ${rate(r.answeredPerSecond)}/s | ` +
        `${flood.statuses["200"] ?? 0} | ${flood.statuses["503"] ?? 0} | ${others === "" ? "0" : others} | ${flood.opened} | ${flood.closedByServer} | ${flood.connectErrors} |`
      );
    });
  const limits = f.limits;
  const balance = f.balance;
  return [
    "### `GET /v1/models`, 1 connection: latency, ms (all rounds pooled)",
    "",
    "| target | answered | failed (non-2xx, errors) | p50 | p90 | p99 | max |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...TARGETS.map(lat(f.latency, f.latencyFailures)),
    "",
    `Added p50/p99 per round, ms: ${fronts.map((t) => `${t} ${rounds(f.latencyRoundsAdded, t)}`).join("; ")}.`,
    "",
    "### `POST /v1/chat/completions`, 1 connection: latency, ms (all rounds pooled)",
    "",
    "| target | answered | failed (non-2xx, errors) | p50 | p90 | p99 | max |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...TARGETS.map(lat(f.chatLatency, f.chatLatencyFailures)),
    "",
    `Added p50/p99 per round, ms: ${fronts.map((t) => `${t} ${rounds(f.chatLatencyRoundsAdded, t)}`).join("; ")}.`,
    "",
    "### `POST /v1/chat/completions`, 50 connections",
    "",
    "| target | requests | req/s | p50 ms | p99 ms | CPU µs/request | failed |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...TARGETS.map(chat),
    "",
    `p99 per round, ms: ${TARGETS.map((t) => `${t} ${list(f.chatRoundsP99[t], 1)}`).join("; ")}.`,
    "",
    "CPU per request is utime+stime of the target's processes over the runs (/proc/<pid>/stat), divided by",
    "the requests answered; for direct it is the emulator's own, for nginx master and worker together, for",
    "the two tiers the gateway's and the sidecar's together.",
    "",
    "### Authenticated chat under an unauthenticated `/v1/models` flood",
    "",
    "The authenticated client, ms (all rounds pooled; it asks for a steady rate, and a stalled front answers fewer; RSS: the target's processes, peak while the flood ran):",
    "",
    "| target | flood | answered | answered/s | p50 | p99 | max | failed | p99 / no-flood p99 | RSS peak MB |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...TARGETS.flatMap(floodAuth),
    "",
    `p99 per round, ms (none / pipelining / many connections): ${TARGETS.map(
      (t) => `${t} ${list(f.flood[t].roundsP99.baseline, 1)} / ${list(f.flood[t].roundsP99.pipeline, 1)} / ${list(f.flood[t].roundsP99.connections, 1)}`,
    ).join("; ")}.`,
    "",
    "The flood, as its own process counted it (connections closed: ended or reset by the server while the flood ran):",
    "",
    "| target | flood | seconds | requests written | answered | 200 | 503 | other answers | connections opened | closed by the server | connect errors |",
    "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ...TARGETS.flatMap(floodOwn),
    "",
    "### Streamed completion: upstream write → client read, ms",
    "",
    "| target | events | p50 | p90 | p99 | max | coalesced reads |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...TARGETS.map(delay),
    "",
    `p99 per stream, ms: ${TARGETS.map((t) => `${t} ${list(f.delayStreamsP99[t], t === "nginx" ? 1 : 2)}`).join("; ")}.`,
    "",
    "### Client aborts: client socket destroyed → upstream connection closed, ms",
    "",
    "| target | trials | p50 | p99 | max | not closed within 1 s | failed to start |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...TARGETS.map(abort),
    "",
    "### Concurrent slow streams",
    "",
    `| target | streams | completed | errors | reached the upstream > ${QUEUED_MS / 1000} s after opening | upstream peak open | RSS before MB | RSS peak MB | VmHWM MB | seconds |`,
    "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ...TARGETS.map(many),
    "",
    "### Per-key limits at the gateway: chat latency, ms (two tiers, all rounds pooled)",
    "",
    "| key | requests | p50 | p90 | p99 | max |",
    "|---|---:|---:|---:|---:|---:|",
    `| without limits | ${limits.plain.n} | ${fmt(limits.plain.p50, 3)} | ${fmt(limits.plain.p90, 3)} | ${fmt(limits.plain.p99, 3)} | ${fmt(limits.plain.max, 3)} |`,
    `| rpm + tpm + concurrency | ${limits.limited.n} | ${fmt(limits.limited.p50, 3)} | ${fmt(limits.limited.p90, 3)} | ${fmt(limits.limited.p99, 3)} | ${fmt(limits.limited.max, 3)} |`,
    "",
    `Added p50 per round, ms: ${list(limits.roundsAddedP50, 3)}. Limited answers with x-ratelimit headers: ${limits.limitedWithHeaders}/${limits.limited.n}; ` +
      `store up: ${limits.storeUp ? "yes" : "no"}; store errors: ${limits.storeErrors}; fallbacks to per-gateway limits: ${limits.fallbacks}; failed requests: ${limits.failures}.`,
    "",
    "### Balancing: slow requests over one client connection, gateway with 3 replicas",
    "",
    balance === undefined
      ? "Not measured."
      : `${balance.requests} requests, served per replica: ${balance.perReplica.join(", ")} (largest distance from an even share ${fmt(100 * balance.maxDeviation, 1)}%); ` +
        `failed: ${balance.failures}; client connections opened: ${balance.clientConnections}.`,
  ].join("\n");
}

export function renderResults(machine: Machine, f: Figures, list: readonly Check[], extra: readonly string[]): string {
  return [
    "# Benchmark results",
    "",
    ...(machine.notice !== undefined ? [`**${machine.notice}**`, ""] : []),
    `Written by \`npm run bench\` on ${machine.date}.`,
    "",
    `- command: \`${machine.command}\``,
    `- machine: ${machine.cores} cores, ${machine.cpuModel}; Linux ${machine.kernel}`,
    `- node ${machine.node}; nginx ${machine.nginx}`,
    `- load average before the run: ${machine.loadBefore.map((v) => v.toFixed(2)).join(", ")}`,
    `- proxy under test: ${machine.proxy}`,
    `- pinning: ${machine.pinning}`,
    `- settings: ${machine.settings}`,
    "",
    "## Figures",
    "",
    mainTable(f),
    "",
    "## Targets",
    "",
    checksTable(list),
    "",
    "## Details",
    "",
    details(f),
    ...extra.flatMap((section) => ["", section]),
    "",
  ].join("\n");
}
