/** What an operator sees: access-log lines, Prometheus metrics, liveness and readiness. */
import { performance } from "node:perf_hooks";
import {
  MODEL,
  TOKEN,
  bearer,
  chatBody,
  eventually,
  forwarded,
  rawExchange,
  rawStatus,
  request,
  startStack,
  type SimpleResponse,
  type Stack,
} from "./harness";
import { errorCode, metricValue, openStream, parseMetrics, type Sample } from "./support";

/** The same length as TOKEN, so only the comparison can reject it. */
const WRONG_TOKEN = "tok_wrong_00000000000000000000000000000";

const requestLines = (stack: Stack): Array<Record<string, unknown>> => stack.logs.filter((line) => line.msg === "request");

/** Waits until `count` access-log lines exist, then checks no extra line follows. */
async function accessLines(stack: Stack, count: number): Promise<Array<Record<string, unknown>>> {
  await eventually(() => requestLines(stack).length >= count);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const lines = requestLines(stack);
  expect(lines).toHaveLength(count);
  return lines;
}

async function scrape(stack: Stack): Promise<Sample[]> {
  const res = await request(`http://127.0.0.1:${stack.proxy.metricsPort}`, { path: "/metrics" });
  expect(res.status).toBe(200);
  return parseMetrics(res.body);
}

const chat = (stack: Stack, headers: Record<string, string> = bearer(), extra: Record<string, unknown> = {}): Promise<SimpleResponse> =>
  request(stack.url, {
    method: "POST",
    path: "/v1/chat/completions",
    headers: { "content-type": "application/json", ...headers },
    body: chatBody(extra),
  });

