import http from "node:http";
import net from "node:net";
import { performance } from "node:perf_hooks";
import { OpenAI } from "openai";
import { VllmEmulator } from "./emulator";

const MODEL = "meta-llama/Llama-2-7b-chat-hf";

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface SseEvent {
  data: string;
  at: number;
}

interface Streamed {
  status: number;
  headers: http.IncomingHttpHeaders;
  events: SseEvent[];
  complete: boolean;
}

interface Call {
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: unknown;
}

let up: VllmEmulator;

/** A fresh connection per call (agent: false) so one test's broken socket never leaks into the next. */
function open(path: string, call: Call = {}): http.ClientRequest {
  const body = call.body === undefined ? undefined : typeof call.body === "string" ? call.body : JSON.stringify(call.body);
  const req = http.request(`${up.url}${path}`, {
    method: call.method ?? (body === undefined ? "GET" : "POST"),
    agent: false,
    headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...call.headers },
  });
  req.end(body);
  return req;
}

function fetchText(path: string, call: Call = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    open(path, call)
      .on("error", reject)
      .on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      });
  });
}

async function fetchJson<T>(path: string, call: Call = {}): Promise<Reply & { json: T }> {
  const reply = await fetchText(path, call);
  return { ...reply, json: JSON.parse(reply.body) as T };
}

/** Collects SSE events with their client-side arrival time; resolves when the response closes, cut or not. */
function fetchStream(path: string, body: unknown, onEvent?: (e: SseEvent, req: http.ClientRequest) => void): Promise<Streamed> {
  return new Promise((resolve, reject) => {
    const req = open(path, { body });
    req.on("error", () => undefined).on("response", (res) => {
      const events: SseEvent[] = [];
      let pending = "";
      res.on("error", () => undefined);
      res.on("data", (chunk: Buffer) => {
        const at = performance.now();
        const parts = (pending + chunk.toString()).split("\n\n");
        pending = parts.pop() ?? "";
        for (const part of parts) {
          const event = { data: part.replace(/^data: /, ""), at };
          events.push(event);
          onEvent?.(event, req);
        }
      });
      res.on("close", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, events, complete: res.complete }));
    });
    req.on("close", () => setImmediate(() => reject(new Error("request closed without a response"))));
  });
}

function chatBody(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: MODEL, messages: [{ role: "user", content: "Who are you?" }], ...extra };
}

