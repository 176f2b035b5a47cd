/**
 * Holding: while no replica is ready (a rollout, a restart, a scale from zero), the gateway keeps
 * requests, bounded in number and time, and sends them the moment a replica turns ready; a client
 * that leaves is dropped from the line; the held count is a metric the autoscaler reads.
 */
import net from "node:net";
import { performance } from "node:perf_hooks";
import { chatBody, eventually, request } from "../proxy/harness";
import { metricValue, parseMetrics } from "../proxy/support";
import { served, startTiers, type Tiers } from "./tiers";

const chat = (tiers: Tiers) =>
  request(tiers.url, {
    method: "POST",
    path: "/v1/chat/completions",
    headers: { authorization: `Bearer ${tiers.keys.alice}`, "content-type": "application/json" },
    body: chatBody(),
  });

async function metric(tiers: Tiers, name: string, labels: Record<string, string> = {}): Promise<number> {
  const res = await request(`http://127.0.0.1:${tiers.gateway.metricsPort}`, { path: "/metrics" });
  return metricValue(parseMetrics(res.body), name, labels);
}

describe("holding while no replica is ready", () => {
  let tiers: Tiers;
  beforeEach(async () => {
    tiers = await startTiers({ replicas: 1, gatewayEnv: { COLD_START_TIMEOUT_MS: "5000" } });
    tiers.replicas[0].emulator.setReady(false);
    await eventually(async () => (await metric(tiers, "vllm_auth_replicas", { state: "ready" })) === 0);
  });
  afterEach(() => tiers.close());

  test("the gateway stays ready itself, answers the model list, and holds a generation until the replica is ready", async () => {
    expect((await request(tiers.url, { path: "/health" })).status).toBe(200);
    expect((await request(tiers.url, { path: "/v1/models" })).status).toBe(200);
    const pending = chat(tiers);
    await eventually(async () => (await metric(tiers, "vllm_auth_held_requests")) === 1);
    expect(served(tiers.replicas[0])).toHaveLength(0);
    const readyAt = performance.now();
    tiers.replicas[0].emulator.setReady(true);
    const res = await pending;
    expect(res.status).toBe(200);
    // Sent the moment the replica is seen ready (health polls every 100 ms here, at both tiers).
    expect(performance.now() - readyAt).toBeLessThan(1000);
    expect(await metric(tiers, "vllm_auth_held_requests")).toBe(0);
    expect(await metric(tiers, "vllm_auth_held_total", { outcome: "served" })).toBe(1);
  });

  test("a client that leaves while held is dropped: nothing is sent for it later", async () => {
    const socket = net.connect(tiers.gateway.port, "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    const body = chatBody();
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tiers.keys.alice}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    await eventually(async () => (await metric(tiers, "vllm_auth_held_requests")) === 1);
    socket.destroy();
    await eventually(async () => (await metric(tiers, "vllm_auth_held_requests")) === 0);
    expect(await metric(tiers, "vllm_auth_held_total", { outcome: "client_gone" })).toBe(1);
    tiers.replicas[0].emulator.setReady(true);
    await eventually(async () => (await metric(tiers, "vllm_auth_replicas", { state: "ready" })) === 1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(served(tiers.replicas[0])).toHaveLength(0);
  });

  test("a request without a valid key is refused at once and never held", async () => {
    const res = await request(tiers.url, { method: "POST", path: "/v1/chat/completions", headers: { "content-type": "application/json" }, body: chatBody() });
    expect(res.status).toBe(401);
    expect(await metric(tiers, "vllm_auth_held_total", { outcome: "timeout" })).toBe(0);
    expect(await metric(tiers, "vllm_auth_held_requests")).toBe(0);
  });
});

describe("the hold's bounds", () => {
  test("past COLD_START_TIMEOUT_MS a held request gets 503 JSON with Retry-After", async () => {
    const tiers = await startTiers({ replicas: 1, gatewayEnv: { COLD_START_TIMEOUT_MS: "400" } });
    try {
      tiers.replicas[0].emulator.setReady(false);
      await eventually(async () => (await metric(tiers, "vllm_auth_replicas", { state: "ready" })) === 0);
      const started = performance.now();
      const res = await chat(tiers);
      const waited = performance.now() - started;
      expect(res.status).toBe(503);
      expect(res.headers["retry-after"]).toBeDefined();
      expect((JSON.parse(res.body) as { error: { code: string } }).error.code).toBe("model_not_ready");
      expect(waited).toBeGreaterThanOrEqual(350);
      expect(waited).toBeLessThan(1500);
      expect(await metric(tiers, "vllm_auth_held_total", { outcome: "timeout" })).toBe(1);
    } finally {
      await tiers.close();
    }
  });

  test("past HOLD_MAX held requests the next one gets 503 at once", async () => {
    const tiers = await startTiers({ replicas: 1, gatewayEnv: { COLD_START_TIMEOUT_MS: "3000", HOLD_MAX: "2" } });
    try {
      tiers.replicas[0].emulator.setReady(false);
      await eventually(async () => (await metric(tiers, "vllm_auth_replicas", { state: "ready" })) === 0);
      const held = [chat(tiers), chat(tiers)];
      await eventually(async () => (await metric(tiers, "vllm_auth_held_requests")) === 2);
      const started = performance.now();
      const third = await chat(tiers);
      expect(third.status).toBe(503);
      expect(performance.now() - started).toBeLessThan(500);
      expect((JSON.parse(third.body) as { error: { code: string } }).error.code).toBe("overloaded");
      tiers.replicas[0].emulator.setReady(true);
      expect((await Promise.all(held)).map((r) => r.status)).toEqual([200, 200]);
    } finally {
      await tiers.close();
    }
  });
});
