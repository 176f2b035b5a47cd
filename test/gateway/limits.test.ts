/**
 * Per-key limits end to end: two gateways sharing a real redis-server in front of one replica; a
 * key limited to N requests a minute gets exactly N through both together; a refusal is OpenAI's
 * 429 with Retry-After and x-ratelimit-* headers, which the real `openai` client waits out; with
 * the store gone each gateway keeps its share and nothing fails open.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import OpenAI from "openai";
import { loadConfig } from "../../proxy/src/config";
import { keyDigest, renderKeysFile } from "../../proxy/src/keys/format";
import { createLogger } from "../../proxy/src/log";
import { startProxy, type RunningProxy } from "../../proxy/src/server";
import { RedisServer } from "../limits/redis-server";
import { chatBody, request } from "../proxy/harness";
import { metricValue, parseMetrics } from "../proxy/support";
import { INTERNAL, randomKey, startTiers, type Tiers } from "./tiers";

describe("limits across gateways", () => {
  let redis: RedisServer;
  let tiers: Tiers;
  let second: RunningProxy;
  const gateways = (): string[] => [tiers.url, `http://127.0.0.1:${second.port}`];

  beforeAll(async () => {
    redis = await RedisServer.start();
    const env = { REDIS_URL: redis.url, GATEWAY_REPLICAS: "2" };
    tiers = await startTiers({ keys: { capped: { rpm: 6 }, tokens: { tpm: 20 }, one: { concurrency: 1 }, free: undefined }, gatewayEnv: env });
    second = await startProxy(
      loadConfig({
        ROLE: "gateway",
        HOST: "127.0.0.1",
        PORT: "0",
        METRICS_PORT: "0",
        READY_POLL_MS: "100",
        KEYS_FILE: path.join(tiers.dir, "keys.json"),
        INTERNAL_TOKEN_FILE: path.join(tiers.dir, "internal-gateway"),
        REPLICAS: tiers.replicas.map((r) => r.url).join(","),
        ...env,
      }),
      { logger: createLogger(() => undefined) },
    );
  }, 30_000);
  afterAll(async () => {
    await second.shutdown(0);
    await tiers.close();
    await redis.stop();
  });

  const chatAt = (url: string, key: string) =>
    request(url, { method: "POST", path: "/v1/chat/completions", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: chatBody() });

  test("a key limited to 6 requests a minute gets exactly 6 through two gateways together; the 7th is 429 with OpenAI's headers", async () => {
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => chatAt(gateways()[i % 2], tiers.keys.capped)));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(6);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused).toHaveLength(6);
    const one = refused[0];
    expect(Number(one.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(one.headers["x-ratelimit-limit-requests"]).toBe("6");
    expect(one.headers["x-ratelimit-remaining-requests"]).toBe("0");
    // OpenAI's duration format: 20ms, 1.5s, 6m0s.
    expect(one.headers["x-ratelimit-reset-requests"]).toMatch(/^(\d+m)?[\d.]+(ms|s)$/);
    const error = (JSON.parse(one.body) as { error: { code: string; type: string; message: string } }).error;
    expect(error.code).toBe("rate_limit_exceeded");
    expect(error.type).toBe("requests");
    expect(error.message).toContain("capped");
    expect(one.body).not.toContain(tiers.keys.capped);
    // A key without limits is not slowed by its neighbour's.
    expect((await chatAt(tiers.url, tiers.keys.free)).status).toBe(200);
    const metrics = parseMetrics((await request(`http://127.0.0.1:${tiers.gateway.metricsPort}`, { path: "/metrics" })).body);
    const second429 = parseMetrics((await request(`http://127.0.0.1:${second.metricsPort}`, { path: "/metrics" })).body);
    expect(
      metricValue(metrics, "vllm_auth_rate_limited_total", { key: "capped", limit: "rpm" }) + metricValue(second429, "vllm_auth_rate_limited_total", { key: "capped", limit: "rpm" }),
    ).toBe(6);
    // Successful answers carry the remaining budget too.
    const free = await chatAt(tiers.url, tiers.keys.tokens);
    expect(free.headers["x-ratelimit-limit-tokens"]).toBe("20");
  });

  test("the real openai client waits out our 429 by itself: two calls at once on a key allowed one at a time both succeed", async () => {
    const client = new OpenAI({ apiKey: tiers.keys.one, baseURL: `${tiers.url}/v1`, maxRetries: 3 });
    const ask = () => client.chat.completions.create({ model: "meta-llama/Llama-2-7b-chat-hf", messages: [{ role: "user", content: "Who are you?" }] });
    const [a, b] = await Promise.all([ask(), ask()]);
    expect([a.object, b.object]).toEqual(["chat.completion", "chat.completion"]);
    const metrics = parseMetrics((await request(`http://127.0.0.1:${tiers.gateway.metricsPort}`, { path: "/metrics" })).body);
    expect(metricValue(metrics, "vllm_auth_rate_limited_total", { key: "one", limit: "concurrency" })).toBeGreaterThanOrEqual(1);
  });

  test("with retries off, the openai client raises RateLimitError with our code, type and headers once a key's tokens per minute are spent", async () => {
    // 20 tokens a minute: one chat (prompt + completion) overdraws it, the next waits for the refill.
    const client = new OpenAI({ apiKey: tiers.keys.tokens, baseURL: `${tiers.url}/v1`, maxRetries: 0 });
    await client.chat.completions.create({ model: "meta-llama/Llama-2-7b-chat-hf", messages: [{ role: "user", content: "Who are you?" }] }).catch(() => undefined);
    let caught: unknown;
    try {
      await client.chat.completions.create({ model: "meta-llama/Llama-2-7b-chat-hf", messages: [{ role: "user", content: "Who are you?" }] });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(OpenAI.RateLimitError);
    const rate = caught as InstanceType<typeof OpenAI.RateLimitError>;
    expect(rate.status).toBe(429);
    expect(rate.code).toBe("rate_limit_exceeded");
    expect(rate.type).toBe("tokens");
    expect(rate.headers.get("retry-after-ms")).toMatch(/^\d+$/);
  });

  test("with the store gone, each gateway keeps its share of the limit and nothing fails open", async () => {
    const key = randomKey();
    const keysFile = path.join(tiers.dir, "keys.json");
    const current = JSON.parse(require("node:fs").readFileSync(keysFile, "utf8")) as { keys: Array<Record<string, unknown>> };
    writeFileSync(keysFile, renderKeysFile([...current.keys.map((k) => k as never), { name: "outage", sha256: keyDigest(key), limits: { rpm: 4 } }]));
    // Both gateways reload the file (TOKENS_POLL_MS is 100 in these tests, file events sooner).
    await new Promise((resolve) => setTimeout(resolve, 500));
    await redis.kill();
    try {
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => chatAt(gateways()[i % 2], key)));
      // 4 a minute across 2 gateways: each allows ceil(4 / 2) = 2 on its own.
      expect(answers.filter((a) => a.status === 200)).toHaveLength(4);
      expect(answers.filter((a) => a.status === 429)).toHaveLength(6);
      expect(answers.every((a) => a.status === 200 || a.status === 429)).toBe(true);
      const metrics = parseMetrics((await request(`http://127.0.0.1:${tiers.gateway.metricsPort}`, { path: "/metrics" })).body);
      expect(metricValue(metrics, "vllm_auth_limits_store_up")).toBe(0);
      expect(metricValue(metrics, "vllm_auth_limits_fallback_total", { key: "outage" })).toBeGreaterThan(0);
    } finally {
      await redis.spawn();
    }
  });

  test("no key leaks into the gateways' logs", () => {
    const logs = tiers.gatewayLogs.join("\n");
    for (const key of Object.values(tiers.keys)) expect(logs).not.toContain(key);
    expect(logs).not.toContain(INTERNAL);
  });
});
