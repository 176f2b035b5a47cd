/** The rows in order: request-rate rounds, then streaming rounds, each alternating the targets. */
import { setTimeout as sleep } from "node:timers/promises";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { floodPhase, payingChat } from "./flood-row";
import type { BenchOptions } from "./options";
import { pinSelf } from "./processes";
import type { Collected, FloodRuns } from "./report";
import type { Pinning, Stack } from "./stack";
import { balanceRun, limitsPairs } from "./tier-rows";
import { abortTrial, chatLatency, chatRate, manyStreams, modelsLatency, streamDelay, type Target } from "./workloads";

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

const floodRuns = (): FloodRuns => ({ baseline: [], pipeline: [], connections: [] });

export function emptyCollected(): Collected {
  return {
    latency: { direct: [], proxy: [], nginx: [], tiers: [] },
    chatLatency: { direct: [], proxy: [], nginx: [], tiers: [] },
    chat: { direct: [], proxy: [], nginx: [], tiers: [] },
    flood: { direct: floodRuns(), proxy: floodRuns(), nginx: floodRuns(), tiers: floodRuns() },
    delay: { direct: [], proxy: [], nginx: [], tiers: [] },
    aborts: { direct: [], proxy: [], nginx: [], tiers: [] },
    many: {},
    limits: [],
    balance: [],
  };
}

/** The steady authenticated client alone, then under each flood of `/v1/models` without a key. */
async function floodRow(stack: Stack, target: Target, opts: BenchOptions, data: Collected): Promise<void> {
  const runs = data.flood[target.name];
  runs.baseline.push(await payingChat(target, opts.seconds, opts.paying));
  runs.pipeline.push(await floodPhase(target, stack.flood, "pipeline", opts.flood, opts.seconds, opts.paying));
  runs.connections.push(await floodPhase(target, stack.flood, "connections", opts.flood, opts.seconds, opts.paying));
}

async function rateRows(stack: Stack, opts: BenchOptions, pin: Pinning, data: Collected, log: Log): Promise<void> {
  const { targets } = stack;
  const tiers = targets.find((t) => t.name === "tiers");
  pinSelf(pin.front);
  log(`warm-up: ${opts.warmupSeconds} s of each request-rate workload and each flood per target`);
  for (const target of targets) {
    await chatRate(target, opts.warmupSeconds, opts.chatConnections, target.token);
    await modelsLatency(target, opts.warmupSeconds, target.token);
    await chatLatency(target, opts.warmupSeconds, target.token);
    // Without it the first round's floods met code paths (hundreds of connections opened at once, parked pipelined requests) not yet compiled.
    await floodPhase(target, stack.flood, "pipeline", opts.flood, opts.warmupSeconds, opts.paying);
    await floodPhase(target, stack.flood, "connections", opts.flood, opts.warmupSeconds, opts.paying);
  }
  if (tiers !== undefined) await limitsPairs(tiers, stack.keys, Math.ceil(opts.limitPairs / 10), stack.gatewayMetricsPort);
  for (let round = 0; round < opts.rounds; round++) {
    const order = rotate(targets, round);
    log(`request-rate round ${round + 1}/${opts.rounds} (${order.map((t) => t.name).join(", ")})`);
    for (const target of order) data.latency[target.name].push(await modelsLatency(target, opts.seconds, target.token));
    for (const target of order) data.chatLatency[target.name].push(await chatLatency(target, opts.chatLatencySeconds, target.token));
    for (const target of order) data.chat[target.name].push(await chatRate(target, opts.seconds, opts.chatConnections, target.token));
    if (tiers !== undefined) data.limits.push(await limitsPairs(tiers, stack.keys, opts.limitPairs, stack.gatewayMetricsPort));
    log(`flood round ${round + 1}/${opts.rounds}: authenticated chat alone, then under each /v1/models flood, per target`);
    for (const target of order) await floodRow(stack, target, opts, data);
  }
}

async function streamRows(stack: Stack, opts: BenchOptions, pin: Pinning, data: Collected, log: Log): Promise<void> {
  const { targets } = stack;
  // The streaming rows' upstream lives in this process: it takes the upstream's core.
  pinSelf(pin.upstream);
  // V8 compiles a Node front's relay path as it runs: after one warm-up stream its compiles (and Node's stream functions deoptimised and compiled again) went on 40-70 s into the measured streams, on the front's core.
  const warm = opts.streamWarmup;
  log(`warm-up: ${warm.fast} fast streams, ${warm.shaped} of the measured shape and a few aborts per target`);
  for (const target of targets) {
    for (let i = 0; i < warm.fast; i++) await streamDelay(target, opts.streamEvents, warm.fastIntervalMs, target.token);
    for (let i = 0; i < warm.shaped; i++) await streamDelay(target, opts.streamEvents, opts.streamIntervalMs, target.token);
    for (let i = 0; i < 5; i++) await abortTrial(target, stack.stamped, target.token, ABORT_WAIT_MS);
  }
  for (let round = 0; round < opts.rounds; round++) {
    const order = rotate(targets, round);
    log(`streaming round ${round + 1}/${opts.rounds} (${order.map((t) => t.name).join(", ")})`);
    for (const target of order) {
      for (let i = 0; i < opts.delayStreams; i++) {
        settleHeap();
        data.delay[target.name].push(await streamDelay(target, opts.streamEvents, opts.streamIntervalMs, target.token));
      }
    }
    const trials = Math.floor(opts.abortTrials / opts.rounds) + (round < opts.abortTrials % opts.rounds ? 1 : 0);
    for (const target of order) {
      settleHeap();
      for (let i = 0; i < trials; i++) data.aborts[target.name].push(await abortTrial(target, stack.stamped, target.token, ABORT_WAIT_MS));
    }
    stack.stamped.forgetAll();
  }
  for (const target of rotate(targets, opts.rounds)) {
    log(`${opts.manyStreams} concurrent slow streams via ${target.name}`);
    data.many[target.name] = await manyStreams(target, stack.stamped, target.token, opts.manyStreams, opts.manyEvents, opts.manyIntervalMs);
    stack.stamped.forgetAll();
    await sleep(1_000);
  }
  await balanceRow(stack, opts, data, log);
}

/** A gateway in front of three sidecars (all before the stamped upstream), one client connection of slow requests. */
async function balanceRow(stack: Stack, opts: BenchOptions, data: Collected, log: Log): Promise<void> {
  const { requests, replicas, events, intervalMs } = opts.balance;
  log(`${requests} slow requests over one connection to a gateway with ${replicas} replicas`);
  const balance = await stack.startBalance(replicas);
  try {
    data.balance.push(await balanceRun(balance, stack.keys.plain, requests, events, intervalMs));
  } finally {
    await balance.stop();
    stack.stamped.forgetAll();
  }
}

export async function runRows(stack: Stack, opts: BenchOptions, pin: Pinning, data: Collected, log: Log): Promise<void> {
  await rateRows(stack, opts, pin, data, log);
  await stack.stopRateProcesses();
  await sleep(SETTLE_MS);
  await streamRows(stack, opts, pin, data, log);
}
