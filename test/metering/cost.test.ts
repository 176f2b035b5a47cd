/**
 * CPU cost of UsageMeter.transform per streamed event (it runs on every token): one event per
 * chunk, as vLLM writes them, through the three plans. Prints ns/event of process CPU time (less
 * sensitive than wall time to other processes on a shared machine); the bound is generous but
 * catches an accidental quadratic or per-event parse of the whole stream.
 */
import { FingerprintMemo, UsageMeter, type UsagePlan } from "../../proxy/src/metering";
import { CONTINUOUS, FINGERPRINT, generation, streamFor } from "./streams";

const EVENTS = 2000;
const ROUNDS = 9;
const BOUND_NS_PER_EVENT = 20_000;

function plan(hideUsageChunk: boolean, hideChunkUsage: boolean): UsagePlan {
  return { body: Buffer.alloc(0), streamed: true, hideUsageChunk, hideChunkUsage, choicesPerPrompt: 1 };
}

/**
 * Least CPU ns per event over ROUNDS runs of a whole stream of EVENTS tokens: under a parallel test
 * suite V8's compile threads wait for a core, so early runs execute unoptimised code (a median of 5
 * once read 113 µs against 5-8 alone); a real regression costs every run.
 */
function nsPerEvent(chunks: Buffer[], p: UsagePlan | undefined): number {
  const memo = new FingerprintMemo();
  memo.raw = Buffer.from(JSON.stringify(FINGERPRINT));
  const runs: number[] = [];
  for (let round = 0; round < ROUNDS + 1; round++) {
    const meter = new UsageMeter("chat_completions", p, "text/event-stream; charset=utf-8", memo);
    const started = process.cpuUsage();
    for (const chunk of chunks) meter.transform(chunk);
    const used = process.cpuUsage(started);
    const elapsedMs = (used.user + used.system) / 1000;
    if (meter.usage().completionTokens !== EVENTS) throw new Error("stream not metered");
    // The first round warms the JIT up.
    if (round > 0) runs.push((elapsedMs * 1e6) / chunks.length);
  }
  return Math.min(...runs);
}

test("transform costs a few microseconds per event at most", () => {
  const chunks = streamFor(generation("chat", EVENTS), CONTINUOUS).map((e) => Buffer.from(e));
  const bytes = chunks.reduce((n, c) => n + c.length, 0) / chunks.length;
  const results = {
    "hide usage chunk and chunk usage (client asked nothing)": nsPerEvent(chunks, plan(true, true)),
    "hide chunk usage (client asked include_usage)": nsPerEvent(chunks, plan(false, true)),
    "meter only (client asked everything)": nsPerEvent(chunks, plan(false, false)),
  };
  const lines = Object.entries(results).map(([name, ns]) => `  ${name}: ${Math.round(ns)} ns/event`);
  process.stdout.write(`UsageMeter.transform, ${chunks.length} events of ~${Math.round(bytes)} bytes, CPU time, least of ${ROUNDS} runs:\n${lines.join("\n")}\n`);
  for (const ns of Object.values(results)) expect(ns).toBeLessThan(BOUND_NS_PER_EVENT);
});
