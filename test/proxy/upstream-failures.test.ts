import http from "node:http";
import { bearer, chatBody, eventually, forwarded, request, startStack, type Stack } from "./harness";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { UPSTREAM_HEADERS_TIMEOUT_MS: "400", UPSTREAM_BODY_TIMEOUT_MS: "400" } });
});
afterAll(() => stack.close());
beforeEach(async () => {
  await stack.upstream.setFailure("none");
  stack.upstream.setReady(true);
  await eventually(async () => (await request(stack.url, { path: "/health" })).status === 200);
  stack.upstream.reset();
});

const chat = (extra: Record<string, unknown> = {}) =>
  request(stack.url, { method: "POST", path: "/v1/chat/completions", headers: { ...bearer(), "content-type": "application/json" }, body: chatBody(extra) });

describe("upstream failures", () => {
  test("vLLM resets the connection before answering: 502 JSON, and the POST is not retried", async () => {
    await stack.upstream.setFailure("reset-before-headers");
    const res = await chat();
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body).error.code).toBe("upstream_unavailable");
    expect(forwarded(stack)).toHaveLength(1);
  });

  test("vLLM refuses connections: 502 or 503 JSON, never a hang", async () => {
    await stack.upstream.setFailure("refuse");
    const res = await chat();
    // 502 when the refusal is met first; 503 once the readiness poll has noticed vLLM is gone.
    expect([502, 503]).toContain(res.status);
    expect(JSON.parse(res.body).error).toBeDefined();
  });

  test("vLLM does not answer in time: 504 JSON", async () => {
    await stack.upstream.setFailure("hang");
    const res = await chat();
    expect(res.status).toBe(504);
    expect(JSON.parse(res.body).error.code).toBe("upstream_timeout");
  });

  test("vLLM dies mid-stream: the client's stream is cut, no invented [DONE]", async () => {
    await stack.upstream.setFailure("die-mid-stream", { dieAfterEvents: 2 });
    const outcome = await new Promise<{ text: string; error: boolean }>((resolve) => {
      const req = http.request(
        { host: "127.0.0.1", port: stack.port, method: "POST", path: "/v1/chat/completions", headers: { ...bearer(), "content-type": "application/json" }, agent: false },
        (res) => {
          let text = "";
          res.on("data", (chunk: Buffer) => (text += chunk.toString()));
          res.on("error", () => resolve({ text, error: true }));
          res.on("aborted", () => resolve({ text, error: true }));
          res.on("end", () => resolve({ text, error: false }));
        },
      );
      req.on("error", () => resolve({ text: "", error: true }));
      req.end(chatBody({ stream: true }));
    });
    expect(outcome.error).toBe(true);
    expect(outcome.text).toContain("data: ");
    expect(outcome.text).not.toContain("[DONE]");
  });

  test("vLLM not ready: /health is 503 and API calls get 503 JSON without being forwarded", async () => {
    stack.upstream.setReady(false);
    await eventually(async () => (await request(stack.url, { path: "/health" })).status === 503);
    const health = await request(stack.url, { path: "/health" });
    expect(JSON.parse(health.body).status).toBe("unready");
    stack.upstream.reset();
    const res = await chat();
    expect(res.status).toBe(503);
    expect(res.headers["retry-after"]).toBeDefined();
    expect(JSON.parse(res.body).error.code).toBe("model_not_ready");
    // The public model list still comes from the proxy's last copy of vLLM's answer.
    const models = await request(stack.url, { path: "/v1/models" });
    expect(models.status).toBe(200);
    expect(forwarded(stack)).toHaveLength(0);
    stack.upstream.setReady(true);
    await eventually(async () => (await chat()).status === 200);
  });

  test("unauthenticated callers get 401 even while vLLM is not ready", async () => {
    stack.upstream.setReady(false);
    await eventually(async () => (await request(stack.url, { path: "/health" })).status === 503);
    const res = await request(stack.url, { method: "POST", path: "/v1/chat/completions", body: chatBody() });
    expect(res.status).toBe(401);
  });
});

describe("readiness path", () => {
  test("UPSTREAM_HEALTH_PATH points readiness at a server without /health", async () => {
    const other = await startStack({ env: { UPSTREAM_HEALTH_PATH: "/v1/models" } });
    try {
      await eventually(async () => (await request(other.url, { path: "/health" })).status === 200);
      expect(other.upstream.requests.some((r) => r.target === "/v1/models" && r.headers["x-forwarded-proto"] === undefined)).toBe(true);
      expect(other.upstream.requests.some((r) => r.target === "/health")).toBe(false);
    } finally {
      await other.close();
    }
  });
});
