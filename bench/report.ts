/** Turns the collected runs into figures, target checks, the stdout table and bench/results.md. */
import type { StreamOutcome } from "./sse-client";
import { fmt, summarize, type Summary } from "./stats";
import { QUEUED_MS, type AbortTrial, type ManyStreamsRun, type RateRun, type TargetName } from "./workloads";

export const TARGETS: readonly TargetName[] = ["direct", "proxy", "nginx"];

export type PerTarget<T> = Record<TargetName, T>;

export interface Collected {
  readonly latency: PerTarget<RateRun[]>;
  readonly chat: PerTarget<RateRun[]>;
  readonly delay: PerTarget<StreamOutcome[]>;
  readonly aborts: PerTarget<AbortTrial[]>;
  readonly many: Partial<PerTarget<ManyStreamsRun>>;
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

interface Figures {
  readonly latency: PerTarget<Summary>;
  /** Per round: [p50, p99] added over direct's in the same round. */
  readonly latencyRoundsAdded: PerTarget<Array<[number, number]>>;
  readonly chatRoundsP99: PerTarget<number[]>;
  readonly delayStreamsP99: PerTarget<number[]>;
  readonly chat: PerTarget<{ rps: number; p99: number; p50: number; cpuUs: number; failures: number; requests: number }>;
  readonly delay: PerTarget<{ delays: Summary; events: number; reads: number; coalesced: number; errors: number }>;
  readonly aborts: PerTarget<{ trials: number; within: number; closes: Summary; missed: number; errors: number }>;
  readonly many: Partial<PerTarget<ManyStreamsRun>>;
}

export const ABORT_LIMIT_MS = 100;

const byTarget = <T>(make: (name: TargetName) => T): PerTarget<T> => ({ direct: make("direct"), proxy: make("proxy"), nginx: make("nginx") });

export function computeFigures(data: Collected): Figures {
  const latency = byTarget((t) => summarize(data.latency[t].flatMap((run) => run.samples)));
  const perRound = (t: TargetName): Summary[] => data.latency[t].map((run) => summarize(run.samples));
  const latencyRoundsAdded = byTarget((t) =>
    perRound(t).map((s, i): [number, number] => {
      const base = perRound("direct")[i];
      return base === undefined ? [Number.NaN, Number.NaN] : [s.p50 - base.p50, s.p99 - base.p99];
    }),
  );
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
  return { latency, latencyRoundsAdded, chatRoundsP99, delayStreamsP99, chat, delay, aborts, many: data.many };
}

export function checks(f: Figures): Check[] {
  const addedP50 = f.latency.proxy.p50 - f.latency.direct.p50;
  const addedP99 = f.latency.proxy.p99 - f.latency.direct.p99;
  const cpuRatio = f.chat.proxy.cpuUs / f.chat.nginx.cpuUs;
  const p99Gap = f.chat.proxy.p99 - f.chat.nginx.p99;
  const many = f.many.proxy;
  return [
    { row: "models, 1 conn", target: "added p50 <= 0.2 ms", measured: `${fmt(addedP50, 3)} ms`, pass: addedP50 <= 0.2 },
    { row: "models, 1 conn", target: "added p99 <= 1 ms", measured: `${fmt(addedP99, 3)} ms`, pass: addedP99 <= 1 },
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
  ];
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

/** The main table: one line per workload, the three targets side by side. */
export function mainTable(f: Figures): string {
  const added = (t: TargetName): string =>
    t === "direct"
      ? `${fmt(f.latency.direct.p50, 3)} / ${fmt(f.latency.direct.p99, 3)} ms (baseline)`
      : `+${fmt(f.latency[t].p50 - f.latency.direct.p50, 3)} / +${fmt(f.latency[t].p99 - f.latency.direct.p99, 3)} ms`;
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
  return table(
    ["workload", "measure", "direct", "our proxy", "nginx (seed config)"],
    [
      ["`GET /v1/models`, 1 connection", "latency p50 / p99 (added vs direct)", added("direct"), added("proxy"), added("nginx")],
      ["`POST /v1/chat/completions`, 50 connections", "req/s, p99, CPU per request", chat("direct"), chat("proxy"), chat("nginx")],
      ["streamed completion, 200 events 10 ms apart", "write→read delay p50 / p99; coalesced reads", delay("direct"), delay("proxy"), delay("nginx")],
      ["client aborts mid-stream", "time until the upstream socket closes", aborts("direct"), aborts("proxy"), aborts("nginx")],
      ["concurrent slow streams", "errors, memory", manyCell(f.many.direct), manyCell(f.many.proxy), manyCell(f.many.nginx)],
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
  const rounds = (t: TargetName): string => f.latencyRoundsAdded[t].map(([p50, p99]) => `+${fmt(p50, 3)}/+${fmt(p99, 2)}`).join(", ");
  const list = (values: readonly number[], digits: number): string => values.map((v) => fmt(v, digits)).join(", ");
  const lat = (t: TargetName): string => {
    const s = f.latency[t];
    return `| ${t} | ${s.n} | ${fmt(s.p50, 3)} | ${fmt(s.p90, 3)} | ${fmt(s.p99, 3)} | ${fmt(s.max, 3)} |`;
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
  return [
    "### `GET /v1/models`, 1 connection: latency, ms (all rounds pooled)",
    "",
    "| target | requests | p50 | p90 | p99 | max |",
    "|---|---:|---:|---:|---:|---:|",
    ...TARGETS.map(lat),
    "",
    `Added p50/p99 per round, ms: proxy ${rounds("proxy")}; nginx ${rounds("nginx")}.`,
    "",
    "### `POST /v1/chat/completions`, 50 connections",
    "",
    "| target | requests | req/s | p50 ms | p99 ms | CPU µs/request | failed |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...TARGETS.map(chat),
    "",
    `p99 per round, ms: direct ${list(f.chatRoundsP99.direct, 1)}; proxy ${list(f.chatRoundsP99.proxy, 1)}; nginx ${list(f.chatRoundsP99.nginx, 1)}.`,
    "",
    "CPU per request is utime+stime of the target's processes over the runs (/proc/<pid>/stat), divided by",
    "the requests answered; for direct it is the emulator's own, for nginx master and worker together.",
    "",
    "### Streamed completion: upstream write → client read, ms",
    "",
    "| target | events | p50 | p90 | p99 | max | coalesced reads |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...TARGETS.map(delay),
    "",
    `p99 per stream, ms: direct ${list(f.delayStreamsP99.direct, 2)}; proxy ${list(f.delayStreamsP99.proxy, 2)}; nginx ${list(f.delayStreamsP99.nginx, 1)}.`,
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
