/**
 * The gateway's own rows: what per-key limits add (issue 13), and how one client connection's
 * requests spread over replicas (issue 11). Both through real gateway and sidecar processes.
 */
import { performance } from "node:perf_hooks";
import { Client } from "undici";
import { scrape, sumMetric } from "./scrape";
import type { Balance } from "./stack";
import { CHAT_BODY, newStreamId, streamBody, type Target } from "./workloads";

export interface LimitsRun {
  /** Request latencies with the key without limits, ms. */
  readonly plain: number[];
  /** With the key that has rpm, tpm and concurrency limits (checked against the store), ms. */
  readonly limited: number[];
  readonly failures: number;
  /** Limited answers that carried `x-ratelimit-limit-requests`: the limits were applied. */
  readonly limitedWithHeaders: number;
  /** `vllm_auth_limits_store_up` after the run, and the store errors and fallbacks during it. */
  readonly storeUp: boolean;
  readonly storeErrors: number;
  readonly fallbacks: number;
}

interface Timed {
  readonly ms: number;
  readonly ok: boolean;
  readonly rateLimitHeaders: boolean;
}

async function timedChat(client: Client, token: string): Promise<Timed> {
  const started = performance.now();
  const res = await client.request({
    path: "/v1/chat/completions",
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: CHAT_BODY,
  });
  await res.body.dump({ limit: Number.POSITIVE_INFINITY });
  return { ms: performance.now() - started, ok: res.statusCode === 200, rateLimitHeaders: res.headers["x-ratelimit-limit-requests"] !== undefined };
}

async function storeState(metricsPort: number): Promise<{ up: boolean; errors: number; fallbacks: number }> {
  const text = await scrape(metricsPort);
  return {
    up: sumMetric(text, "vllm_auth_limits_store_up") === 1,
    errors: sumMetric(text, "vllm_auth_limits_store_errors_total"),
    fallbacks: sumMetric(text, "vllm_auth_limits_fallback_total"),
  };
}

/**
 * `pairs` pairs of non-streamed chats on one keep-alive connection, one request with each key per
 * pair, the order swapped every pair: both keys see the same machine, moment for moment.
 */
export async function limitsPairs(target: Target, keys: { readonly plain: string; readonly limited: string }, pairs: number, metricsPort: number): Promise<LimitsRun> {
  const before = await storeState(metricsPort);
  const client = new Client(`http://127.0.0.1:${target.ratePort}`, { pipelining: 1 });
  const plain: number[] = [];
  const limited: number[] = [];
  let failures = 0;
  let limitedWithHeaders = 0;
  try {
    for (let i = 0; i < pairs; i++) {
      const order = i % 2 === 0 ? (["plain", "limited"] as const) : (["limited", "plain"] as const);
      for (const which of order) {
        const answer = await timedChat(client, keys[which]);
        if (!answer.ok) {
          failures++;
          continue;
        }
        if (which === "plain") plain.push(answer.ms);
        else {
          limited.push(answer.ms);
          if (answer.rateLimitHeaders) limitedWithHeaders++;
        }
      }
    }
  } finally {
    await client.close();
  }
  const after = await storeState(metricsPort);
  return {
    plain,
    limited,
    failures,
    limitedWithHeaders,
    storeUp: before.up && after.up,
    storeErrors: after.errors - before.errors,
    fallbacks: after.fallbacks - before.fallbacks,
  };
}

export interface BalanceRun {
  readonly requests: number;
  /** Requests each sidecar served, in REPLICAS order. */
  readonly perReplica: number[];
  readonly failures: number;
  /** Connections the client opened: 1 when every request shared one. */
  readonly clientConnections: number;
}

async function servedBy(ports: readonly number[]): Promise<number[]> {
  return Promise.all(ports.map(async (port) => sumMetric(await scrape(port), "vllm_auth_requests_total", { route: "chat_completions", status: "200" })));
}

/** `requests` slow streamed chats one after the other over one keep-alive client connection to the gateway. */
export async function balanceRun(balance: Balance, token: string, requests: number, events: number, intervalMs: number): Promise<BalanceRun> {
  const before = await servedBy(balance.sidecarMetricsPorts);
  const client = new Client(`http://127.0.0.1:${balance.port}`, { pipelining: 1 });
  let clientConnections = 0;
  client.on("connect", () => clientConnections++);
  let failures = 0;
  try {
    for (let i = 0; i < requests; i++) {
      const res = await client.request({
        path: "/v1/chat/completions",
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "text/event-stream" },
        body: streamBody(newStreamId("balance"), events, intervalMs),
      });
      const text = await res.body.text();
      if (res.statusCode !== 200 || !text.includes("data: [DONE]")) failures++;
    }
  } finally {
    await client.close();
  }
  const after = await servedBy(balance.sidecarMetricsPorts);
  return { requests, perReplica: after.map((n, i) => n - before[i]), failures, clientConnections };
}
