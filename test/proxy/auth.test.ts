import { OTHER_TOKEN, TOKEN, bearer, chatBody, forwarded, rawExchange, rawStatus, request, startStack, type Stack } from "./harness";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ tokens: [TOKEN, OTHER_TOKEN] });
});
afterAll(() => stack.close());
beforeEach(() => stack.upstream.reset());

const chat = (headers: Record<string, string>) =>
  request(stack.url, { method: "POST", path: "/v1/chat/completions", headers: { "content-type": "application/json", ...headers }, body: chatBody() });

describe("bearer-token authentication", () => {
  test("no Authorization: 401, the seed's plain-text body, WWW-Authenticate: Bearer, never forwarded", async () => {
    const res = await chat({});
    expect(res.status).toBe(401);
    expect(res.body).toBe("Invalid authentication credentials");
    expect(res.headers["www-authenticate"]).toBe("Bearer");
    expect(res.headers["content-type"]).toMatch(/^text\/plain/);
    expect(forwarded(stack)).toHaveLength(0);
  });

  test("a client that accepts JSON gets an OpenAI-style error object with the same message", async () => {
    const res = await chat({ accept: "application/json" });
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body)).toEqual({
      error: { message: "Invalid authentication credentials", type: "authentication_error", param: null, code: "invalid_api_key" },
    });
  });

  test.each([
    ["shorter", TOKEN.slice(0, 10)],
    ["longer", TOKEN + "x"],
    ["same length, one byte off", TOKEN.slice(0, -1) + (TOKEN.endsWith("p") ? "q" : "p")],
    ["empty after the scheme", ""],
  ])("a wrong token (%s) gets 401, never 500", async (_label, token) => {
    const res = await chat({ authorization: `Bearer ${token}` });
    expect(res.status).toBe(401);
    expect(forwarded(stack)).toHaveLength(0);
  });

  test("'Bearer' alone is 401", async () => {
    expect((await chat({ authorization: "Bearer" })).status).toBe(401);
  });

  test.each(["bearer", "BEARER", "BeArEr"])("scheme %s with a valid token is accepted", async (scheme) => {
    const res = await chat({ authorization: `${scheme} ${TOKEN}` });
    expect(res.status).toBe(200);
  });

  test.each([
    ["Basic", { authorization: `Basic ${Buffer.from(`user:${TOKEN}`).toString("base64")}` }],
    ["Token", { authorization: `Token ${TOKEN}` }],
    ["raw token", { authorization: TOKEN }],
    ["BearerX", { authorization: `Bearer${TOKEN}` }],
    ["another header", { "x-api-key": TOKEN }],
    ["Proxy-Authorization", { "proxy-authorization": `Bearer ${TOKEN}` }],
  ])("%s is not a bearer credential: 401", async (_label, headers) => {
    expect((await chat(headers)).status).toBe(401);
    expect(forwarded(stack)).toHaveLength(0);
  });

  test("a token in the query string is 401", async () => {
    const res = await request(stack.url, {
      method: "POST",
      path: `/v1/chat/completions?api_key=${TOKEN}&access_token=${TOKEN}`,
      headers: { "content-type": "application/json" },
      body: chatBody(),
    });
    expect(res.status).toBe(401);
  });

  test.each([
    ["valid then invalid", TOKEN, "not-the-token-at-all-000000"],
    ["invalid then valid", "not-the-token-at-all-000000", TOKEN],
    ["valid twice", TOKEN, TOKEN],
  ])("two Authorization headers (%s) never get through", async (_label, first, second) => {
    const body = chatBody();
    const raw =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
      `Authorization: Bearer ${first}\r\nAuthorization: Bearer ${second}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
    const res = await rawExchange(stack.port, raw);
    expect(rawStatus(res.text)).toBe(401);
    expect(forwarded(stack)).toHaveLength(0);
  });

  test("every listed token works at once", async () => {
    expect((await chat(bearer(TOKEN))).status).toBe(200);
    expect((await chat(bearer(OTHER_TOKEN))).status).toBe(200);
  });

  test("a valid token is never forwarded upstream", async () => {
    const res = await chat(bearer());
    expect(res.status).toBe(200);
    const [seen] = forwarded(stack);
    expect(seen.headers.authorization).toBeUndefined();
    expect(seen.rawHeaders.join("\n")).not.toContain(TOKEN);
  });

  test("a refused request's unread body is never parsed as a request: the connection closes", async () => {
    const body = chatBody();
    const one = (auth: string) =>
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${auth}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const res = await rawExchange(stack.port, one("") + one(`Authorization: Bearer ${TOKEN}\r\n`), 500);
    const statuses = [...res.text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    expect(statuses).toEqual([401]);
    expect(res.text.toLowerCase()).toContain("connection: close");
    expect(res.closed).toBe(true);
  });

  test("error bodies and logs never contain a token", async () => {
    await chat(bearer("wrong-token-that-is-long-enough"));
    await chat(bearer(TOKEN));
    await request(stack.url, { path: `/v1/${TOKEN}` });
    expect(stack.logText()).not.toContain(TOKEN);
    expect(stack.logText()).not.toContain("wrong-token-that-is-long-enough");
  });
});
