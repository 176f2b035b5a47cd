import http from "node:http";
import { performance } from "node:perf_hooks";
import { bearer, chatBody, forwarded, startStack, type Stack, firstForwarded } from "./harness";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ upstream: { tokenDelayMs: 50, completionTokens: 200 } });
  // Warm-up: under jest the first abort also pays for transforming the modules it loads lazily.
  const req = openChat(true);
  const seen = await firstForwarded(stack);
  req.destroy();
  await stack.upstream.waitForClose(seen, 2000);
});
afterAll(() => stack.close());
beforeEach(() => stack.upstream.reset());

function openChat(stream: boolean): http.ClientRequest {
  const req = http.request({
    host: "127.0.0.1",
    port: stack.port,
    method: "POST",
    path: "/v1/chat/completions",
    headers: { ...bearer(), "content-type": "application/json" },
    agent: false,
  });
  req.on("error", () => undefined);
  req.end(chatBody({ stream }));
  return req;
}

describe("client aborts", () => {
  test("a client that closes mid-stream closes the upstream request within 100 ms", async () => {
    const req = openChat(true);
    const res = await new Promise<http.IncomingMessage>((resolve) => req.on("response", resolve));
    let events = 0;
    await new Promise<void>((resolve) =>
      res.on("data", () => {
        if (++events === 3) resolve();
      }),
    );
    const [seen] = forwarded(stack);
    const closedBy = performance.now();
    req.destroy();
    const closedAt = await stack.upstream.waitForClose(seen, 2000);
    expect(closedAt - closedBy).toBeLessThan(100);
    expect(seen.completed).toBe(false);
  });

  test("a client that closes before vLLM answered (non-streamed) aborts the upstream request within 100 ms", async () => {
    const req = openChat(false);
    const seen = await firstForwarded(stack);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closedBy = performance.now();
    req.destroy();
    const closedAt = await stack.upstream.waitForClose(seen, 2000);
    expect(closedAt - closedBy).toBeLessThan(100);
    expect(seen.completed).toBe(false);
  });

  test("an aborted request is logged as client_aborted and counted", async () => {
    const req = openChat(true);
    const seen = await firstForwarded(stack);
    req.destroy();
    await stack.upstream.waitForClose(seen, 2000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const line = stack.logs.filter((l) => l.msg === "request").at(-1);
    expect(line?.outcome).toBe("client_aborted");
    const metrics = await stack.proxy.metrics.registry.getSingleMetricAsString("vllm_auth_client_aborts_total");
    expect(metrics).toMatch(/vllm_auth_client_aborts_total\{role="single"\} [1-9]/);
  });
});

describe("aborts while vLLM is between tokens", () => {
  let slow: Stack;
  beforeAll(async () => {
    // 400 ms between tokens: an abort that waited for the next upstream chunk would take that long.
    slow = await startStack({ upstream: { tokenDelayMs: 400, completionTokens: 50 } });
  });
  afterAll(() => slow.close());

  test("the upstream socket closes within 100 ms of the client leaving, not at vLLM's next token", async () => {
    const delays: number[] = [];
    for (let trial = 0; trial < 5; trial++) {
      slow.upstream.reset();
      const req = http.request({
        host: "127.0.0.1",
        port: slow.port,
        method: "POST",
        path: "/v1/chat/completions",
        headers: { ...bearer(), "content-type": "application/json" },
        agent: false,
      });
      req.on("error", () => undefined);
      req.end(chatBody({ stream: true }));
      const res = await new Promise<http.IncomingMessage>((resolve) => req.on("response", resolve));
      await new Promise<void>((resolve) => res.once("data", () => resolve()));
      const seen = await firstForwarded(slow);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const leftAt = performance.now();
      req.destroy();
      delays.push((await slow.upstream.waitForClose(seen, 2000)) - leftAt);
    }
    expect(Math.max(...delays)).toBeLessThan(100);
  });
});
