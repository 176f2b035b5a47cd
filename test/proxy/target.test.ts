import { checkTarget } from "../../proxy/src/target";
import { MODEL, TOKEN, forwarded, rawExchange, rawStatus, startStack, type Stack } from "./harness";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());
beforeEach(() => stack.upstream.reset());

/** Sends a raw request line, so neither a client library nor URL parsing normalises the target. */
async function send(target: string, method = "GET", auth = true): Promise<number> {
  const body = method === "POST" ? JSON.stringify({ model: MODEL, prompt: "x" }) : "";
  const res = await rawExchange(
    stack.port,
    `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth ? `Authorization: Bearer ${TOKEN}\r\n` : ""}` +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
  );
  return rawStatus(res.text);
}

describe("raw request-target checks", () => {
  test.each([
    "/v1/chat/completions/../../models",
    "/v1/chat/completions/../../v1/models",
    "/v1/./models",
    "/v1/models/.",
    "/v1/%2e%2e/models",
    "/v1/%2E%2E/models",
    "/v1%2Fmodels",
    "/v1%2fmodels",
    "/v1/%6dodels",
    "/v1\\models",
    "/v1/models%00",
    "/v1/models#frag",
    "/v1//models",
    "//v1/models",
    "http://127.0.0.1/v1/models",
    "http://evil.example/v1/chat/completions",
    "*",
  ])("GET %s is refused with 400 and never forwarded", async (target) => {
    expect(await send(target)).toBe(400);
    expect(forwarded(stack)).toHaveLength(0);
  });

  test.each(["/v1/chat/completions/../../models", "/v1/%2e%2e/v1/models", "/v1/models/../chat/completions"])(
    "POST %s with a valid token is refused with 400, never forwarded",
    async (target) => {
      expect(await send(target, "POST")).toBe(400);
      expect(forwarded(stack)).toHaveLength(0);
    },
  );

  test("the authorized target is forwarded byte for byte", async () => {
    expect(await send("/v1/completions?stream=false&x=a%20b", "POST")).toBe(200);
    expect(forwarded(stack).map((r) => r.target)).toEqual(["/v1/completions?stream=false&x=a%20b"]);
  });

  test("CONNECT is refused and never forwarded", async () => {
    const res = await rawExchange(stack.port, "CONNECT 127.0.0.1:8000 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n");
    expect(rawStatus(res.text)).toBe(400);
    expect(forwarded(stack)).toHaveLength(0);
  });

  test("OPTIONS * is refused and never forwarded", async () => {
    expect(await send("*", "OPTIONS")).toBe(400);
    expect(forwarded(stack)).toHaveLength(0);
  });

  test("a request that asks for a protocol upgrade is refused", async () => {
    const res = await rawExchange(
      stack.port,
      `GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
    );
    expect(rawStatus(res.text)).toBe(400);
    expect(forwarded(stack)).toHaveLength(0);
  });
});

describe("checkTarget", () => {
  test("accepts the table's paths with any query", () => {
    expect(checkTarget("/v1/models")).toEqual({ ok: true, target: { path: "/v1/models", raw: "/v1/models" } });
    expect(checkTarget("/v1/models?a=%2F..%2F&b=/x?y")).toEqual({
      ok: true,
      target: { path: "/v1/models", raw: "/v1/models?a=%2F..%2F&b=/x?y" },
    });
  });

  test.each([
    ["", "empty"],
    ["v1/models", "origin-form"],
    ["/v1/%2e/models", "percent-encoded"],
    ["/v1/models?x=1#y", "fragment"],
    ["/v1/mo\u00e9dels", "not allowed"],
    ["/v1/models?q=\u0001", "not allowed"],
    ["/v1/../models", "dot segments"],
  ])("refuses %j with a reason mentioning %s", (target, reason) => {
    const result = checkTarget(target);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toContain(reason);
  });
});
