/**
 * The real `openai` client against a tiny server that answers 429 the way the gateway does, from the
 * limiter's decision (with the store): the SDK must wait what we say, retry by itself, and succeed.
 * openai-node 6.x (`client.ts`, `retryRequest`) retries a 429 twice by default and waits
 * `retry-after-ms` if present, else `retry-after`, else its own backoff of 0.5 s then 1 s.
 */
import http from "node:http";
import OpenAI from "openai";
import { type Limiter, createLimiter, refusalMessage } from "../../proxy/src/limits";
import type { KeyLimits } from "../../proxy/src/keys/format";
import { RedisServer } from "./redis-server";

let redis: RedisServer;
let limiter: Limiter;
let server: http.Server;
let baseURL: string;
/** The key, its limits and the usage the next answers report, set per test. */
let key = "sdk";
let limits: KeyLimits = {};
let usage = { prompt_tokens: 10, completion_tokens: 5 };
/** What the server saw: time and status of every attempt. */
const attempts: Array<{ at: number; status: number; retryAfterMs?: number }> = [];

beforeAll(async () => {
  redis = await RedisServer.start();
  const up = new Promise<void>((resolve) => {
    limiter = createLimiter({ redisUrl: redis.url, timeoutMs: 1000, gatewayReplicas: 2, events: { storeUp: (isUp) => isUp && resolve() } });
  });
  await up;
  server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      void limiter.admit(key, limits).then((admission) => {
        if (!admission.ok) {
          attempts.push({ at: performance.now(), status: 429, retryAfterMs: admission.retryAfterMs });
          const message = refusalMessage(key, admission.limit, limits[admission.limit], admission.retryAfterMs);
          const body = JSON.stringify({ error: { message, type: admission.limit === "tpm" ? "tokens" : "requests", param: null, code: "rate_limit_exceeded" } });
          res.writeHead(429, { "content-type": "application/json", ...admission.headers });
          res.end(body);
          return;
        }
        attempts.push({ at: performance.now(), status: 200 });
        const total = usage.prompt_tokens + usage.completion_tokens;
        res.writeHead(200, { "content-type": "application/json", ...admission.headers });
        res.end(
          JSON.stringify({
            id: "chatcmpl-1",
            object: "chat.completion",
            created: 0,
            model: "m",
            choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop", logprobs: null }],
            usage: { ...usage, total_tokens: total },
          }),
        );
        admission.lease.settle(total);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  baseURL = `http://127.0.0.1:${address.port}/v1`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await limiter?.close();
  await redis?.stop();
});

beforeEach(() => {
  attempts.length = 0;
});

const client = (maxRetries = 2): OpenAI => new OpenAI({ apiKey: "unused", baseURL, maxRetries, timeout: 20_000 });
const chat = (c: OpenAI) => c.chat.completions.create({ model: "m", messages: [{ role: "user", content: "hi" }] });

/** The SDK's own backoff for a first retry is at most 500 ms; ours here are one or two seconds, so the gap shows whose wait it was. */
function expectWaitedAsTold(): void {
  expect(attempts.map((a) => a.status)).toEqual([429, 200]);
  const told = attempts[0].retryAfterMs ?? 0;
  expect(told).toBeGreaterThan(600);
  const gap = attempts[1].at - attempts[0].at;
  expect(gap).toBeGreaterThanOrEqual(told - 5);
  expect(gap).toBeLessThan(told + 500);
}

describe("the openai SDK backs off by itself on our 429", () => {
  test("requests per minute: it waits retry-after-ms, retries, and gets the completion", async () => {
    key = "sdk-rpm";
    limits = { rpm: 30 }; // one every 2 s
    // Spend the key's whole minute at once, as a burst of other clients would.
    const burst = await Promise.all(Array.from({ length: 30 }, () => limiter.admit(key, limits)));
    expect(burst.every((a) => a.ok)).toBe(true);
    const completion = await chat(client());
    expect(completion.choices[0].message.content).toBe("hi");
    expectWaitedAsTold();
  });

  test("tokens per minute: spent by the previous answer's usage, it waits until a token is left", async () => {
    key = "sdk-tpm";
    limits = { tpm: 6000 }; // 100 tokens a second
    usage = { prompt_tokens: 6000, completion_tokens: 150 };
    // Settled off the response's path, but on the same connection as the next admission, so before it.
    await chat(client());
    usage = { prompt_tokens: 10, completion_tokens: 5 };
    attempts.length = 0;
    await chat(client());
    // 6150 used of 6000: 151 tokens drain in about 1.5 s.
    expectWaitedAsTold();
    expect(attempts[0].retryAfterMs).toBeGreaterThan(1400);
  });

  test("concurrency: it retries after the second we advertise and gets the slot freed meanwhile", async () => {
    key = "sdk-concurrency";
    limits = { concurrency: 1 };
    const running = await limiter.admit(key, limits);
    expect(running.ok).toBe(true);
    setTimeout(() => running.ok && running.lease.settle(0), 300);
    await chat(client());
    expectWaitedAsTold();
  });

  test("with retries off, the SDK raises RateLimitError carrying our status, code, message and headers", async () => {
    key = "sdk-no-retries";
    limits = { rpm: 1 };
    await chat(client(0)).catch(() => undefined);
    const error = await chat(client(0)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    if (!(error instanceof OpenAI.RateLimitError)) return;
    expect(error.status).toBe(429);
    expect(error.code).toBe("rate_limit_exceeded");
    expect(error.message).toMatch(/^429 Rate limit reached for key sdk-no-retries on requests per minute \(limit 1\)\. Please try again in (59|60)(\.\d+)?s\.$/);
    expect(error.headers?.get("x-ratelimit-limit-requests")).toBe("1");
    expect(error.headers?.get("x-ratelimit-remaining-requests")).toBe("0");
    expect(error.headers?.get("retry-after")).toMatch(/^(59|60)$/);
  });
});
