/**
 * End to end over real sockets: a tiny relay runs planUsage and UsageMeter in front of the vLLM
 * emulator, the way the gateway will; the metered counts must equal the emulator's own, and the
 * client must receive the stream it asked for.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { FingerprintMemo, UsageMeter, planUsage, type Usage, type UsageSource } from "../../proxy/src/metering";
import { VllmEmulator, type UsageRecord } from "../upstream/emulator";

const MODEL = "meta-llama/Llama-2-7b-chat-hf";
const ROUTES: Record<string, string> = { "/v1/chat/completions": "chat_completions", "/v1/completions": "completions", "/v1/embeddings": "embeddings" };
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "content-length"]);

interface Metered {
  readonly route: string;
  readonly usage: Usage;
  readonly source: UsageSource;
  /** The bytes vLLM sent, before the meter. */
  readonly upstream: Buffer;
}

/** planUsage before forwarding, UsageMeter on the way back; one record per upstream response. */
class Relay {
  readonly results: Metered[] = [];
  readonly memo = new FingerprintMemo();
  private readonly server = http.createServer((req, res) => this.handle(req, res));
  private waiters: Array<() => void> = [];

  constructor(private readonly upstream: string) {}

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  async waitForResults(n: number): Promise<Metered[]> {
    while (this.results.length < n) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.results;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const route = ROUTES[req.url ?? ""] ?? "-";
      const body = Buffer.concat(chunks);
      const plan = planUsage(route, body);
      const forwarded = plan?.body ?? body;
      const up = http.request(`${this.upstream}${req.url}`, {
        method: req.method,
        agent: false,
        headers: { "content-type": "application/json", "content-length": forwarded.length },
      });
      res.on("close", () => {
        if (!res.writableFinished) up.destroy();
      });
      up.on("error", () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
      up.on("response", (upRes) => {
        const meter = new UsageMeter(route, plan, upRes.headers["content-type"], this.memo);
        const headers: http.OutgoingHttpHeaders = {};
        for (const [name, value] of Object.entries(upRes.headers)) if (!HOP_BY_HOP.has(name)) headers[name] = value;
        res.writeHead(upRes.statusCode ?? 502, headers);
        res.flushHeaders();
        const raw: Buffer[] = [];
        upRes.on("data", (c: Buffer) => {
          raw.push(c);
          const out = meter.transform(c);
          if (out.length > 0) res.write(out);
        });
        upRes.on("error", () => undefined);
        upRes.once("close", () => {
          this.results.push({ route, usage: meter.usage(), source: meter.source, upstream: Buffer.concat(raw) });
          for (const wake of this.waiters.splice(0)) wake();
          if (upRes.complete) res.end();
          else res.destroy();
        });
      });
      up.end(forwarded);
    });
  }
}

let up: VllmEmulator;
let relay: Relay;
let relayUrl: string;

beforeAll(async () => {
  up = new VllmEmulator({ completionTokens: 5 });
  await up.start();
  relay = new Relay(up.url);
  relayUrl = await relay.start();
});
afterEach(async () => {
  await up.setFailure("none");
  up.setTokenDelay(0);
  up.reset();
  relay.results.length = 0;
});
afterAll(async () => {
  await relay.close();
  await up.close();
});

interface Reply {
  readonly status: number;
  readonly text: string;
  readonly complete: boolean;
}

/** POSTs `body`; with `abortAfterEvents`, hangs up once that many SSE events arrived. */
function post(base: string, path: string, body: unknown, abortAfterEvents?: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method: "POST", agent: false, headers: { "content-type": "application/json" } });
    req.on("error", () => undefined);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("error", () => undefined);
      res.on("data", (c: Buffer) => {
        chunks.push(c);
        const events = Buffer.concat(chunks).toString().split("\n\n").length - 1;
        if (abortAfterEvents !== undefined && events >= abortAfterEvents) req.destroy();
      });
      res.on("close", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString(), complete: res.complete }));
    });
    req.on("close", () => setImmediate(() => reject(new Error("no response"))));
    req.end(JSON.stringify(body));
  });
}