interface ChatCompletion {
  id: string;
  object: string;
  model: string;
  choices: { index: number; message: { role: string; content: string }; finish_reason: string; logprobs: null }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

interface Chunk {
  object: string;
  choices: { delta?: { role?: string; content?: string }; text?: string; finish_reason: string | null }[];
  usage?: { completion_tokens: number };
}

beforeAll(async () => {
  up = new VllmEmulator({ completionTokens: 6 });
  await up.start();
});

afterEach(async () => {
  await up.setFailure("none");
  up.setReady(true);
  up.setTokenDelay(0);
  up.reset();
});

afterAll(() => up.close());

describe("vLLM API surface", () => {
  test("GET /v1/models has vLLM's shape", async () => {
    const { status, headers, json } = await fetchJson<{ object: string; data: Record<string, unknown>[] }>("/v1/models");
    expect(status).toBe(200);
    expect(headers["content-type"]).toBe("application/json");
    expect(json.object).toBe("list");
    expect(json.data[0]).toMatchObject({ id: MODEL, object: "model", owned_by: "vllm", root: MODEL, parent: null, max_model_len: 4096 });
    expect(json.data[0].permission).toEqual([
      expect.objectContaining({ id: expect.stringMatching(/^modelperm-[0-9a-f]{32}$/), object: "model_permission", organization: "*" }),
    ]);
    const head = await fetchText("/v1/models", { method: "HEAD" });
    expect([head.status, head.body]).toEqual([200, ""]);
  });

  test("non-stream chat completion is deterministic and honours max_tokens", async () => {
    const full = await fetchJson<ChatCompletion>("/v1/chat/completions", { body: chatBody() });
    expect(full.status).toBe(200);
    expect(full.json.id).toMatch(/^chatcmpl-[0-9a-f]+$/);
    expect(full.json).toMatchObject({ object: "chat.completion", model: MODEL });
    expect(full.json.choices).toEqual([
      { index: 0, message: { role: "assistant", content: "Hello! I'm LLaMA, an AI assistant" }, logprobs: null, finish_reason: "stop" },
    ]);
    expect(full.json.usage.completion_tokens).toBe(6);
    expect(full.json.usage.total_tokens).toBe(full.json.usage.prompt_tokens + 6);
    const short = await fetchJson<ChatCompletion>("/v1/chat/completions", { body: chatBody({ max_tokens: 2 }) });
    expect(short.json.choices[0].message.content).toBe("Hello! I'm");
  });

  test("streamed chat: one event per token, spaced by the token delay, then [DONE]", async () => {
    up.setTokenDelay(25);
    const started = performance.now();
    const s = await fetchStream("/v1/chat/completions", chatBody({ max_tokens: 3, stream: true, stream_options: { include_usage: true } }));
    expect(s.status).toBe(200);
    expect(s.headers["content-type"]).toMatch(/^text\/event-stream/);
    expect(s.headers["content-length"]).toBeUndefined();
    expect(s.complete).toBe(true);
    const data = s.events.map((e) => e.data);
    expect(data.at(-1)).toBe("[DONE]");
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as Chunk);
    expect(chunks[0].choices[0].delta).toEqual({ role: "assistant", content: "" });
    expect(chunks.slice(1, 4).map((c) => c.choices[0].delta?.content)).toEqual(["Hello!", " I'm", " LLaMA,"]);
    expect(chunks[4].choices[0].finish_reason).toBe("length");
    expect(chunks[5]).toMatchObject({ object: "chat.completion.chunk", choices: [], usage: { completion_tokens: 3 } });
    // Each event after the first waits one delay (timers may fire ~1 ms early). A stall on a loaded
    // machine can merge two arrivals, so the spacing is checked on the median gap, not every gap.
    expect((s.events.at(-1)?.at ?? 0) - started).toBeGreaterThanOrEqual(24 * (s.events.length - 1));
    const gaps = s.events.slice(1).map((e, i) => e.at - s.events[i].at).sort((a, b) => a - b);
    expect(gaps[Math.floor(gaps.length / 2)]).toBeGreaterThanOrEqual(20);
    expect(up.requests[0].completed).toBe(true);
  });

  test("completions, stream and non-stream", async () => {
    const body = { model: MODEL, prompt: "Once upon a time", max_tokens: 3 };
    const plain = await fetchJson<{ object: string; id: string; choices: Record<string, unknown>[] }>("/v1/completions", { body });
    expect(plain.json.object).toBe("text_completion");
    expect(plain.json.id).toMatch(/^cmpl-/);
    expect(plain.json.choices).toEqual([{ index: 0, text: "Hello! I'm LLaMA,", logprobs: null, finish_reason: "length" }]);
    const s = await fetchStream("/v1/completions", { ...body, stream: true });
    const chunks = s.events.slice(0, -1).map((e) => JSON.parse(e.data) as Chunk);
    expect(chunks.map((c) => c.choices[0].text).join("")).toBe("Hello! I'm LLaMA,");
    expect(chunks.every((c) => c.object === "text_completion")).toBe(true);
    expect(s.events.at(-1)?.data).toBe("[DONE]");
  });

  test("embeddings", async () => {
    const { status, json } = await fetchJson<{ object: string; data: { object: string; index: number; embedding: number[] }[] }>(
      "/v1/embeddings",
      { body: { model: MODEL, input: ["a", "b"] } },
    );
    expect(status).toBe(200);
    expect(json).toMatchObject({ object: "list", model: MODEL, usage: { prompt_tokens: 2 } });
    expect(json.data.map((d) => [d.object, d.index, d.embedding.length])).toEqual([["embedding", 0, 8], ["embedding", 1, 8]]);
  });

  test("bad requests get vLLM's error shape; unknown routes FastAPI's", async () => {
    const badJson = await fetchJson<Record<string, unknown>>("/v1/chat/completions", { body: "{nope" });
    expect(badJson.status).toBe(400);
    expect(badJson.json).toMatchObject({ object: "error", type: "BadRequestError", param: null, code: 400 });
    const noMessages = await fetchJson<{ code: number }>("/v1/chat/completions", { body: { model: MODEL } });
    const noPrompt = await fetchJson<{ code: number }>("/v1/completions", { body: { model: MODEL } });
    expect([noMessages.json.code, noPrompt.json.code]).toEqual([400, 400]);
    const wrongModel = await fetchJson<{ code: number; type: string }>("/v1/chat/completions", { body: chatBody({ model: "gpt-4" }) });
    expect([wrongModel.status, wrongModel.json.type]).toEqual([404, "NotFoundError"]);
    const unknown = await fetchText("/admin/secrets");
    expect([unknown.status, unknown.body]).toEqual([404, '{"detail":"Not Found"}']);
    expect(up.requests.map((r) => r.target)).toContain("/admin/secrets");
  });

  test("not ready: /health and API routes answer 503", async () => {
    expect((await fetchText("/health")).status).toBe(200);
    up.setReady(false);
    const health = await fetchText("/health");
    const models = await fetchJson<{ code: number }>("/v1/models");
    expect([health.status, models.status, models.json.code]).toEqual([503, 503, 503]);
  });

  test("records the raw target, raw headers, body and carrying socket", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const send = (path: string, body: string) =>
      new Promise<void>((resolve, reject) => {
        const req = http.request(`${up.url}${path}`, { method: "POST", agent, headers: { "X-Trace-Id": "abc", "content-type": "application/json" } });
        req.on("error", reject).on("response", (res) => res.resume().on("end", resolve));
        req.end(body);
      });
    const body = JSON.stringify(chatBody());
    await send("/v1/chat/completions?a=1&b=%20", body);
    await send("/v1/chat/completions", body);
    agent.destroy();
    const [first, second] = await up.waitForRequests(2);
    expect(first).toMatchObject({ id: 1, method: "POST", target: "/v1/chat/completions?a=1&b=%20", completed: true });
    expect(first.rawHeaders).toEqual(expect.arrayContaining(["X-Trace-Id", "abc"]));
    expect(first.headers["x-trace-id"]).toBe("abc");
    expect(first.body.toString()).toBe(body);
    expect(first.bodyEndedAt).toBeGreaterThanOrEqual(first.receivedAt);
    expect(second.socketId).toBe(first.socketId);
    await up.waitForClose(second, 1000);
    expect(up.openSockets).toBe(0);
  });

