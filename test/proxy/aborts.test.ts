import http from "node:http";
import { performance } from "node:perf_hooks";
import { bearer, chatBody, startStack, type Stack } from "./harness";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ upstream: { tokenDelayMs: 50, completionTokens: 200 } });
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
    const [seen] = stack.upstream.requests;
    const closedBy = performance.now();
    req.destroy();
    const closedAt = await stack.upstream.waitForClose(seen, 2000);
    expect(closedAt - closedBy).toBeLessThan(100);
    expect(seen.completed).toBe(false);
  });

  test("a client that closes before vLLM answered (non-streamed) aborts the upstream request within 100 ms", async () => {
    const req = openChat(false);
    const [seen] = await stack.upstream.waitForRequests(1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closedBy = performance.now();
    req.destroy();
    const closedAt = await stack.upstream.waitForClose(seen, 2000);
    expect(closedAt - closedBy).toBeLessThan(100);
    expect(seen.completed).toBe(false);
  });

  test("an aborted request is logged as client_aborted and counted", async () => {
    const req = openChat(true);
    await stack.upstream.waitForRequests(1);
    req.destroy();
    const [seen] = stack.upstream.requests;
    await stack.upstream.waitForClose(seen, 2000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const line = stack.logs.filter((l) => l.msg === "request").at(-1);
    expect(line?.outcome).toBe("client_aborted");
    const metrics = await stack.proxy.metrics.registry.getSingleMetricAsString("vllm_auth_client_aborts_total");
    expect(metrics).toMatch(/vllm_auth_client_aborts_total [1-9]/);
  });
});
