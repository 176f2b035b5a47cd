import { bearer, chatBody, forwarded, request, startStack, type Stack } from "./harness";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());
beforeEach(() => stack.upstream.reset());

describe("default-deny route table", () => {
  test("GET /v1/models is public and returns vLLM's model list from the proxy's copy, never forwarded", async () => {
    const res = await request(stack.url, { path: "/v1/models" });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).data[0].id).toBe("meta-llama/Llama-2-7b-chat-hf");
    expect(forwarded(stack)).toHaveLength(0);
  });

  test("HEAD /v1/models is public", async () => {
    const res = await request(stack.url, { method: "HEAD", path: "/v1/models" });
    expect(res.status).toBe(200);
    expect(res.body).toBe("");
  });

  test("POST /v1/models is not public: 404, never forwarded, even with a token", async () => {
    for (const headers of [{}, bearer()]) {
      const res = await request(stack.url, { method: "POST", path: "/v1/models", headers, body: "{}" });
      expect(res.status).toBe(404);
      expect(JSON.parse(res.body).error.code).toBe("route_not_found");
    }
    expect(forwarded(stack)).toHaveLength(0);
  });

  test.each(["/v1/models/", "/v1/models/x", "/v1/modelsX", "/v1/Models", "/V1/models"])(
    "%s is not the public route and is never forwarded",
    async (path) => {
      const res = await request(stack.url, { path });
      expect(res.status).toBe(404);
      expect(forwarded(stack)).toHaveLength(0);
    },
  );

  test.each(["//v1/models", "/v1//models"])("%s (doubled slash) is refused with 400", async (path) => {
    const res = await request(stack.url, { path });
    expect(res.status).toBe(400);
    expect(forwarded(stack)).toHaveLength(0);
  });

  test.each([
    ["GET", "/metrics"],
    ["POST", "/invocations"],
    ["POST", "/pause"],
    ["POST", "/collective_rpc"],
    ["POST", "/v2/embed"],
    ["POST", "/tokenize"],
    ["POST", "/detokenize"],
    ["GET", "/version"],
    ["POST", "/v1/load_lora_adapter"],
    ["GET", "/v1/chat/completions"],
    ["DELETE", "/v1/models"],
  ])("%s %s with a valid token: 404 JSON, never forwarded", async (method, path) => {
    const res = await request(stack.url, { method, path, headers: { ...bearer(), "content-type": "application/json" }, body: method === "POST" ? "{}" : undefined });
    expect(res.status).toBe(404);
    expect(res.headers["content-type"]).toBe("application/json");
    expect(forwarded(stack)).toHaveLength(0);
  });

  test.each(["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses"])(
    "POST %s needs a token",
    async (path) => {
      const res = await request(stack.url, { method: "POST", path, headers: { "content-type": "application/json" }, body: chatBody() });
      expect(res.status).toBe(401);
      expect(forwarded(stack)).toHaveLength(0);
    },
  );

  test("the query string never changes the route decision and is forwarded as sent", async () => {
    expect((await request(stack.url, { path: "/v1/models?limit=5&x=%2F" })).status).toBe(200);
    const res = await request(stack.url, {
      method: "POST",
      path: "/v1/chat/completions?limit=5&x=%2F",
      headers: { "content-type": "application/json", ...bearer() },
      body: chatBody(),
    });
    expect(res.status).toBe(200);
    expect(forwarded(stack)[0].target).toBe("/v1/chat/completions?limit=5&x=%2F");
    const denied = await request(stack.url, { method: "POST", path: "/v1/completions?api_key=whatever", body: "{}" });
    expect(denied.status).toBe(401);
  });

  test("the Host header never changes the route decision nor reaches vLLM", async () => {
    const res = await request(stack.url, {
      method: "POST",
      path: "/v1/chat/completions",
      headers: { host: "localhost:8000", "content-type": "application/json" },
      body: chatBody(),
    });
    expect(res.status).toBe(401);
    const ok = await request(stack.url, {
      method: "POST",
      path: "/v1/chat/completions",
      headers: { host: "evil.example", "content-type": "application/json", ...bearer() },
      body: chatBody(),
    });
    expect(ok.status).toBe(200);
    expect(forwarded(stack)).toHaveLength(1);
    expect(forwarded(stack)[0].headers.host).not.toContain("evil");
  });

  test("a Host shaped like a path gets 400 with or without a key, and nothing is forwarded", async () => {
    for (const headers of [{}, bearer()]) {
      const res = await request(stack.url, {
        method: "POST",
        path: "/v1/chat/completions",
        headers: { host: "evil.example/x/../v1/models?", "content-type": "application/json", ...headers },
        body: chatBody(),
      });
      expect(res.status).toBe(400);
    }
    expect(forwarded(stack)).toHaveLength(0);
  });

  test("/health is answered by the proxy and never forwarded", async () => {
    const res = await request(stack.url, { path: "/health" });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ status: "ready" });
    expect(forwarded(stack)).toHaveLength(0);
  });
});