  test("the official openai client works against it", async () => {
    const client = new OpenAI({ baseURL: `${up.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const models = await client.models.list();
    expect(models.data[0].id).toBe(MODEL);
    const reply = await client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "hi" }] });
    expect(reply.choices[0].message.content).toBe("Hello! I'm LLaMA, an AI assistant");
    const stream = await client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "hi" }], stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe("Hello! I'm LLaMA, an AI assistant");
  });
});

describe("client aborts", () => {
  test("closing mid-stream stops generation and records closedAt", async () => {
    up.setTokenDelay(20);
    let closedByClient = 0;
    const s = await fetchStream("/v1/chat/completions", chatBody({ stream: true }), (_e, req) => {
      if (closedByClient === 0) {
        closedByClient = performance.now();
        req.destroy();
      }
    });
    expect(s.complete).toBe(false);
    const [rec] = await up.waitForRequests(1);
    const closedAt = await up.waitForClose(rec, 500);
    expect(closedAt - closedByClient).toBeLessThan(100);
    expect(rec.completed).toBe(false);
  });

  test("closing while a non-stream answer is being generated records closedAt", async () => {
    up.setTokenDelay(50);
    const req = open("/v1/chat/completions", { body: chatBody() }).on("error", () => undefined);
    const [rec] = await up.waitForRequests(1);
    req.destroy();
    const destroyedAt = performance.now();
    expect((await up.waitForClose(rec, 500)) - destroyedAt).toBeLessThan(100);
    expect(rec.completed).toBe(false);
  });
});

describe("failure modes", () => {
  test("refuse: connections are refused, then served again on the same port", async () => {
    const port = up.port;
    await up.setFailure("refuse");
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => {
      net.connect(port, "127.0.0.1").on("error", resolve).on("connect", () => resolve(new Error("connected")));
    });
    expect(error.code).toBe("ECONNREFUSED");
    expect(up.openSockets).toBe(0);
    await up.setFailure("none");
    expect(up.port).toBe(port);
    expect((await fetchText("/health")).status).toBe(200);
  });

  test("reset-before-headers: the body is read, then the socket dies without a response", async () => {
    await up.setFailure("reset-before-headers");
    const outcome = await new Promise<string>((resolve) => {
      open("/v1/chat/completions", { body: chatBody() })
        .on("response", () => resolve("response"))
        .on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    expect(outcome).toBe("ECONNRESET");
    const [rec] = await up.waitForRequests(1);
    expect(rec.body.length).toBeGreaterThan(0);
    expect(rec.bodyEndedAt).toBeDefined();
    await up.waitForClose(rec, 500);
    expect(rec.completed).toBe(false);
  });

  test("die-mid-stream: a streamed answer is cut after dieAfterEvents, without [DONE]", async () => {
    await up.setFailure("die-mid-stream", { dieAfterEvents: 2 });
    const s = await fetchStream("/v1/chat/completions", chatBody({ stream: true }));
    expect(s.status).toBe(200);
    expect(s.complete).toBe(false);
    expect(s.events).toHaveLength(2);
    expect(s.events.map((e) => e.data)).not.toContain("[DONE]");
    expect(up.requests[0].completed).toBe(false);
  });

  test("die-mid-stream: a non-stream answer is cut after half its body", async () => {
    await up.setFailure("die-mid-stream");
    const result = await new Promise<{ expected: number; got: number; complete: boolean }>((resolve, reject) => {
      open("/v1/chat/completions", { body: chatBody() })
        .on("error", () => undefined)
        .on("response", (res) => {
          let got = 0;
          res.on("error", () => undefined).on("data", (c: Buffer) => (got += c.length));
          res.on("close", () => resolve({ expected: Number(res.headers["content-length"]), got, complete: res.complete }));
        })
        .on("close", () => setImmediate(() => reject(new Error("no response"))));
    });
    expect(result.complete).toBe(false);
    expect(result.got).toBe(Math.floor(result.expected / 2));
  });

  test("hang: no answer, and the client giving up is recorded", async () => {
    await up.setFailure("hang");
    let answered = false;
    const req = open("/v1/chat/completions", { body: chatBody() })
      .on("response", () => (answered = true))
      .on("error", () => undefined);
    const [rec] = await up.waitForRequests(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(answered).toBe(false);
    expect(rec.closedAt).toBeUndefined();
    expect(up.openSockets).toBe(1);
    req.destroy();
    const destroyedAt = performance.now();
    expect((await up.waitForClose(rec, 100)) - destroyedAt).toBeLessThan(100);
  });

  test("close() never hangs, even with hung requests in flight", async () => {
    const other = new VllmEmulator();
    await other.start();
    await other.setFailure("hang");
    const req = http.request(`${other.url}/v1/models`, { agent: false }).on("error", () => undefined);
    req.end();
    await other.waitForRequests(1);
    await other.close();
    expect(other.openSockets).toBe(0);
    await expect(other.waitForRequests(2, 10)).rejects.toThrow(/timed out/);
  });
});

describe("requests not retained (the bench's request-rate upstream)", () => {
  const runningGauge = async (emulator: VllmEmulator): Promise<number> => {
    const text = await (await fetch(`${emulator.url}/metrics`)).text();
    return Number(/^vllm:num_requests_running\{[^}]*\} (\d+)$/m.exec(text)?.[1]);
  };

  test("it answers and counts running generations without keeping any request or usage record", async () => {
    const lean = new VllmEmulator({ retainRequests: false, tokenDelayMs: 100 });
    await lean.start();
    try {
      const held = fetch(`${lean.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }] }),
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await runningGauge(lean)).toBe(1);
      const answer = await held;
      expect(answer.status).toBe(200);
      expect(((await answer.json()) as { object: string }).object).toBe("chat.completion");
      expect(await runningGauge(lean)).toBe(0);
      expect(lean.requests).toEqual([]);
      expect(lean.usage).toEqual([]);
    } finally {
      await lean.close();
    }
  });

  test("a reset while a generation runs does not lose it from the running gauge", async () => {
    up.setTokenDelay(100);
    const held = fetchJson("/v1/chat/completions", { body: chatBody() });
    await up.waitForRequests(1);
    up.reset();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await runningGauge(up)).toBe(1);
    await held;
    expect(await runningGauge(up)).toBe(0);
  });
});
