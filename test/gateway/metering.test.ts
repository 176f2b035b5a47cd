/**
 * Per-key metering through both tiers: the gateway's Prometheus counters for a key equal what the
 * vLLM emulator itself generated and wrote, over streamed, non-streamed, aborted and failed
 * requests, and the client receives the stream it asked for.
 */
import net from "node:net";
import { chatBody, eventually, request } from "../proxy/harness";
import { metricValue, openStream, parseMetrics } from "../proxy/support";
import type { UsageRecord } from "../upstream/emulator";
import { startTiers, type Tiers } from "./tiers";

/** What the emulator says a response used, as far as it went. */
const emulated = (record: UsageRecord): { prompt: number; completion: number } => ({
  prompt: record.promptWritten ? record.promptTokens : 0,
  completion: record.writtenTokens,
});

describe("metering per key", () => {
  let tiers: Tiers;
  beforeAll(async () => {
    tiers = await startTiers({ keys: { alice: undefined, bob: undefined }, emulator: { tokenDelayMs: 20, completionTokens: 12 } });
  });
  afterAll(() => tiers.close());

  const send = (key: string, extra: Record<string, unknown>, path = "/v1/chat/completions") =>
    request(tiers.url, { method: "POST", path, headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: chatBody(extra) });

  async function counters(key: string): Promise<{ prompt: number; completion: number; requests: number }> {
    const res = await request(`http://127.0.0.1:${tiers.gateway.metricsPort}`, { path: "/metrics" });
    const samples = parseMetrics(res.body);
    return {
      prompt: metricValue(samples, "vllm_auth_key_prompt_tokens_total", { key }),
      completion: metricValue(samples, "vllm_auth_key_completion_tokens_total", { key }),
      requests: metricValue(samples, "vllm_auth_key_requests_total", { key }),
    };
  }

  /** The emulator's totals for every request it finished (complete, aborted or failed). */
  function emulatorTotals(): { prompt: number; completion: number } {
    const done = tiers.replicas[0].emulator.usage.filter((r) => r.outcome !== "pending");
    return done.reduce((sum, r) => ({ prompt: sum.prompt + emulated(r).prompt, completion: sum.completion + emulated(r).completion }), { prompt: 0, completion: 0 });
  }

  test("streamed, non-streamed, aborted and failed requests: the gateway's counts equal the emulator's", async () => {
    const key = tiers.keys.alice;
    // Non-streamed and streamed, the client asking for nothing about usage.
    expect((await send(key, {})).status).toBe(200);
    const streamed = await send(key, { stream: true });
    expect(streamed.status).toBe(200);
    // The client did not ask for usage: its stream has none, though the gateway asked vLLM for it.
    expect(streamed.body).not.toContain('"usage"');
    expect(streamed.body.trimEnd().endsWith("data: [DONE]")).toBe(true);
    // The client asked for the final usage chunk: it gets exactly that.
    const withUsage = await send(key, { stream: true, stream_options: { include_usage: true } });
    expect(withUsage.body.match(/"usage":\{/g)).toHaveLength(1);
    expect(withUsage.body).toMatch(/"choices":\[\],"usage":\{"prompt_tokens":\d+/);
    // Aborted after a few tokens, between two of them (a token in flight when the client leaves is
    // written by vLLM but never reaches the gateway: no meter can count it).
    tiers.replicas[0].emulator.setTokenDelay(300);
    const socket = net.connect(tiers.gateway.port, "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    const body = chatBody({ stream: true });
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    let seen = "";
    await new Promise<void>((resolve) => {
      socket.on("data", (chunk: Buffer) => {
        seen += chunk.toString();
        if ((seen.match(/^data: \{/gm) ?? []).length >= 3) resolve();
      });
    });
    socket.destroy();
    tiers.replicas[0].emulator.setTokenDelay(20);
    // Failed mid-stream.
    await tiers.replicas[0].emulator.setFailure("die-mid-stream", { dieAfterEvents: 4 });
    const stream = await openStream(tiers.url, {
      path: "/v1/chat/completions",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: chatBody({ stream: true }),
    });
    await stream.done;
    await tiers.replicas[0].emulator.setFailure("none");

    await eventually(() => tiers.replicas[0].emulator.usage.filter((r) => r.outcome !== "pending").length === 5, 3000);
    const expected = emulatorTotals();
    expect(expected.completion).toBeGreaterThan(0);
    await eventually(async () => {
      const got = await counters("alice");
      return got.prompt === expected.prompt && got.completion === expected.completion;
    }, 3000).catch(async (error: unknown) => {
      throw new Error(`${String(error)}: gateway ${JSON.stringify(await counters("alice"))}, emulator ${JSON.stringify(expected)}, records ${JSON.stringify(tiers.replicas[0].emulator.usage)}`);
    });
    expect((await counters("alice")).requests).toBe(5);
    // Nothing was counted against the key that sent nothing.
    expect(await counters("bob")).toEqual({ prompt: 0, completion: 0, requests: 0 });
  });

  test("the access log line of a metered request carries its token counts and the key's name", async () => {
    expect((await send(tiers.keys.bob, {})).status).toBe(200);
    await eventually(() => tiers.gatewayLines().some((l) => l.msg === "request" && l.key === "bob"));
    const line = tiers.gatewayLines().find((l) => l.msg === "request" && l.key === "bob");
    const record = tiers.replicas[0].emulator.usage.at(-1);
    expect(line?.prompt_tokens).toBe(record?.promptTokens);
    expect(line?.completion_tokens).toBe(record?.completionTokens);
  });

  test("a body that is not UTF-8 JSON is refused with 400 at the gateway and never forwarded", async () => {
    const before = tiers.replicas[0].emulator.requests.length;
    const res = await request(tiers.url, {
      method: "POST",
      path: "/v1/chat/completions",
      headers: { authorization: `Bearer ${tiers.keys.alice}`, "content-type": "application/json" },
      body: Buffer.from(chatBody({ stream: true }), "utf16le"),
    });
    expect(res.status).toBe(400);
    expect((JSON.parse(res.body) as { error: { code: string } }).error.code).toBe("invalid_body");
    expect(tiers.replicas[0].emulator.requests.filter((r) => r.headers["x-forwarded-proto"] !== undefined).length).toBe(
      tiers.replicas[0].emulator.requests.slice(0, before).filter((r) => r.headers["x-forwarded-proto"] !== undefined).length,
    );
  });
});