describe("access log", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.close());

  test("every request writes exactly one JSON line with method, path, route, status, timings and sizes", async () => {
    const before = requestLines(stack).length;
    const models = await request(stack.url, { path: "/v1/models" });
    const body = chatBody();
    const ok = await chat(stack);
    const denied = await chat(stack, {});
    const missing = await request(stack.url, { path: "/nothing-here" });
    const health = await request(stack.url, { path: "/health" });
    expect([models.status, ok.status, denied.status, missing.status, health.status]).toEqual([200, 200, 401, 404, 200]);

    const lines = (await accessLines(stack, before + 5)).slice(before);
    for (const line of lines) {
      expect(line.level).toBe("info");
      expect(typeof line.time).toBe("string");
      expect(typeof line.duration_ms).toBe("number");
      expect(line.duration_ms as number).toBeGreaterThanOrEqual(0);
    }
    const [modelsLine, okLine, deniedLine, missingLine, healthLine] = lines;
    expect(modelsLine).toMatchObject({ method: "GET", path: "/v1/models", route: "models", status: 200, bytes_in: 0 });
    expect(modelsLine.bytes_out).toBe(Buffer.byteLength(models.body));
    // Served from the proxy's copy of vLLM's answer: no upstream time.
    expect(modelsLine).not.toHaveProperty("upstream_ms");

    expect(okLine).toMatchObject({ method: "POST", path: "/v1/chat/completions", route: "chat_completions", status: 200 });
    expect(okLine.bytes_in).toBe(Buffer.byteLength(body));
    expect(okLine.bytes_out).toBe(Buffer.byteLength(ok.body));
    expect(typeof okLine.upstream_ms).toBe("number");
    expect(okLine.upstream_ms as number).toBeLessThanOrEqual(okLine.duration_ms as number);

    expect(deniedLine).toMatchObject({ method: "POST", path: "/v1/chat/completions", route: "chat_completions", status: 401 });
    expect(deniedLine.bytes_out).toBe(Buffer.byteLength(denied.body));
    expect(deniedLine).not.toHaveProperty("upstream_ms");

    expect(missingLine).toMatchObject({ method: "GET", path: "/nothing-here", status: 404 });
    expect(missingLine).not.toHaveProperty("upstream_ms");
    expect(healthLine).toMatchObject({ method: "GET", path: "/health", route: "health", status: 200 });
    expect(healthLine).not.toHaveProperty("upstream_ms");
  });

  test("the access log never holds the query string, the body or header values", async () => {
    const before = requestLines(stack).length;
    const res = await request(stack.url, {
      method: "POST",
      path: "/v1/chat/completions?trace=QUERYMARK",
      headers: {
        ...bearer(),
        "content-type": "application/json",
        "user-agent": "AGENTMARK/1.0",
        "x-request-note": "HEADERMARK",
        cookie: "session=COOKIEMARK",
      },
      body: chatBody({ messages: [{ role: "user", content: "BODYMARK" }] }),
    });
    expect(res.status).toBe(200);
    await request(stack.url, { path: "/v1/models?QUERYMARK2=1" });
    await request(stack.url, { path: "/elsewhere?QUERYMARK3" });
    const lines = (await accessLines(stack, before + 3)).slice(before);
    expect(lines.map((line) => line.path)).toEqual(["/v1/chat/completions", "/v1/models", "/elsewhere"]);
    const allowed = new Set([
      "time", "level", "msg", "method", "path", "route", "status", "outcome", "key", "replica", "duration_ms", "upstream_ms",
      "bytes_in", "bytes_out", "prompt_tokens", "completion_tokens", "client",
    ]);
    for (const line of lines) {
      expect(Object.keys(line).filter((key) => !allowed.has(key))).toEqual([]);
    }
    const text = stack.logText();
    for (const mark of ["QUERYMARK", "AGENTMARK", "HEADERMARK", "COOKIEMARK", "BODYMARK", "Who are you"]) {
      expect(text).not.toContain(mark);
    }
  });

  test("no token appears in any log line or error body, wherever the client puts it", async () => {
    const bodies: string[] = [];
    const keep = (res: SimpleResponse): SimpleResponse => {
      bodies.push(res.body);
      return res;
    };
    expect(keep(await chat(stack)).status).toBe(200);
    expect(keep(await chat(stack, bearer(WRONG_TOKEN))).status).toBe(401);
    expect(keep(await chat(stack, { authorization: `Basic ${TOKEN}` })).status).toBe(401);
    expect(keep(await chat(stack, { ...bearer(), accept: "application/json" })).status).toBe(200);
    expect(keep(await chat(stack, { ...bearer(WRONG_TOKEN), accept: "application/json" })).status).toBe(401);
    expect(keep(await request(stack.url, { path: `/v1/${TOKEN}`, headers: bearer() })).status).toBe(404);
    expect(keep(await request(stack.url, { path: `/v1/models/${TOKEN}` })).status).toBe(404);
    expect(keep(await request(stack.url, { path: `/v1/%2e%2e/${TOKEN}` })).status).toBe(400);
    expect(keep(await request(stack.url, { method: "POST", path: `/v1/chat/completions?api_key=${TOKEN}`, body: chatBody() })).status).toBe(401);
    expect(keep(await request(stack.url, { path: `/v1/models?key=${TOKEN}` })).status).toBe(200);
    const absolute = await rawExchange(stack.port, `GET http://127.0.0.1/${TOKEN} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(rawStatus(absolute.text)).toBe(400);
    bodies.push(absolute.text);

    await eventually(() => requestLines(stack).some((line) => line.status === 400 && line.method === "GET" && String(line.path).startsWith("http")));
    const logs = stack.logText();
    expect(logs).not.toContain(TOKEN);
    expect(logs).not.toContain(WRONG_TOKEN);
    for (const body of bodies) {
      expect(body).not.toContain(TOKEN);
      expect(body).not.toContain(WRONG_TOKEN);
    }
    expect(requestLines(stack).some((line) => line.status === 404 && String(line.path).startsWith("/v1/models/"))).toBe(true);
  });

  test("a token at the 256-character cut of a logged path is not logged, not even in part", async () => {
    const filler = "a".repeat(256 - "/v1/".length - (TOKEN.length - 1));
    const res = await request(stack.url, { path: `/v1/${filler}${TOKEN}` });
    expect(res.status).toBe(404);
    await eventually(() => requestLines(stack).some((line) => line.status === 404 && line.path === "/v1/[REDACTED]"));
    expect(stack.logText()).not.toContain(TOKEN.slice(0, -1));
    expect(stack.logText()).not.toContain(TOKEN.slice(1, 17));
  });
});

describe("Prometheus metrics on METRICS_PORT", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.close());

  test("requests are counted by route, method and status", async () => {
    const requests = "vllm_auth_requests_total";
    const before = await scrape(stack);
    await request(stack.url, { path: "/v1/models" });
    await request(stack.url, { path: "/v1/models" });
    await chat(stack);
    await chat(stack, {});
    await request(stack.url, { path: "/invocations", method: "POST", headers: bearer(), body: "{}" });
    const delta = (after: Sample[], labels: Record<string, string>): number =>
      metricValue(after, requests, labels) - metricValue(before, requests, labels);
    await eventually(async () => delta(await scrape(stack), { route: "-", status: "404" }) === 1);
    const after = await scrape(stack);
    expect(delta(after, { route: "models", method: "GET", status: "200" })).toBe(2);
    expect(delta(after, { route: "chat_completions", method: "POST", status: "200" })).toBe(1);
    expect(delta(after, { route: "chat_completions", method: "POST", status: "401" })).toBe(1);
    expect(delta(after, { route: "-", method: "POST", status: "404" })).toBe(1);
  });

  test("request latency is a histogram by route with cumulative buckets", async () => {
    const name = "vllm_auth_request_duration_seconds";
    const before = await scrape(stack);
    await request(stack.url, { path: "/v1/models" });
    await request(stack.url, { path: "/v1/models" });
    await request(stack.url, { path: "/v1/models" });
    await eventually(async () => metricValue(await scrape(stack), `${name}_count`, { route: "models" }) - metricValue(before, `${name}_count`, { route: "models" }) === 3);
    const after = await scrape(stack);
    const buckets = after.filter((s) => s.name === `${name}_bucket` && s.labels.route === "models");
    expect(buckets.length).toBeGreaterThan(5);
    const bounds = buckets.map((s) => (s.labels.le === "+Inf" ? Infinity : Number(s.labels.le)));
    expect(bounds).toEqual([...bounds].sort((a, b) => a - b));
    const counts = buckets.map((s) => s.value);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(counts[counts.length - 1]).toBe(metricValue(after, `${name}_count`, { route: "models" }));
    expect(metricValue(after, `${name}_sum`, { route: "models" })).toBeGreaterThan(0);
    // The model list comes from the proxy's copy; a generation's time to vLLM's headers is recorded.
    expect(metricValue(after, "vllm_auth_upstream_headers_seconds_count", { route: "models" })).toBe(0);
    await chat(stack);
    const chatted = await scrape(stack);
    expect(metricValue(chatted, "vllm_auth_upstream_headers_seconds_count", { route: "chat_completions" })).toBeGreaterThanOrEqual(1);
  });

  test("auth failures are counted by reason", async () => {
    const name = "vllm_auth_auth_failures_total";
    stack.upstream.reset();
    const before = await scrape(stack);
    const statuses = [
      (await chat(stack, {})).status,
      (await chat(stack, bearer(WRONG_TOKEN))).status,
      (await chat(stack, { authorization: `Basic ${TOKEN}` })).status,
      (await chat(stack, { authorization: "Bearer" })).status,
    ];
    const body = chatBody();
    const twice = await rawExchange(
      stack.port,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nAuthorization: Bearer ${WRONG_TOKEN}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    statuses.push(rawStatus(twice.text));
    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    const after = await scrape(stack);
    for (const reason of ["missing", "invalid", "scheme", "empty", "multiple"]) {
      expect([reason, metricValue(after, name, { reason }) - metricValue(before, name, { reason })]).toEqual([reason, 1]);
    }
    expect(forwarded(stack)).toHaveLength(0);
  });

  test("the in-flight streams gauge counts a stream while it is open and drops when it ends", async () => {
    stack.upstream.setTokenDelay(40);
    try {
      const stream = await openStream(stack.url, {
        path: "/v1/chat/completions",
        headers: { ...bearer(), "content-type": "application/json" },
        body: chatBody({ stream: true }),
      });
      expect(stream.status).toBe(200);
      await stream.waitFor((text) => text.includes("data: {"));
      const during = await scrape(stack);
      expect(metricValue(during, "vllm_auth_inflight_streams")).toBe(1);
      expect(metricValue(during, "vllm_auth_inflight_requests")).toBe(1);
      const end = await stream.done;
      expect(end.complete).toBe(true);
      expect(end.text).toContain("data: [DONE]");
      await eventually(async () => metricValue(await scrape(stack), "vllm_auth_inflight_streams") === 0);
      expect(metricValue(await scrape(stack), "vllm_auth_inflight_requests")).toBe(0);
    } finally {
      stack.upstream.setTokenDelay(0);
    }
  });

  test("metrics are served only on the metrics port, and the API only on the API port", async () => {
    const metricsUrl = `http://127.0.0.1:${stack.proxy.metricsPort}`;
    const served = await request(metricsUrl, { path: "/metrics" });
    expect(served.status).toBe(200);
    expect(served.headers["content-type"]).toMatch(/^text\/plain/);
    expect(served.body).toContain("vllm_auth_requests_total");
    stack.upstream.reset();
    for (const path of ["/metrics", "/livez", "/readyz"]) {
      const onApi = await request(stack.url, { path, headers: bearer() });
      expect([path, onApi.status]).toEqual([path, 404]);
      expect(onApi.body).not.toContain("vllm_auth_");
    }
    const apiOnMetrics = await request(metricsUrl, { path: "/v1/models" });
    expect(apiOnMetrics.status).toBe(404);
    expect(forwarded(stack)).toHaveLength(0);
  });
});

