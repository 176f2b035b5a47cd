import http from "node:http";
import { performance } from "node:perf_hooks";
import { bearer, chatBody, firstForwarded, forwarded, startStack, type Stack } from "./harness";

const DELAY_MS = 40;
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ upstream: { tokenDelayMs: DELAY_MS, completionTokens: 8 } });
});
afterAll(() => stack.close());

interface Arrival {
  readonly at: number;
  readonly text: string;
}

/** Posts a streamed chat request and records when each chunk reaches the client. */
function streamChat(headers: Record<string, string> = {}): Promise<{ res: http.IncomingMessage; arrivals: Arrival[] }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port: stack.port,
        method: "POST",
        path: "/v1/chat/completions",
        headers: { ...bearer(), "content-type": "application/json", ...headers },
        agent: false,
      },
      (res) => {
        const arrivals: Arrival[] = [];
        res.on("data", (chunk: Buffer) => arrivals.push({ at: performance.now(), text: chunk.toString("utf8") }));
        res.on("end", () => resolve({ res, arrivals }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(chatBody({ stream: true }));
  });
}

describe("streamed completions", () => {
  test("events reach the client one by one as vLLM writes them, unbuffered and uncompressed", async () => {
    const { res, arrivals } = await streamChat({ "accept-encoding": "gzip, br" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/event-stream/);
    expect(res.headers["content-length"]).toBeUndefined();
    expect(res.headers["content-encoding"]).toBeUndefined();
    expect(res.headers["x-accel-buffering"]).toBe("no");
    const events = arrivals.map((a) => a.text);
    // Every chunk the client read holds exactly one event: nothing was coalesced.
    for (const text of events) expect(text.match(/^data: /gm)).toHaveLength(1);
    expect(events.at(-1)).toBe("data: [DONE]\n\n");
    // 8 tokens plus role, finish and [DONE] events, spaced by the upstream's token delay.
    expect(events.length).toBeGreaterThanOrEqual(10);
    const gaps = arrivals.slice(1).map((a, i) => a.at - arrivals[i].at);
    const median = [...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)];
    expect(median).toBeGreaterThan(DELAY_MS * 0.5);
  });

  test("the stream is forwarded as one upstream request with stream: true in the body", async () => {
    stack.upstream.reset();
    await streamChat();
    const [seen] = forwarded(stack);
    expect(JSON.parse(seen.body.toString()).stream).toBe(true);
    expect(seen.completed).toBe(true);
  });

  test("the first event reaches the client about one token delay after the request, not at the end", async () => {
    const started = performance.now();
    const { arrivals } = await streamChat();
    const total = arrivals.at(-1)!.at - started;
    expect(arrivals[0].at - started).toBeLessThan(total / 2);
  });
});

describe("request bodies", () => {
  test("a large body is streamed to vLLM as it arrives, not gathered first", async () => {
    stack.upstream.reset();
    const part = "x".repeat(64 * 1024);
    const body = chatBody({ messages: [{ role: "user", content: part.repeat(4) }] });
    const req = http.request({
      host: "127.0.0.1",
      port: stack.port,
      method: "POST",
      path: "/v1/chat/completions",
      headers: { ...bearer(), "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      agent: false,
    });
    req.on("error", () => undefined);
    const response = new Promise<number>((resolve) => req.on("response", (res) => { res.resume(); res.on("end", () => resolve(res.statusCode ?? 0)); }));
    const half = Math.floor(body.length / 2);
    req.write(body.slice(0, half));
    // vLLM sees the request while the client still holds back half of its body.
    const seen = await firstForwarded(stack);
    expect(seen.bodyEndedAt).toBeUndefined();
    req.end(body.slice(half));
    expect(await response).toBe(200);
    expect(seen.body.length).toBe(Buffer.byteLength(body));
  });
});
