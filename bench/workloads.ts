/** The workloads, each run against one target at a time. */
import autocannon from "autocannon";
import { setTimeout as sleep } from "node:timers/promises";
import { cpuSeconds, memory } from "./processes";
import { openStream, type StreamOutcome } from "./sse-client";
import type { StampedUpstream } from "./stamped-upstream";
import { SampleBuffer } from "./stats";

/** `tiers`: client -> gateway -> sidecar -> upstream, each proxy its own process. */
export type TargetName = "direct" | "proxy" | "nginx" | "tiers";

export interface Target {
  readonly name: TargetName;
  /** In front of the emulator process (request-rate rows). */
  readonly ratePort: number;
  /** In front of the in-process stamped upstream (streaming rows). */
  readonly streamPort: number;
  /** Processes whose CPU time counts for the request-rate rows (direct: the emulator itself). */
  readonly ratePids: () => number[];
  /** Processes whose memory counts for the 1000-stream row (direct: none, the upstream is this process). */
  readonly streamPids: () => number[];
  /** The credential this target accepts (the seed's token; the gateway's named key). */
  readonly token: string;
}

export const MODEL = "meta-llama/Llama-2-7b-chat-hf";
/** The seed's curl body. */
export const CHAT_BODY = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "Who are you?" }] });
const MAX_SAMPLES = 2_000_000;

export interface RateRun {
  readonly samples: number[];
  readonly requests: number;
  readonly seconds: number;
  readonly failures: number;
  /** CPU seconds the target's processes used during the run. */
  readonly cpuSeconds: number;
}

interface CannonSpec {
  readonly port: number;
  readonly path: string;
  readonly method: "GET" | "POST";
  readonly connections: number;
  readonly seconds: number;
  readonly headers: Record<string, string>;
  readonly body?: string;
  /** Requests per second over all connections (a steady client); unset: as fast as answers come. */
  readonly overallRate?: number;
}