describe("upstream errors", () => {
  let stack: Stack;
  beforeAll(async () => {
    // No background readiness polls after start-up: the failure reaches the forwarder, not the poller.
    stack = await startStack({ env: { READY_POLL_MS: "3600000", UPSTREAM_HEADERS_TIMEOUT_MS: "200" } });
  });
  afterAll(() => stack.close());

  test("an upstream that does not answer in time is a 504 and counted as a timeout", async () => {
    const name = "vllm_auth_upstream_errors_total";
    const before = metricValue(await scrape(stack), name, { kind: "timeout" });
    await stack.upstream.setFailure("hang");
    try {
      const res = await chat(stack);
      expect(res.status).toBe(504);
      expect(errorCode(res.body)).toBe("upstream_timeout");
    } finally {
      await stack.upstream.setFailure("none");
    }
    expect(metricValue(await scrape(stack), name, { kind: "timeout" }) - before).toBe(1);
  });

  test("a refused upstream connection is a 502 JSON error and counted as refused", async () => {
    const name = "vllm_auth_upstream_errors_total";
    const before = metricValue(await scrape(stack), name, { kind: "refused" });
    stack.upstream.reset();
    await stack.upstream.setFailure("refuse");
    try {
      const res = await chat(stack);
      expect(res.status).toBe(502);
      expect(res.headers["content-type"]).toBe("application/json");
      expect(errorCode(res.body)).toBe("upstream_unavailable");
    } finally {
      await stack.upstream.setFailure("none");
    }
    expect(metricValue(await scrape(stack), name, { kind: "refused" }) - before).toBe(1);
    expect(forwarded(stack)).toHaveLength(0);
  });
});

