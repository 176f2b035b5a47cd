/**
 * The front door under an attacker's load, over real sockets: pipelining cannot fan out, a dead
 * client leaves nothing running, bounded lines shed with 503 at once, anonymous traffic has its own
 * small share, and the model list never reaches the model server.
 */
import { createHash } from "node:crypto";
import net from "node:net";
import { performance } from "node:perf_hooks";
import { MODEL, TOKEN, bearer, chatBody, eventually, firstForwarded, forwarded, rawExchange, rawStatus, request, startStack, type Stack } from "./harness";
import { startFront, type Front } from "./front";
import { MODELS_BODY, RawUpstream } from "./raw-upstream";
import { errorCode } from "./support";

const chatRequest = (body = chatBody(), extraHeaders = ""): string =>
  `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\n` +
  `Content-Length: ${Buffer.byteLength(body)}\r\n${extraHeaders}\r\n${body}`;

const modelsRequest = "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n";

/** Samples how many client requests the upstream is working on, every few ms, until `done` settles; returns the most seen. */
async function peakAtUpstream(stack: Stack, done: Promise<unknown>): Promise<number> {
  let peak = 0;
  let finished = false;
  void done.finally(() => (finished = true));
  while (!finished) {
    const open = forwarded(stack).filter((r) => !r.completed && r.closedAt === undefined).length;
    peak = Math.max(peak, open);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return peak;
}

describe("pipelining: one request at a time per connection", () => {
  const TOKEN_DELAY_MS = 30;
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { PIPELINE_MAX_WAITING: "16", PIPELINE_MAX_WAITING_TOTAL: "40" }, upstream: { tokenDelayMs: TOKEN_DELAY_MS, completionTokens: 4 } });
  });
  /** Runs `body` with the upstream generating a token every `ms`, then restores the suite's pace. */
  async function withTokenDelay(ms: number, body: () => Promise<void>): Promise<void> {
    stack.upstream.setTokenDelay(ms);
    try {
      await body();
    } finally {
      stack.upstream.setTokenDelay(TOKEN_DELAY_MS);
    }
  }
  afterAll(() => stack.close());
  beforeEach(() => stack.upstream.reset());

  test("ten pipelined model-list requests in one write get ten answers, in order, and none reaches the upstream", async () => {
    const res = await rawExchange(stack.port, modelsRequest.repeat(10), 500);
    expect(res.text.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(10);
    expect(forwarded(stack)).toHaveLength(0);
  });

  test("three pipelined chat requests reach the upstream one after the other, never together", async () => {
    const exchange = rawExchange(stack.port, chatRequest().repeat(3), 1500);
    const peak = await peakAtUpstream(stack, exchange);
    const res = await exchange;
    expect(res.text.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(3);
    expect(forwarded(stack)).toHaveLength(3);
    expect(peak).toBe(1);
  });

  test("a connection that pipelines past PIPELINE_MAX_WAITING stops being read: what it parked is answered in order, one at a time upstream, the rest never starts, and it closes after the last answer", async () => {
    await withTokenDelay(2, async () => {
      const exchange = rawExchange(stack.port, chatRequest().repeat(300), 5000);
      const peak = await peakAtUpstream(stack, exchange);
      const res = await exchange;
      // The request in progress and the 16 parked behind it; the other 283 were never started.
      expect(res.text.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(17);
      expect(res.closed).toBe(true);
      expect(forwarded(stack)).toHaveLength(17);
      expect(peak).toBe(1);
      await eventually(() => stack.proxy.handler.inflightCount === 0);
    });
  });

  test("connections that together park more than PIPELINE_MAX_WAITING_TOTAL lose the one that crosses it: parked requests stay bounded whatever the number of connections", async () => {
    await withTokenDelay(200, async () => {
      const sockets = [0, 1, 2].map(() => {
        const socket = net.connect(stack.port, "127.0.0.1");
        socket.on("error", () => undefined);
        return { socket, connected: new Promise((resolve) => socket.once("connect", resolve)) };
    });
    const closed = sockets.map(({ socket }) => new Promise<boolean>((resolve) => socket.once("close", () => resolve(true))));
    // 15 each: under the per-connection bound (16), over the total (40) by the third connection.
    for (const { socket, connected } of sockets) {
      await connected;
      socket.write(chatRequest().repeat(15));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const outcome = await Promise.race([Promise.any(closed), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1500))]);
    expect(outcome).toBe(true);
    expect(forwarded(stack).length).toBeLessThanOrEqual(3);
    for (const { socket } of sockets) socket.destroy();
    await eventually(() => stack.proxy.handler.inflightCount === 0);
    });
  });

  test("a client that pipelines three chat requests and closes leaves nothing running: one upstream request, closed within 100 ms", async () => {
    await withTokenDelay(200, async () => {
      const socket = net.connect(stack.port, "127.0.0.1");
      await new Promise((resolve) => socket.once("connect", resolve));
      socket.write(chatRequest(chatBody({ stream: true })).repeat(3));
      const first = await firstForwarded(stack);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const closedAt = performance.now();
      socket.destroy();
      const closeDelay = await stack.upstream.waitForClose(first);
      expect(closeDelay - closedAt).toBeLessThan(100);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(forwarded(stack)).toHaveLength(1);
      await eventually(() => stack.proxy.handler.inflightCount === 0, 1000);
    });
  });
});

