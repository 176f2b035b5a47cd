/** The rows in order: request-rate rounds, then streaming rounds, each alternating the targets. */
import { setTimeout as sleep } from "node:timers/promises";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { BenchOptions } from "./options";
import { pinSelf } from "./processes";
import type { Collected } from "./report";
import type { Pinning, Stack } from "./stack";
import { abortTrial, chatRate, manyStreams, modelsLatency, streamDelay } from "./workloads";

export const ABORT_WAIT_MS = 1_000;
/** Pause between the request-rate rows and the streaming rows. */
const SETTLE_MS = 2_000;

type Log = (line: string) => void;

let collect: (() => void) | undefined;

/**
 * A full GC of this process before a streaming measurement: the client and the stamped upstream
 * live here, and an incremental-marking step of this heap (the rate rows' samples) between a
 * write and its read would be charged to the front.
 */
function settleHeap(): void {
  if (collect === undefined) {
    setFlagsFromString("--expose-gc");
    const gc: unknown = runInNewContext("gc");
    collect = typeof gc === "function" ? () => void gc() : () => undefined;
  }
  collect();
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const n = by % items.length;
  return [...items.slice(n), ...items.slice(0, n)];
}

export function emptyCollected(): Collected {
  return {
    latency: { direct: [], proxy: [], nginx: [] },
    chat: { direct: [], proxy: [], nginx: [] },
    delay: { direct: [], proxy: [], nginx: [] },
    aborts: { direct: [], proxy: [], nginx: [] },
    many: {},
  };
}

async function rateRows(stack: Stack, opts: BenchOptions, pin: Pinning, data: Collected, log: Log): Promise<void> {
  const { targets, token } = stack;
  pinSelf(pin.front);
  log(`warm-up: ${opts.warmupSeconds} s of each request-rate workload per target`);
  for (const target of targets) {
    await chatRate(target, opts.warmupSeconds, opts.chatConnections, token);
    await modelsLatency(target, opts.warmupSeconds, token);
  }
  for (let round = 0; round < opts.rounds; round++) {
    const order = rotate(targets, round);
    log(`request-rate round ${round + 1}/${opts.rounds} (${order.map((t) => t.name).join(", ")})`);
    for (const target of order) data.latency[target.name].push(await modelsLatency(target, opts.seconds, token));
    for (const target of order) data.chat[target.name].push(await chatRate(target, opts.seconds, opts.chatConnections, token));
  }
}

async function streamRows(stack: Stack, opts: BenchOptions, pin: Pinning, data: Collected, log: Log): Promise<void> {
  const { targets, token } = stack;
  // The streaming rows' upstream lives in this process: it takes the upstream's core.
  pinSelf(pin.upstream);
  log("warm-up: one short stream and a few aborts per target");
  for (const target of targets) {
    await streamDelay(target, 50, opts.streamIntervalMs, token);
    for (let i = 0; i < 5; i++) await abortTrial(target, stack.stamped, token, ABORT_WAIT_MS);
  }
  for (let round = 0; round < opts.rounds; round++) {
    const order = rotate(targets, round);
    log(`streaming round ${round + 1}/${opts.rounds} (${order.map((t) => t.name).join(", ")})`);
    for (const target of order) {
      for (let i = 0; i < opts.delayStreams; i++) {
        settleHeap();
        data.delay[target.name].push(await streamDelay(target, opts.streamEvents, opts.streamIntervalMs, token));
      }
    }
    const trials = Math.floor(opts.abortTrials / opts.rounds) + (round < opts.abortTrials % opts.rounds ? 1 : 0);
    for (const target of order) {
      settleHeap();
      for (let i = 0; i < trials; i++) data.aborts[target.name].push(await abortTrial(target, stack.stamped, token, ABORT_WAIT_MS));
    }
    stack.stamped.forgetAll();
  }
  for (const target of rotate(targets, opts.rounds)) {
    log(`${opts.manyStreams} concurrent slow streams via ${target.name}`);
    data.many[target.name] = await manyStreams(target, stack.stamped, token, opts.manyStreams, opts.manyEvents, opts.manyIntervalMs);
    stack.stamped.forgetAll();
    await sleep(1_000);
  }
}

export async function runRows(stack: Stack, opts: BenchOptions, pin: Pinning, data: Collected, log: Log): Promise<void> {
  await rateRows(stack, opts, pin, data, log);
  await stack.stopRateProcesses();
  await sleep(SETTLE_MS);
  await streamRows(stack, opts, pin, data, log);
}