/** One autocannon run; latencies come from its per-response event (sub-millisecond), not its ms histogram. */
function cannon(spec: CannonSpec, pids: readonly number[]): Promise<RateRun> {
  const samples = new SampleBuffer(MAX_SAMPLES);
  let failures = 0;
  let responses = 0;
  const cpuBefore = cpuSeconds(pids);
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${spec.port}${spec.path}`,
        method: spec.method,
        connections: spec.connections,
        pipelining: 1,
        duration: spec.seconds,
        timeout: 10,
        headers: spec.headers,
        body: spec.body,
        ...(spec.overallRate === undefined ? {} : { overallRate: spec.overallRate }),
      },
      (error, result) => {
        if (error !== null) {
          reject(error);
          return;
        }
        resolve({
          samples: samples.values,
          requests: responses,
          seconds: result.duration,
          failures: failures + result.errors + result.timeouts,
          cpuSeconds: cpuSeconds(pids) - cpuBefore,
        });
      },
    );
    instance.on("response", (_client, statusCode, _bytes, responseTime) => {
      responses++;
      if (statusCode >= 200 && statusCode < 300) samples.push(responseTime);
      else failures++;
    });
  });
}

/** `GET /v1/models` on one connection: the per-request latency a front adds. */
export function modelsLatency(target: Target, seconds: number, token: string): Promise<RateRun> {
  return cannon(
    { port: target.ratePort, path: "/v1/models", method: "GET", connections: 1, seconds, headers: { authorization: `Bearer ${token}` } },
    target.ratePids(),
  );
}

/** Non-streamed chat completions one at a time on one connection: the latency a front adds on a protected route. */
export function chatLatency(target: Target, seconds: number, token: string): Promise<RateRun> {
  return chatRate(target, seconds, 1, token);
}

/** Non-streamed chat completions on 50 connections: throughput, tail latency, CPU per request. */
export function chatRate(target: Target, seconds: number, connections: number, token: string, overallRate?: number): Promise<RateRun> {
  return cannon(
    {
      port: target.ratePort,
      path: "/v1/chat/completions",
      method: "POST",
      connections,
      seconds,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: CHAT_BODY,
      ...(overallRate === undefined ? {} : { overallRate }),
    },
    target.ratePids(),
  );
}

let nextStreamId = 0;

export function streamBody(id: string, events: number, intervalMs: number): string {
  return JSON.stringify({
    model: MODEL,
    messages: [{ role: "user", content: "Who are you?" }],
    stream: true,
    bench_id: id,
    bench_events: events,
    bench_interval_ms: intervalMs,
  });
}

export function newStreamId(prefix: string): string {
  nextStreamId++;
  return `${prefix}-${process.pid}-${nextStreamId}`;
}

/** One streamed completion: `events` events `intervalMs` apart; per-event delay and coalesced reads. */
export function streamDelay(target: Target, events: number, intervalMs: number, token: string): Promise<StreamOutcome> {
  const id = newStreamId(`delay-${target.name}`);
  return openStream({
    port: target.streamPort,
    path: "/v1/chat/completions",
    token,
    body: streamBody(id, events, intervalMs),
    timeoutMs: events * intervalMs + 10_000,
  }).outcome;
}

const FIRST_EVENT_WAIT_MS = 5_000;

/** The promise's value, or undefined after `ms` (the timer is cleared either way). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface AbortTrial {
  /** Upstream socket close time − client destroy time, ms; undefined when it did not close in time. */
  readonly closeMs: number | undefined;
  readonly error: string | undefined;
}

/** Opens a long stream, waits for its first event, destroys the client socket, times the upstream close. */
export async function abortTrial(target: Target, upstream: StampedUpstream, token: string, waitMs: number): Promise<AbortTrial> {
  const id = newStreamId(`abort-${target.name}`);
  const stream = openStream({
    port: target.streamPort,
    path: "/v1/chat/completions",
    token,
    body: streamBody(id, 10_000, 10),
    timeoutMs: 10_000,
  });
  const first = await within(stream.firstEvent, FIRST_EVENT_WAIT_MS);
  if (first === undefined) {
    stream.abort();
    const outcome = await stream.outcome;
    return { closeMs: undefined, error: `no first event (${outcome.error ?? "no error"})` };
  }
  const abortedAt = stream.abort();
  const closedAt = await upstream.waitForClose(id, waitMs);
  await stream.outcome;
  return { closeMs: closedAt === undefined ? undefined : closedAt - abortedAt, error: undefined };
}

export interface ManyStreamsRun {
  readonly streams: number;
  readonly completed: number;
  readonly errors: number;
  readonly errorKinds: Record<string, number>;
  /** Streams the upstream saw more than QUEUED_MS after the client opened them (held back by the front). */
  readonly queued: number;
  /** Largest number of streams the upstream was writing at once. */
  readonly peakUpstreamOpen: number;
  readonly rssBeforeMb: number | undefined;
  readonly rssPeakMb: number | undefined;
  readonly hwmMb: number | undefined;
  readonly seconds: number;
}

export const QUEUED_MS = 1_000;
const RAMP_BATCH = 100;
const RAMP_PAUSE_MS = 100;

/** `count` streams opened within about a second, each `events` events `intervalMs` apart, all held open together. */
export async function manyStreams(
  target: Target,
  upstream: StampedUpstream,
  token: string,
  count: number,
  events: number,
  intervalMs: number,
): Promise<ManyStreamsRun> {
  const pids = target.streamPids();
  const sampleMemory = (): number | undefined => (pids.length === 0 ? undefined : memory(pids).rssMb);
  const rssBeforeMb = sampleMemory();
  let rssPeakMb = rssBeforeMb;
  let peakUpstreamOpen = 0;
  const started = Date.now();
  const sampler = setInterval(() => {
    const rss = sampleMemory();
    if (rss !== undefined) rssPeakMb = Math.max(rssPeakMb ?? 0, rss);
    peakUpstreamOpen = Math.max(peakUpstreamOpen, upstream.openStreams);
  }, 100);
  const timeoutMs = 2 * events * intervalMs + 30_000;
  const opened: Array<{ id: string; outcome: Promise<StreamOutcome> }> = [];
  try {
    for (let i = 0; i < count; i += RAMP_BATCH) {
      for (let j = i; j < Math.min(count, i + RAMP_BATCH); j++) {
        const id = newStreamId(`many-${target.name}`);
        const body = streamBody(id, events, intervalMs);
        opened.push({ id, outcome: openStream({ port: target.streamPort, path: "/v1/chat/completions", token, body, timeoutMs }).outcome });
      }
      await sleep(RAMP_PAUSE_MS);
    }
    const errorKinds: Record<string, number> = {};
    let errors = 0;
    let queued = 0;
    let completed = 0;
    for (const { id, outcome } of opened) {
      const result = await outcome;
      if (result.error !== undefined) {
        errors++;
        errorKinds[result.error] = (errorKinds[result.error] ?? 0) + 1;
      } else if (result.sawDone && result.events === events) {
        completed++;
      }
      const upstreamOpenedAt = upstream.stream(id)?.openedAt;
      if (upstreamOpenedAt === undefined || upstreamOpenedAt - result.openedAt > QUEUED_MS) queued++;
    }
    return {
      streams: count,
      completed,
      errors,
      errorKinds,
      queued,
      peakUpstreamOpen,
      rssBeforeMb,
      rssPeakMb,
      hwmMb: pids.length === 0 ? undefined : memory(pids).hwmMb,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    clearInterval(sampler);
  }
}
