/**
 * Two tiers end to end: client -> gateway -> sidecar -> vLLM emulator, over real sockets. Client
 * keys stop at the gateway; the sidecar takes only the internal credential; the proxy's guarantees
 * (default deny, target checks, streaming, aborts) hold through both hops.
 */
import net from "node:net";
import { performance } from "node:perf_hooks";
import { chatBody, eventually, rawExchange, rawStatus, request } from "../proxy/harness";
import { RawUpstream } from "../proxy/raw-upstream";
import { openStream } from "../proxy/support";
import { INTERNAL, randomKey, served, startTiers, type Tiers } from "./tiers";

const chat = (tiers: Tiers, key: string | undefined, extra: Record<string, unknown> = {}) =>
  request(tiers.url, {
    method: "POST",
    path: "/v1/chat/completions",
    headers: { "content-type": "application/json", ...(key === undefined ? {} : { authorization: `Bearer ${key}` }) },
    body: chatBody(extra),
  });

describe("credentials across the two tiers", () => {
  let tiers: Tiers;
  beforeAll(async () => {
    tiers = await startTiers({ keys: { alice: undefined, bob: undefined } });
  });
  afterAll(() => tiers.close());

  test("the seed's three answers at the gateway: public model list, 401 without a key, a completion with one", async () => {
    const models = await request(tiers.url, { path: "/v1/models" });
    expect(models.status).toBe(200);
    expect((JSON.parse(models.body) as { data: Array<{ id: string }> }).data[0].id).toBe("meta-llama/Llama-2-7b-chat-hf");
    const denied = await chat(tiers, undefined);
    expect(denied.status).toBe(401);
    expect(denied.body).toBe("Invalid authentication credentials");
    const ok = await chat(tiers, tiers.keys.alice);
    expect(ok.status).toBe(200);
    expect((JSON.parse(ok.body) as { object: string }).object).toBe("chat.completion");
  });

  test("a refused request never reaches a replica; a malformed key is refused without a lookup", async () => {
    const before = served(tiers.replicas[0]).length;
    const wrong = await chat(tiers, randomKey());
    const typo = await chat(tiers, `${tiers.keys.alice.slice(0, -1)}${tiers.keys.alice.endsWith("a") ? "b" : "a"}`);
    expect([wrong.status, typo.status]).toEqual([401, 401]);
    expect(served(tiers.replicas[0]).length).toBe(before);
    const scrape = await request(`http://127.0.0.1:${tiers.gateway.metricsPort}`, { path: "/metrics" });
    expect(scrape.body).toMatch(/vllm_auth_auth_failures_total\{reason="malformed",role="gateway"\} [1-9]/);
  });

  test("the internal credential is not a client key: the gateway refuses it and nothing reaches a replica", async () => {
    const before = served(tiers.replicas[0]).length;
    const res = await chat(tiers, INTERNAL);
    expect(res.status).toBe(401);
    expect(served(tiers.replicas[0]).length).toBe(before);
  });

  test("the client's key never reaches the sidecar or vLLM; the access logs name the key, never show it", async () => {
    const res = await chat(tiers, tiers.keys.bob);
    expect(res.status).toBe(200);
    const seen = served(tiers.replicas[0]).at(-1);
    expect(seen?.headers.authorization).toBeUndefined();
    for (const [name, value] of Object.entries(seen?.headers ?? {})) {
      expect(`${name}: ${String(value)}`).not.toContain(tiers.keys.bob);
    }
    await eventually(() => tiers.gatewayLines().some((l) => l.msg === "request" && l.key === "bob"));
    const allLogs = [...tiers.gatewayLogs, ...tiers.replicas[0].logs].join("\n");
    for (const key of Object.values(tiers.keys)) expect(allLogs).not.toContain(key);
    expect(allLogs).not.toContain(INTERNAL);
  });

  test("vLLM sees the real client's address and scheme, carried through the trusted hop", async () => {
    await chat(tiers, tiers.keys.alice);
    const seen = served(tiers.replicas[0]).at(-1);
    expect(seen?.headers["x-forwarded-for"]).toBe("127.0.0.1");
    expect(seen?.headers["x-forwarded-proto"]).toBe("http");
  });
});