const chat = (extra: Record<string, unknown> = {}) => ({ model: MODEL, messages: [{ role: "user", content: "Who are you?" }], ...extra });
const completion = (extra: Record<string, unknown> = {}) => ({ model: MODEL, prompt: "Once upon a time there was", ...extra });

/** Ids and timestamps differ between two generations; everything else must not. */
const normalized = (text: string) => text.replace(/"id":"[a-z]+-[0-9a-f]+"/g, '"id":"ID"').replace(/"created":\d+/g, '"created":0');

/** What the emulator's written bytes report: the prompt once anything reporting it went out, and the tokens written. */
function delivered(record: UsageRecord): Usage {
  return { promptTokens: record.promptWritten ? record.promptTokens : 0, completionTokens: record.writtenTokens };
}

/** The emulator's record for the relay's n-th request (ids count from 1 after each reset). */
async function emulatorUsage(n: number): Promise<UsageRecord> {
  return up.waitForUsage(n);
}

/** The fingerprint is learnt from a first answer; prime it so streams hide the usage chunk exactly. */
async function prime(): Promise<void> {
  await post(relayUrl, "/v1/chat/completions", chat());
  await relay.waitForResults(1);
  up.reset();
  relay.results.length = 0;
}

describe("streamed", () => {
  test.each([
    ["chat", "/v1/chat/completions", chat],
    ["completions", "/v1/completions", completion],
  ])("%s, client asked for no usage: exactly the stream it asked for, metered as the emulator counted", async (_name, path, make) => {
    await prime();
    const viaRelay = await post(relayUrl, path, make({ stream: true }));
    const [metered] = await relay.waitForResults(1);
    const record = await emulatorUsage(1);
    expect(up.requests[0].body.toString()).toContain('"stream_options":{"include_usage":true,"continuous_usage_stats":true}');
    expect(metered.upstream.toString()).toContain('"choices":[],"usage"');
    expect(viaRelay.text).not.toContain('"usage"');
    expect(metered).toMatchObject({ source: "final", usage: { promptTokens: record.promptTokens, completionTokens: record.completionTokens } });
    expect([record.outcome, record.writtenTokens]).toEqual(["complete", 5]);
    const direct = await post(up.url, path, make({ stream: true }));
    expect(normalized(viaRelay.text)).toBe(normalized(direct.text));
  });

  test("client asked for include_usage: the emulator's own include_usage stream, byte for byte", async () => {
    const viaRelay = await post(relayUrl, "/v1/chat/completions", chat({ stream: true, stream_options: { include_usage: true } }));
    const [metered] = await relay.waitForResults(1);
    const record = await emulatorUsage(1);
    expect(metered.usage).toEqual({ promptTokens: record.promptTokens, completionTokens: 5 });
    const direct = await post(up.url, "/v1/chat/completions", chat({ stream: true, stream_options: { include_usage: true } }));
    expect(normalized(viaRelay.text)).toBe(normalized(direct.text));
    // It differs from what vLLM sent only by the usage members cut out of the chunks.
    const cut = metered.upstream.toString().replace(/,"usage":\{"prompt_tokens":\d+,"total_tokens":\d+,"completion_tokens":\d+,"completion_tokens_details":null\}/g, "");
    expect(viaRelay.text).toBe(cut);
  });

  test("client asked for continuous usage too: the body and the stream pass untouched", async () => {
    const body = chat({ stream: true, stream_options: { include_usage: true, continuous_usage_stats: true } });
    const viaRelay = await post(relayUrl, "/v1/chat/completions", body);
    const [metered] = await relay.waitForResults(1);
    expect(up.requests[0].body.toString()).toBe(JSON.stringify(body));
    expect(viaRelay.text).toBe(metered.upstream.toString());
    expect(metered.usage).toEqual(delivered(await emulatorUsage(1)));
  });
});

