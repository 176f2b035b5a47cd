/**
 * Issue 9's row: a steady authenticated chat client, alone and then while the flood process floods
 * `GET /v1/models` without a credential (pipelining, or many connections), against one target.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { FloodProcess } from "./flood";
import type { FloodMode, FloodResult } from "./flood-protocol";
import { memory } from "./processes";
import { chatRate, type RateRun, type Target } from "./workloads";

/** The authenticated client: a few connections at a steady rate, as paying users send. */
export interface PayingLoad {
  readonly connections: number;
  readonly rate: number;
}

export interface FloodShape {
  /** Connections of the pipelining flood, and GETs written per write. */
  readonly pipelineConnections: number;
  readonly pipelineDepth: number;
  /** Connections of the many-connection flood (one GET at a time each). */
  readonly manyConnections: number;
}

export interface FloodPhase {
  readonly auth: RateRun;
  readonly flood: FloodResult;
  /** Largest VmRSS of the target's processes, sampled every 100 ms while the flood ran. */
  readonly rssPeakMb: number | undefined;
}

/** Time for the flood to reach its full rate before the measurement starts. */
export const FLOOD_RAMP_MS = 500;
/** After a flood: its closed connections and the front's clean-up settle before the next measurement. */
export const FLOOD_SETTLE_MS = 1_000;
/** Unanswered requests one pipelining connection may have written: ten writes ahead. */
const PIPELINE_WRITES_AHEAD = 10;

export function payingChat(target: Target, seconds: number, load: PayingLoad): Promise<RateRun> {
  return chatRate(target, seconds, load.connections, target.token, load.rate);
}

export async function floodPhase(target: Target, flood: FloodProcess, mode: FloodMode, shape: FloodShape, seconds: number, load: PayingLoad): Promise<FloodPhase> {
  const pipeline = mode === "pipeline";
  await flood.begin({
    port: target.ratePort,
    mode,
    connections: pipeline ? shape.pipelineConnections : shape.manyConnections,
    perWrite: pipeline ? shape.pipelineDepth : 1,
    maxOutstanding: pipeline ? shape.pipelineDepth * PIPELINE_WRITES_AHEAD : 1,
  });
  const pids = target.ratePids();
  let rssPeakMb: number | undefined;
  const sample = (): void => {
    try {
      rssPeakMb = Math.max(rssPeakMb ?? 0, memory(pids).rssMb);
    } catch {
      // A process that just exited (nginx's worker cannot): the next sample tells.
    }
  };
  const sampler = setInterval(sample, 100);
  let auth: RateRun;
  let result: FloodResult;
  try {
    await sleep(FLOOD_RAMP_MS);
    auth = await payingChat(target, seconds, load);
    sample();
  } finally {
    clearInterval(sampler);
    result = await flood.end();
  }
  await sleep(FLOOD_SETTLE_MS);
  return { auth, flood: result, rssPeakMb };
}
