/** Command-line options of `npm run bench`. */
import path from "node:path";
import { parseArgs } from "node:util";
import { flagsTakenByNpm, npmTookFlagsMessage } from "../scripts/npmFlags";

/** The figures the documentation quotes; only a full run writes them. */
export const COMMITTED_RESULTS = "bench/results.md";
/** Where a quick run writes, out of git (build/ is ignored). */
export const QUICK_RESULTS = "build/bench-quick.md";
export const QUICK_NOTICE =
  "Quick run: one short round of every row. Its figures are noisy, for trying the bench out; compare only full runs.";

export interface BenchOptions {
  /** Alternating rounds; every row's samples are pooled over them. */
  readonly rounds: number;
  /** Seconds per request-rate measurement (per target, per round). */
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly chatConnections: number;
  readonly streamEvents: number;
  readonly streamIntervalMs: number;
  /** Streamed completions per target per round for the delay row. */
  readonly delayStreams: number;
  readonly abortTrials: number;
  readonly manyStreams: number;
  readonly manyEvents: number;
  readonly manyIntervalMs: number;
  /** Wait (polling every 30 s, at most 15 min) until the 1-minute load is below this; 0 = don't wait. */
  readonly idleLoad: number;
  /** Run the proxies under `node --cpu-prof`, write profiles to this directory and summarise them. */
  readonly cpuProfDir: string | undefined;
  /** A proxy bundle to measure instead of building proxy/dist/server.js (a candidate change). */
  readonly proxyBundle: string | undefined;
  /** Extra node flags for the proxy processes (a candidate runtime setting). */
  readonly proxyFlags: readonly string[];
  readonly out: string;
  readonly quick: boolean;
}

export const USAGE = `npm run bench -- [--quick] [--duration S] [--rounds N] [--aborts N] [--streams N]
                    [--wait-idle LOAD] [--cpu-prof DIR] [--proxy-bundle FILE]
                    [--proxy-flags="FLAGS"] [--out FILE]

  --quick          one short round of every row (about 1 minute): for trying the bench out
  --duration S     seconds per request-rate measurement, per target and round (default 4; quick 2)
  --rounds N       alternating rounds (default 4; quick 1)
  --aborts N       client-abort trials per target (default 100; quick 20)
  --streams N      concurrent slow streams (default 1000; quick 200)
  --wait-idle L    first wait until the 1-minute load average is below L (poll 30 s, at most 15 min)
  --cpu-prof DIR   run both proxy processes under node --cpu-prof, profiles into DIR, top functions in the report
  --proxy-bundle F measure this bundle instead of building proxy/dist/server.js (a candidate change)
  --proxy-flags=F  extra node flags for the proxy processes, e.g. --proxy-flags=--no-memory-reducer
  --out FILE       results file (default bench/results.md; quick: build/bench-quick.md, never bench/results.md)`;

function positive(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${value}`);
  return n;
}

const FLAGS = ["quick", "duration", "rounds", "aborts", "streams", "wait-idle", "cpu-prof", "proxy-bundle", "proxy-flags", "out"];

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BenchOptions | "help" {
  const taken = flagsTakenByNpm("bench", FLAGS, env);
  if (taken.length > 0) throw new Error(npmTookFlagsMessage("bench", taken, argv, (flag) => flag !== "quick"));
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: "boolean" },
      duration: { type: "string" },
      rounds: { type: "string" },
      aborts: { type: "string" },
      streams: { type: "string" },
      "wait-idle": { type: "string" },
      "cpu-prof": { type: "string" },
      "proxy-bundle": { type: "string" },
      "proxy-flags": { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help === true) return "help";
  const quick = values.quick === true;
  const out = values.out ?? (quick ? QUICK_RESULTS : COMMITTED_RESULTS);
  if (quick && path.normalize(out) === COMMITTED_RESULTS) {
    throw new Error(`--quick figures are noisy and must not replace ${COMMITTED_RESULTS}: drop --quick for a full run, or give another --out FILE`);
  }
  const rounds = Math.round(positive(values.rounds, "rounds", quick ? 1 : 4));
  return {
    rounds,
    seconds: positive(values.duration, "duration", quick ? 2 : 4),
    warmupSeconds: quick ? 1 : 2,
    chatConnections: 50,
    streamEvents: 200,
    streamIntervalMs: 10,
    delayStreams: quick ? 1 : 2,
    abortTrials: Math.round(positive(values.aborts, "aborts", quick ? 20 : 100)),
    manyStreams: Math.round(positive(values.streams, "streams", quick ? 200 : 1000)),
    manyEvents: quick ? 3 : 5,
    manyIntervalMs: 1_000,
    idleLoad: values["wait-idle"] === undefined ? 0 : positive(values["wait-idle"], "wait-idle", 1),
    cpuProfDir: values["cpu-prof"],
    proxyBundle: values["proxy-bundle"],
    proxyFlags: (values["proxy-flags"] ?? "").split(/\s+/).filter((flag) => flag !== ""),
    out,
    quick,
  };
}