describe("not streamed", () => {
  test.each([
    ["chat", "/v1/chat/completions", chat()],
    ["completions", "/v1/completions", completion({ max_tokens: 3 })],
    ["embeddings", "/v1/embeddings", { model: MODEL, input: ["one two", "three"] }],
  ])("%s: usage from the body, the body untouched", async (_name, path, body) => {
    const viaRelay = await post(relayUrl, path, body);
    const [metered] = await relay.waitForResults(1);
    const record = await emulatorUsage(1);
    expect(up.requests[0].body.toString()).toBe(JSON.stringify(body));
    expect(viaRelay.text).toBe(metered.upstream.toString());
    expect(metered).toMatchObject({ source: "final", usage: { promptTokens: record.promptTokens, completionTokens: record.completionTokens } });
  });
});

describe("aborted by the client", () => {
  test.each([1, 2, 4])("a stream the client leaves after %i token(s): counted as far as it went", async (tokens) => {
    up.setTokenDelay(80);
    // The role event, then the tokens: the client hangs up once it has them.
    const reply = await post(relayUrl, "/v1/chat/completions", chat({ stream: true }), 1 + tokens);
    expect(reply.complete).toBe(false);
    const [metered] = await relay.waitForResults(1);
    const record = await emulatorUsage(1);
    expect(record.outcome).toBe("aborted");
    expect(record.writtenTokens).toBe(tokens);
    expect(metered).toMatchObject({ source: "partial", usage: delivered(record) });
  });

  test("a non-streamed request the client leaves before the answer: nothing metered, nothing written", async () => {
    up.setTokenDelay(80);
    const req = http.request(`${relayUrl}/v1/chat/completions`, { method: "POST", agent: false, headers: { "content-type": "application/json" } });
    req.on("error", () => undefined).end(JSON.stringify(chat()));
    await up.waitForRequests(1);
    req.destroy();
    const record = await emulatorUsage(1);
    expect([record.outcome, delivered(record)]).toEqual(["aborted", { promptTokens: 0, completionTokens: 0 }]);
    expect(relay.results).toHaveLength(0);
  });
});

describe("failed upstream", () => {
  test("vLLM dies mid-stream: counted up to the last event that arrived", async () => {
    await up.setFailure("die-mid-stream", { dieAfterEvents: 3 });
    const reply = await post(relayUrl, "/v1/chat/completions", chat({ stream: true }));
    expect(reply.complete).toBe(false);
    const [metered] = await relay.waitForResults(1);
    const record = await emulatorUsage(1);
    expect([record.outcome, record.writtenTokens]).toEqual(["failed", 2]);
    expect(metered).toMatchObject({ source: "partial", usage: delivered(record) });
  });

  test("an in-band engine error: the client gets the error event and [DONE]; counted up to the error", async () => {
    await up.setFailure("error-mid-stream", { dieAfterEvents: 4 });
    const reply = await post(relayUrl, "/v1/completions", completion({ stream: true }));
    expect(reply.text).toMatch(/data: \{"error":\{[^\n]*\}\}\n\ndata: \[DONE\]\n\n$/);
    expect(reply.text).not.toContain('"usage"');
    const [metered] = await relay.waitForResults(1);
    const record = await emulatorUsage(1);
    expect([record.outcome, record.writtenTokens]).toEqual(["failed", 4]);
    expect(metered).toMatchObject({ source: "partial", usage: delivered(record) });
  });

  test.each(["die-mid-stream", "error-mid-stream"] as const)("a non-streamed answer that fails (%s): nothing metered, nothing delivered", async (mode) => {
    await up.setFailure(mode);
    await post(relayUrl, "/v1/chat/completions", chat());
    const [metered] = await relay.waitForResults(1);
    const record = await emulatorUsage(1);
    expect(record.outcome).toBe("failed");
    expect(metered).toMatchObject({ source: "none", usage: delivered(record) });
    expect(delivered(record)).toEqual({ promptTokens: 0, completionTokens: 0 });
  });
});
