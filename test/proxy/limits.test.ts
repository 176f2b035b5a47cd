import http from "node:http";
import { MODEL, TOKEN, bearer, chatBody, forwarded, rawExchange, rawStatus, request, startStack, type Stack, firstForwarded } from "./harness";

const LIMIT = 4096;
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { MAX_BODY_BYTES: String(LIMIT) } });
});
afterAll(() => stack.close());
beforeEach(() => stack.upstream.reset());

const bigChat = (bytes: number): string => chatBody({ messages: [{ role: "user", content: "x".repeat(bytes) }] });

describe("request body limit", () => {
  test("a body announced over the limit: 413 before anything is forwarded", async () => {
    const res = await request(stack.url, {
      method: "POST",
      path: "/v1/chat/completions",
      headers: { ...bearer(), "content-type": "application/json" },
      body: bigChat(LIMIT * 2),
    });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).error.code).toBe("body_too_large");
    expect(forwarded(stack)).toHaveLength(0);
  });

  test("a chunked body that grows over the limit: 413, and the part that reached vLLM is aborted", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: "127.0.0.1",
          port: stack.port,
          method: "POST",
          path: "/v1/chat/completions",
          headers: { ...bearer(), "content-type": "application/json", "transfer-encoding": "chunked" },
          agent: false,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      let sent = 0;
      const pump = (): void => {
        if (sent > LIMIT * 4 || req.destroyed) return void req.end();
        sent += 1024;
        req.write("x".repeat(1024), () => setTimeout(pump, 2));
      };
      pump();
    });
    expect(status).toBe(413);
    const seen = await firstForwarded(stack);
    const closedAt = await stack.upstream.waitForClose(seen, 2000);
    expect(closedAt).toBeGreaterThan(0);
    expect(seen.completed).toBe(false);
    expect(seen.body.length).toBeLessThanOrEqual(LIMIT);
  });

  test("a body exactly at the limit is forwarded", async () => {
    const body = chatBody({ messages: [{ role: "user", content: "y" }] });
    const padded = body.replace('"y"', `"${"y".repeat(LIMIT - body.length + 1)}"`);
    expect(padded.length).toBe(LIMIT);
    const res = await request(stack.url, { method: "POST", path: "/v1/chat/completions", headers: { ...bearer(), "content-type": "application/json" }, body: padded });
    expect(res.status).toBe(200);
    expect(forwarded(stack)[0].body.length).toBe(LIMIT);
  });

  test("a body announced shorter than sent does not smuggle a second request", async () => {
    const body = JSON.stringify({ model: MODEL, prompt: "a" });
    const smuggled = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    const res = await rawExchange(
      stack.port,
      `POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\n\r\n${body}${smuggled}`,
      500,
    );
    expect(rawStatus(res.text)).toBe(200);
    expect(res.text).toContain("HTTP/1.1 404");
    expect(forwarded(stack).map((r) => r.target)).toEqual(["/v1/completions"]);
  });
});