describe("a pipelining client that reads its answers", () => {
  test("with the default bounds, 1000 model-list requests in one write get 1000 answers in order on the same connection", async () => {
    const stack = await startStack();
    try {
      const res = await rawExchange(stack.port, modelsRequest.repeat(1000), 1500);
      expect(res.text.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(1000);
      expect(res.closed).toBe(false);
      expect(forwarded(stack)).toHaveLength(0);
    } finally {
      await stack.close();
    }
  });
});

describe("the in-flight count never drifts", () => {
  test("after pipelined floods and aborts, the count is zero and a SIGTERM-style shutdown ends at once", async () => {
    const stack = await startStack({ upstream: { tokenDelayMs: 50, completionTokens: 20 } });
    try {
      const sockets: net.Socket[] = [];
      for (let i = 0; i < 20; i++) {
        const socket = net.connect(stack.port, "127.0.0.1");
        socket.on("error", () => undefined);
        socket.on("connect", () => socket.write((i % 2 === 0 ? chatRequest(chatBody({ stream: true })) : modelsRequest).repeat(5)));
        sockets.push(socket);
      }
      await eventually(() => forwarded(stack).length >= 5, 3000);
      for (const socket of sockets) socket.destroy();
      await eventually(() => stack.proxy.handler.inflightCount === 0, 2000);
      const started = performance.now();
      await stack.proxy.shutdown(60_000);
      expect(performance.now() - started).toBeLessThan(1000);
    } finally {
      await stack.upstream.close();
    }
  });
});

describe("bounded work: a full line sheds with 503 at once", () => {
  let upstream: RawUpstream;
  let front: Front;
  const held: net.Socket[] = [];
  beforeAll(async () => {
    // An upstream that never answers a generation: every request holds its connection.
    upstream = await RawUpstream.start(({ socket }) => held.push(socket));
    front = await startFront({ UPSTREAM_URL: upstream.url, UPSTREAM_CONNECTIONS: "2", UPSTREAM_MAX_WAITING: "2" });
  });
  afterAll(async () => {
    await front.close();
    await upstream.close();
  });

  test("two at the upstream, two waiting, the rest answered 503 JSON with Retry-After within milliseconds", async () => {
    const pending = Array.from({ length: 4 }, () => rawExchange(front.port, chatRequest(), 3000));
    await eventually(() => upstream.forwarded.length === 2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    const shed = await rawExchange(front.port, chatRequest(chatBody(), "Connection: close\r\n"), 1000);
    expect(performance.now() - started).toBeLessThan(500);
    expect(rawStatus(shed.text)).toBe(503);
    expect(shed.text.toLowerCase()).toContain("retry-after:");
    expect(errorCode(shed.text.split("\r\n\r\n")[1])).toBe("overloaded");
    expect(upstream.forwarded).toHaveLength(2);
    for (const socket of held.splice(0)) socket.destroy();
    await Promise.all(pending);
  });
});

describe("anonymous traffic has its own share", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { PUBLIC_MAX_RPS: "50" }, upstream: { tokenDelayMs: 100, completionTokens: 40 } });
  });
  afterAll(() => stack.close());
  // A full bucket for each test.
  beforeEach(() => new Promise((resolve) => setTimeout(resolve, 1100)));

  const burst = (n: number, options: Parameters<typeof request>[1] = { path: "/v1/models" }) =>
    Promise.all(Array.from({ length: n }, () => request(stack.url, options).catch(() => undefined)));

  test("anonymous requests get at most PUBLIC_MAX_RPS: a second's worth waits, the rest get 503 with Retry-After at once, and a keyed client is served meanwhile", async () => {
    const started = performance.now();
    const flood = burst(300);
    const chat = await request(stack.url, { method: "POST", path: "/v1/chat/completions", headers: { "content-type": "application/json", ...bearer() }, body: chatBody({ max_tokens: 2 }) });
    expect(chat.status).toBe(200);
    const answers = await flood;
    const ok = answers.filter((a) => a?.status === 200).length;
    const shed = answers.filter((a) => a?.status === 503);
    // A full bucket (50) at once, about 50 more released over the next second, the rest shed.
    expect(ok).toBeGreaterThanOrEqual(50);
    expect(ok).toBeLessThanOrEqual(120);
    expect(shed.length).toBeGreaterThanOrEqual(150);
    expect(shed[0]?.headers["retry-after"]).toBe("1");
    expect(errorCode(shed[0]?.body ?? "{}")).toBe("overloaded");
    // Nothing waits longer than a second.
    expect(performance.now() - started).toBeLessThan(2500);
  });

  test("a caller with a valid key never spends the anonymous share, on the model list either", async () => {
    const flood = burst(200);
    const keyed = await Promise.all(Array.from({ length: 20 }, () => request(stack.url, { path: "/v1/models", headers: bearer() })));
    expect(keyed.every((a) => a.status === 200)).toBe(true);
    await flood;
  });

  test("wrong keys and unknown paths count against the anonymous share too", async () => {
    const wrong = await burst(150, { method: "POST", path: "/v1/chat/completions", headers: { ...bearer("tok_wrong_000000000000000000000"), "content-type": "application/json" }, body: "{}" });
    expect(wrong.filter((a) => a?.status === 401).length).toBeGreaterThan(0);
    expect(wrong.filter((a) => a?.status === 503).length).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const missing = await burst(150, { path: "/wp-admin/setup.php" });
    expect(missing.filter((a) => a?.status === 404).length).toBeGreaterThan(0);
    expect(missing.filter((a) => a?.status === 503).length).toBeGreaterThan(0);
  });
});

