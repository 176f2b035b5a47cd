/**
 * The emulator's usage reporting, shaped like vLLM v0.29.0 (see vllm-shapes.ts), and its own counts.
 * The expected key orders come from a stream captured from a v0.29.0 server.
 */
import http from "node:http";
import { VllmEmulator } from "./emulator";

const MODEL = "meta-llama/Llama-2-7b-chat-hf";
let up: VllmEmulator;

beforeAll(async () => {
  up = new VllmEmulator({ completionTokens: 3, fingerprint: "vllm-0.29.0-13ff2e7e" });
  await up.start();
});
afterEach(async () => {
  await up.setFailure("none");
  up.reset();
});
afterAll(() => up.close());

function post(path: string, body: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${up.url}${path}`, { method: "POST", agent: false, headers: { "content-type": "application/json" } });
    req.on("error", reject).on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("error", () => undefined).on("data", (c: Buffer) => chunks.push(c));
      res.on("close", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.end(JSON.stringify(body));
  });
}

const chat = (extra: Record<string, unknown>) => ({ model: MODEL, messages: [{ role: "user", content: "Who are you?" }], stream: true, ...extra });

function events(text: string): Array<Record<string, unknown> | "[DONE]"> {
  return text
    .split("\n\n")
    .filter((e) => e !== "")
    .map((e) => (e === "data: [DONE]" ? "[DONE]" : (JSON.parse(e.slice("data: ".length)) as Record<string, unknown>)));
}

const keys = (e: Record<string, unknown> | "[DONE]") => (e === "[DONE]" ? e : Object.keys(e).join(","));

test("chat without stream_options: no usage anywhere, the fingerprint on the finishing chunk", async () => {
  const all = events((await post("/v1/chat/completions", chat({}))).text);
  expect(all.map(keys)).toEqual([
    "id,object,created,model,choices,prompt_token_ids,prompt_text",
    "id,object,created,model,choices",
    "id,object,created,model,choices",
    "id,object,created,model,choices",
    "id,object,created,model,choices,system_fingerprint",
    "[DONE]",
  ]);
  expect(all[4]).toMatchObject({ system_fingerprint: "vllm-0.29.0-13ff2e7e", choices: [{ finish_reason: "stop", stop_reason: null, token_ids: null }] });
});

test("chat with include_usage: a last chunk with empty choices carries the usage and the fingerprint", async () => {
  const text = (await post("/v1/chat/completions", chat({ stream_options: { include_usage: true } }))).text;
  const all = events(text);
  expect(all.map(keys).slice(4)).toEqual(["id,object,created,model,choices", "id,object,created,model,choices,usage,system_fingerprint", "[DONE]"]);
  expect(text).toContain('"choices":[],"usage":{"prompt_tokens":7,"total_tokens":10,"completion_tokens":3},"system_fingerprint":"vllm-0.29.0-13ff2e7e"}');
});

test("stream_options {} means include_usage (vLLM's default); continuous stats put usage after choices on every chunk", async () => {
  const empty = events((await post("/v1/chat/completions", chat({ stream_options: {} }))).text);
  expect(keys(empty[5])).toBe("id,object,created,model,choices,usage,system_fingerprint");
  const text = (await post("/v1/chat/completions", chat({ stream_options: { include_usage: true, continuous_usage_stats: true } }))).text;
  const all = events(text);
  expect(all.map(keys)).toEqual([
    "id,object,created,model,choices,usage,prompt_token_ids,prompt_text",
    "id,object,created,model,choices,usage",
    "id,object,created,model,choices,usage",
    "id,object,created,model,choices,usage",
    "id,object,created,model,choices,usage",
    "id,object,created,model,choices,usage,system_fingerprint",
    "[DONE]",
  ]);
  const counts = all.slice(0, 5).map((e) => (e === "[DONE]" ? -1 : (e.usage as { completion_tokens: number }).completion_tokens));
  expect(counts).toEqual([0, 1, 2, 3, 3]);
  expect(text).toContain('"usage":{"prompt_tokens":7,"total_tokens":7,"completion_tokens":0,"completion_tokens_details":null}');
  // continuous_usage_stats alone is ignored: vLLM honours it only with include_usage.
  const alone = events((await post("/v1/chat/completions", chat({ stream_options: { include_usage: false, continuous_usage_stats: true } }))).text);
  expect(alone.some((e) => e !== "[DONE]" && "usage" in e)).toBe(false);
});

test("completions: continuous usage without details, the usage chunk with object text_completion", async () => {
  const body = { model: MODEL, prompt: "Once upon a time", stream: true, stream_options: { continuous_usage_stats: true } };
  const text = (await post("/v1/completions", body)).text;
  expect(text).toContain('"token_ids":null}],"usage":{"prompt_tokens":4,"total_tokens":5,"completion_tokens":1}}');
  expect(text).toContain('{"id":');
  expect(text).toMatch(/"object":"text_completion","created":\d+,"model":"[^"]+","choices":\[\],"usage":\{"prompt_tokens":4,"total_tokens":7,"completion_tokens":3\},"system_fingerprint":"vllm-0.29.0-13ff2e7e"\}/);
});

test("stream_options on a request that does not stream is refused, as vLLM's validator does", async () => {
  const reply = await post("/v1/chat/completions", { ...chat({ stream_options: { include_usage: true } }), stream: false });
  expect(reply.status).toBe(400);
  expect(reply.text).toContain("Stream options can only be defined when `stream=True`.");
  expect(up.usage).toHaveLength(0);
});

test("usage records: what was generated and what was written, per outcome", async () => {
  await post("/v1/chat/completions", { ...chat({}), stream: false });
  await post("/v1/chat/completions", chat({}));
  await up.setFailure("die-mid-stream", { dieAfterEvents: 2 });
  await post("/v1/chat/completions", chat({}));
  await up.setFailure("error-mid-stream", { dieAfterEvents: 3 });
  const failed = await post("/v1/chat/completions", chat({}));
  expect(failed.text).toMatch(/data: \{"error":\{"message":"[^"]+","type":"InternalServerError","param":null,"code":500\}\}\n\ndata: \[DONE\]\n\n$/);
  await up.setFailure("none");
  await post("/v1/embeddings", { model: MODEL, input: "two words" });
  await up.waitForUsage(5);
  expect(up.usage.map((u) => [u.requestId, u.route, u.stream, u.promptTokens, u.completionTokens, u.writtenTokens, u.promptWritten, u.outcome])).toEqual([
    [1, "chat", false, 7, 3, 3, true, "complete"],
    [2, "chat", true, 7, 3, 3, true, "complete"],
    [3, "chat", true, 7, 3, 1, true, "failed"],
    [4, "chat", true, 7, 3, 2, true, "failed"],
    [5, "embedding", false, 2, 0, 0, true, "complete"],
  ]);
});
