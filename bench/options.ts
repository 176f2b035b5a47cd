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
  /** Warm-up per target before the delay row: fast streams (1 ms apart), then streams of the measured shape. */
  readonly streamWarmup: { readonly fast: number; readonly fastIntervalMs: number; readonly shaped: number };
  readonly abortTrials: number;
  readonly manyStreams: number;
  readonly manyEvents: number;
  readonly manyIntervalMs: number;
  /** Chat requests on one connection (latency added by each front on a protected route): seconds per run. */
  readonly chatLatencySeconds: number;
  /** The authenticated client of the flood row: connections and requests per second over them. */
  readonly paying: { readonly connections: number; readonly rate: number };
  /** The unauthenticated floods of `/v1/models`. */
  readonly flood: { readonly pipelineConnections: number; readonly pipelineDepth: number; readonly manyConnections: number };
  /** Pairs of chats (key with limits, key without) per round at the gateway. */
  readonly limitPairs: number;
  /** The balancing row: sequential slow requests over one client connection, replicas, and each request's shape. */
  readonly balance: { readonly requests: number; readonly replicas: number; readonly events: number; readonly intervalMs: number };
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
                    [--flood-conns N] [--pipeline-depth N] [--paying-rate N] [--limit-pairs N]
                    [--balance-requests N] [--wait-idle LOAD] [--cpu-prof DIR] [--proxy-bundle FILE]
                    [--proxy-flags="FLAGS"] [--out FILE]

  --quick          one short round of every row (about 3 minutes): for trying the bench out
  --duration S     seconds per request-rate measurement, per target and round (default 4; quick 2)
  --rounds N       alternating rounds (default 4; quick 1)
  --aborts N       client-abort trials per target (default 100; quick 20)
  --streams N      concurrent slow streams (default 1000; quick 200)
  --flood-conns N  connections of the many-connection /v1/models flood (default 500; quick 200)
  --pipeline-depth N  GETs per write of the pipelining flood, on 4 connections (default 100)
  --paying-rate N  authenticated chat requests per second during the flood row, on 10 connections (default 500)
  --limit-pairs N  chat pairs (key with limits, key without) per round at the gateway (default 2000; quick 300)
  --balance-requests N  slow requests over one connection to a gateway with 3 replicas (default 300; quick 60; at least 30)
  --wait-idle L    first wait until the 1-minute load average is below L (poll 30 s, at most 15 min)
  --cpu-prof DIR   run both proxy processes under node --cpu-prof, profiles into DIR, top functions in the report
  --proxy-bundle F measure this bundle instead of building proxy/dist/server.js (a candidate change)
  --proxy-flags=F  node flags for the proxy processes after those of proxy/Dockerfile's ENTRYPOINT, e.g. --proxy-flags=--no-memory-reducer
  --out FILE       results file (default bench/results.md; quick: build/bench-quick.md, never bench/results.md)`;

function positive(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${value}`);
  return n;
}

/** A whole number of at least `min`. */
function count(value: string | undefined, name: string, fallback: number, min = 1, why = ""): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number of at least ${min}${why}, got ${value}`);
  return n;
}

/** The balancing row's replicas; 10 requests per replica make one request 10% of a replica's share. */
const BALANCE_REPLICAS = 3;
const BALANCE_MIN_REQUESTS = 10 * BALANCE_REPLICAS;

const FLAGS = [
  "quick",
  "duration",
  "rounds",
  "aborts",
  "streams",
  "flood-conns",
  "pipeline-depth",
  "paying-rate",
  "limit-pairs",
  "balance-requests",
  "wait-idle",
  "cpu-prof",
  "proxy-bundle",
  "proxy-flags",
  "out",
];

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
      "flood-conns": { type: "string" },
      "pipeline-depth": { type: "string" },
      "paying-rate": { type: "string" },
      "limit-pairs": { type: "string" },
      "balance-requests": { type: "string" },
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
    streamWarmup: { fast: quick ? 10 : 30, fastIntervalMs: 1, shaped: quick ? 1 : 3 },
    abortTrials: Math.round(positive(values.aborts, "aborts", quick ? 20 : 100)),
    manyStreams: Math.round(positive(values.streams, "streams", quick ? 200 : 1000)),
    manyEvents: quick ? 3 : 5,
    manyIntervalMs: 1_000,
    chatLatencySeconds: positive(values.duration, "duration", quick ? 2 : 4),
    paying: { connections: 10, rate: count(values["paying-rate"], "paying-rate", 500) },
    flood: {
      pipelineConnections: 4,
      pipelineDepth: count(values["pipeline-depth"], "pipeline-depth", 100, 2),
      manyConnections: count(values["flood-conns"], "flood-conns", quick ? 200 : 500),
    },
    limitPairs: count(values["limit-pairs"], "limit-pairs", quick ? 300 : 2000),
    balance: {
      requests: count(values["balance-requests"], "balance-requests", quick ? 60 : 300, BALANCE_MIN_REQUESTS, ` (10 per replica: one request is then at most 10% of a replica's share)`),
      replicas: BALANCE_REPLICAS,
      events: 5,
      intervalMs: 10,
    },
    idleLoad: values["wait-idle"] === undefined ? 0 : positive(values["wait-idle"], "wait-idle", 1),
    cpuProfDir: values["cpu-prof"],
    proxyBundle: values["proxy-bundle"],
    proxyFlags: (values["proxy-flags"] ?? "").split(/\s+/).filter((flag) => flag !== ""),
    out,
    quick,
  };
}