describe("/v1/models costs the model server nothing", () => {
  let upstream: RawUpstream;
  let front: Front;
  beforeAll(async () => {
    upstream = await RawUpstream.start(() => undefined);
    front = await startFront({ UPSTREAM_URL: upstream.url, MODELS_REFRESH_MS: "200" });
  });
  afterAll(async () => {
    await front.close();
    await upstream.close();
  });

  test("the answer is the upstream's exact body, and client requests never reach the upstream", async () => {
    const answers = await Promise.all(Array.from({ length: 50 }, () => request(front.url, { path: "/v1/models" })));
    for (const res of answers) {
      expect(res.status).toBe(200);
      expect(res.body).toBe(MODELS_BODY);
      expect(res.headers["content-type"]).toBe("application/json");
    }
    // Only the proxy's own refreshes asked, a few times a second at most.
    const refreshes = upstream.requests.filter((r) => r.path === "/v1/models");
    expect(refreshes.length).toBeLessThan(10);
    expect(refreshes.every((r) => r.headers["x-forwarded-proto"] === undefined)).toBe(true);
  });

  test("HEAD has the same headers and no body", async () => {
    const get = await request(front.url, { path: "/v1/models" });
    const head = await request(front.url, { method: "HEAD", path: "/v1/models" });
    expect(head.status).toBe(200);
    expect(head.body).toBe("");
    expect(head.headers["content-length"]).toBe(String(Buffer.byteLength(MODELS_BODY)));
    expect(head.headers.etag).toBe(get.headers.etag);
  });

  test("conditional requests: a matching If-None-Match or a current If-Modified-Since gets 304 without a body", async () => {
    const get = await request(front.url, { path: "/v1/models" });
    const etag = String(get.headers.etag);
    const expected = `"${createHash("sha256").update(MODELS_BODY).digest("base64url").slice(0, 27)}"`;
    expect(etag).toBe(expected);
    for (const headers of [{ "if-none-match": etag }, { "if-none-match": `"other", W/${etag}` }, { "if-none-match": "*" }, { "if-modified-since": String(get.headers["last-modified"]) }]) {
      const res = await request(front.url, { path: "/v1/models", headers });
      expect(res.status).toBe(304);
      expect(res.body).toBe("");
      expect(res.headers.etag).toBe(etag);
    }
    const stale = await request(front.url, { path: "/v1/models", headers: { "if-none-match": '"other"' } });
    expect(stale.status).toBe(200);
    const old = await request(front.url, { path: "/v1/models", headers: { "if-modified-since": "Thu, 01 Jan 1970 00:00:00 GMT" } });
    expect(old.status).toBe(200);
  });

  test("an error page from the upstream never replaces the copy", async () => {
    const stack = await startStack({ env: { MODELS_REFRESH_MS: "100" } });
    try {
      const before = await request(stack.url, { path: "/v1/models" });
      await stack.upstream.setFailure("refuse");
      await new Promise((resolve) => setTimeout(resolve, 300));
      const during = await request(stack.url, { path: "/v1/models" });
      expect(during.status).toBe(200);
      expect((JSON.parse(during.body) as { data: Array<{ id: string }> }).data[0].id).toBe(MODEL);
      expect(during.headers.etag).toBe(before.headers.etag);
    } finally {
      await stack.upstream.setFailure("none");
      await stack.close();
    }
  });
});