describe("the sidecar accepts only the internal credential", () => {
  let tiers: Tiers;
  beforeAll(async () => {
    tiers = await startTiers();
  });
  afterAll(() => tiers.close());

  const atSidecar = (authorization: string | undefined, path = "/v1/chat/completions", method = "POST") =>
    request(tiers.replicas[0].url, {
      method,
      path,
      headers: { "content-type": "application/json", ...(authorization === undefined ? {} : { authorization }) },
      ...(method === "POST" ? { body: chatBody() } : {}),
    });

  test("a client key, no key, or a wrong one is refused at the sidecar; the model list too needs the internal credential", async () => {
    const before = served(tiers.replicas[0]).length;
    expect((await atSidecar(`Bearer ${tiers.keys.alice}`)).status).toBe(401);
    expect((await atSidecar(undefined)).status).toBe(401);
    expect((await atSidecar("Bearer internal_wrong_0123456789abcdefghijklmnopqrst")).status).toBe(401);
    expect((await atSidecar(undefined, "/v1/models", "GET")).status).toBe(401);
    expect(served(tiers.replicas[0]).length).toBe(before);
  });

  test("with the internal credential the sidecar serves, and its default-deny table still holds", async () => {
    expect((await atSidecar(`Bearer ${INTERNAL}`)).status).toBe(200);
    expect((await atSidecar(`Bearer ${INTERNAL}`, "/v1/models", "GET")).status).toBe(200);
    for (const path of ["/metrics", "/tokenize", "/pause", "/collective_rpc"]) {
      expect((await atSidecar(`Bearer ${INTERNAL}`, path)).status).toBe(404);
    }
    const dots = await rawExchange(
      Number(new URL(tiers.replicas[0].url).port),
      `GET /v1/chat/completions/../../models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${INTERNAL}\r\nConnection: close\r\n\r\n`,
    );
    expect(rawStatus(dots.text)).toBe(400);
  });

  test("/health needs no credential: it is the kubelet's readiness probe", async () => {
    expect((await request(tiers.replicas[0].url, { path: "/health" })).status).toBe(200);
  });

  test("the gateway-to-replica hop carries the internal credential and nothing of the client's", async () => {
    const fake = await RawUpstream.start(({ socket }) => socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}'));
    const only = await startTiers({ replicaUrls: [fake.url] });
    try {
      await eventually(async () => (await chat(only, only.keys.alice)).status === 200);
      const hop = fake.forwarded.at(-1);
      expect(hop?.headers.authorization).toBe(`Bearer ${INTERNAL}`);
      expect(JSON.stringify(hop?.headers)).not.toContain(only.keys.alice);
      // The gateway's own model-list refresh also authenticates with the internal credential.
      const refresh = fake.requests.find((r) => r.path === "/v1/models");
      expect(refresh?.headers.authorization).toBe(`Bearer ${INTERNAL}`);
    } finally {
      await only.close();
      await fake.close();
    }
  });
});

describe("rotating the internal credential", () => {
  test("a gateway that already sends the new credential to a sidecar that knows only the old one retries with the old, and nothing fails", async () => {
    const NEW = "internal_new_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const tiers = await startTiers({ internal: { gateway: [NEW, INTERNAL], sidecar: [INTERNAL] } });
    try {
      for (let i = 0; i < 3; i++) expect((await chat(tiers, tiers.keys.alice)).status).toBe(200);
      expect(served(tiers.replicas[0])).toHaveLength(3);
    } finally {
      await tiers.close();
    }
  });
});

describe("streaming and aborts through both hops", () => {
  let tiers: Tiers;
  beforeAll(async () => {
    tiers = await startTiers({ emulator: { tokenDelayMs: 100, completionTokens: 30 } });
  });
  afterAll(() => tiers.close());

  test("events arrive one by one, unbuffered", async () => {
    const stream = await openStream(tiers.url, {
      path: "/v1/chat/completions",
      headers: { authorization: `Bearer ${tiers.keys.alice}`, "content-type": "application/json" },
      body: chatBody({ stream: true }),
    });
    expect(stream.status).toBe(200);
    await stream.waitFor((text) => (text.match(/^data: \{/gm) ?? []).length >= 2);
    expect(stream.text()).not.toContain("[DONE]");
    stream.destroy();
  });

  test("a client that leaves mid-stream closes vLLM's request within 100 ms", async () => {
    const socket = net.connect(tiers.gateway.port, "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    const body = chatBody({ stream: true });
    const before = served(tiers.replicas[0]).length;
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tiers.keys.alice}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    await new Promise<void>((resolve) => socket.once("data", () => resolve()));
    await eventually(() => served(tiers.replicas[0]).length > before);
    const upstreamRequest = served(tiers.replicas[0]).at(-1);
    const left = performance.now();
    socket.destroy();
    if (upstreamRequest === undefined) throw new Error("no open request at vLLM");
    const closedAt = await tiers.replicas[0].emulator.waitForClose(upstreamRequest, 2000);
    expect(closedAt - left).toBeLessThan(100);
  });
});

describe("the sidecar's metrics port", () => {
  let tiers: Tiers;
  beforeAll(async () => {
    tiers = await startTiers({ emulator: { tokenDelayMs: 200, completionTokens: 10 } });
  });
  afterAll(() => tiers.close());

  test("serves vLLM's own metrics at /metrics/vllm, read over loopback, beside the proxy's at /metrics", async () => {
    const metricsUrl = `http://127.0.0.1:${tiers.replicas[0].sidecar.metricsPort}`;
    const stream = await openStream(tiers.url, {
      path: "/v1/chat/completions",
      headers: { authorization: `Bearer ${tiers.keys.alice}`, "content-type": "application/json" },
      body: chatBody({ stream: true }),
    });
    await stream.waitFor((text) => text.includes("data: {"));
    const vllm = await request(metricsUrl, { path: "/metrics/vllm" });
    expect(vllm.status).toBe(200);
    expect(vllm.headers["content-type"]).toContain("text/plain");
    expect(vllm.body).toMatch(/^vllm:num_requests_running\{[^}]*model_name="meta-llama\/Llama-2-7b-chat-hf"[^}]*\} 1$/m);
    const own = await request(metricsUrl, { path: "/metrics" });
    expect(own.body).toMatch(/vllm_auth_inflight_requests\{role="sidecar"\} 1/);
    stream.destroy();
    // Never on the API port, whatever the credential.
    const api = await request(tiers.replicas[0].url, { path: "/metrics", headers: { authorization: `Bearer ${INTERNAL}` } });
    expect(api.status).toBe(404);
  });
});