describe("liveness and readiness", () => {
  let stack: Stack;
  let metricsUrl: string;
  beforeAll(async () => {
    stack = await startStack();
    metricsUrl = `http://127.0.0.1:${stack.proxy.metricsPort}`;
  });
  afterAll(() => stack.close());

  const statuses = async (): Promise<{ live: number; ready: number; health: number }> => {
    const [live, ready, health] = await Promise.all([
      request(metricsUrl, { path: "/livez" }),
      request(metricsUrl, { path: "/readyz" }),
      request(stack.url, { path: "/health" }),
    ]);
    return { live: live.status, ready: ready.status, health: health.status };
  };

  /** The harness polls vLLM every 100 ms (the default is 2 s); allow scheduling noise on a busy machine. */
  const WITHIN_POLL_MS = 500;

  test("/livez stays 200 while vLLM is unready; /health and /readyz follow vLLM within the poll interval", async () => {
    expect(await statuses()).toEqual({ live: 200, ready: 200, health: 200 });
    stack.upstream.reset();

    let started = performance.now();
    stack.upstream.setReady(false);
    try {
      await eventually(async () => {
        const s = await statuses();
        return s.ready === 503 && s.health === 503;
      }, 3000, 10);
      expect(performance.now() - started).toBeLessThan(WITHIN_POLL_MS);
      const health = await request(stack.url, { path: "/health" });
      expect(JSON.parse(health.body) as unknown).toMatchObject({ status: "unready" });
      expect((await statuses()).live).toBe(200);
      expect(metricValue(await scrape(stack), "vllm_auth_upstream_ready")).toBe(0);
    } finally {
      started = performance.now();
      stack.upstream.setReady(true);
    }
    await eventually(async () => {
      const s = await statuses();
      return s.ready === 200 && s.health === 200;
    }, 3000, 10);
    expect(performance.now() - started).toBeLessThan(WITHIN_POLL_MS);
    expect((await statuses()).live).toBe(200);
    expect(forwarded(stack)).toHaveLength(0);
  });

  test("while vLLM is unready, API calls get 503 JSON model_not_ready, the model list comes from the last copy, and nothing is forwarded", async () => {
    stack.upstream.setReady(false);
    try {
      await eventually(async () => (await request(stack.url, { path: "/health" })).status === 503, 3000, 10);
      stack.upstream.reset();
      const models = await request(stack.url, { path: "/v1/models" });
      expect(models.status).toBe(200);
      expect((JSON.parse(models.body) as { data: Array<{ id: string }> }).data[0].id).toBe(MODEL);
      const generation = await chat(stack);
      for (const res of [generation]) {
        expect(res.status).toBe(503);
        expect(res.headers["content-type"]).toBe("application/json");
        expect(res.headers["retry-after"]).toBeDefined();
        expect(errorCode(res.body)).toBe("model_not_ready");
      }
      expect((await request(metricsUrl, { path: "/livez" })).status).toBe(200);
      expect(forwarded(stack)).toHaveLength(0);
    } finally {
      stack.upstream.setReady(true);
    }
    await eventually(async () => (await request(stack.url, { path: "/v1/models" })).status === 200, 3000, 10);
    const models = await request(stack.url, { path: "/v1/models" });
    expect((JSON.parse(models.body) as { data: Array<{ id: string }> }).data[0].id).toBe(MODEL);
  });
});
