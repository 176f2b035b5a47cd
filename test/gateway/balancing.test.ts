/**
 * Per-request balancing at the gateway: every request goes to the ready replica with the fewest
 * requests from this gateway, whatever connection the client reuses; a replica that refuses the
 * connection is skipped, and nothing that reached vLLM is retried.
 */
import http from "node:http";
import { chatBody, request } from "../proxy/harness";
import { served, startTiers, type Tiers } from "./tiers";

/** `count` requests one after the other over one keep-alive connection. */
async function sequential(tiers: Tiers, count: number, extra: Record<string, unknown> = {}): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const statuses: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      statuses.push(
        await new Promise<number>((resolve, reject) => {
          const req = http.request(
            `${tiers.url}/v1/chat/completions`,
            { method: "POST", agent, headers: { authorization: `Bearer ${tiers.keys.alice}`, "content-type": "application/json" } },
            (res) => {
              res.resume();
              res.on("end", () => resolve(res.statusCode ?? 0));
            },
          );
          req.on("error", reject);
          req.end(chatBody(extra));
        }),
      );
    }
    // One client connection carried them all.
    expect(Object.values(agent.sockets).flat().length + Object.values(agent.freeSockets).flat().length).toBe(1);
  } finally {
    agent.destroy();
  }
  return statuses;
}

describe("least-request balancing", () => {
  let tiers: Tiers;
  beforeAll(async () => {
    tiers = await startTiers({ replicas: 3, emulator: { tokenDelayMs: 20, completionTokens: 3 } });
  });
  afterAll(() => tiers.close());

  test("one keep-alive client connection's slow requests spread evenly over three replicas", async () => {
    const counts = () => tiers.replicas.map((r) => served(r).length);
    const before = counts();
    const statuses = await sequential(tiers, 30);
    expect(statuses.every((s) => s === 200)).toBe(true);
    const spread = counts().map((n, i) => n - before[i]);
    expect(spread.reduce((a, b) => a + b, 0)).toBe(30);
    // Within 10% of even: 10 each, give or take one.
    for (const n of spread) expect(Math.abs(n - 10)).toBeLessThanOrEqual(1);
  });

  test("concurrent slow requests go where the fewest are in flight: three at once land on three replicas", async () => {
    const before = tiers.replicas.map((r) => served(r).length);
    const body = chatBody({ stream: true });
    const answers = await Promise.all(
      [0, 1, 2].map(() =>
        request(tiers.url, { method: "POST", path: "/v1/chat/completions", headers: { authorization: `Bearer ${tiers.keys.alice}`, "content-type": "application/json" }, body }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(tiers.replicas.map((r, i) => served(r).length - before[i])).toEqual([1, 1, 1]);
  });

  test("the gateway's metrics show each replica's requests in flight and how many are ready", async () => {
    const scrape = await request(`http://127.0.0.1:${tiers.gateway.metricsPort}`, { path: "/metrics" });
    expect(scrape.body).toMatch(/vllm_auth_replicas\{state="ready",role="gateway"\} 3/);
    expect(scrape.body).toMatch(/vllm_auth_replicas\{state="known",role="gateway"\} 3/);
    expect(scrape.body.match(/^vllm_auth_replica_inflight_requests\{replica="127\.0\.0\.1:\d+",role="gateway"\} 0$/gm)).toHaveLength(3);
  });
});

describe("refusing replicas", () => {
  test("a replica that refuses the connection before any byte is skipped, and every request is served by another", async () => {
    // Health polls a minute apart: the gateway still counts the dead replica as ready when requests come.
    const tiers = await startTiers({ replicas: 2, gatewayEnv: { READY_POLL_MS: "60000" } });
    try {
      await tiers.replicas[1].stop();
      const statuses = await sequential(tiers, 6);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
      expect(served(tiers.replicas[0])).toHaveLength(6);
      const scrape = await request(`http://127.0.0.1:${tiers.gateway.metricsPort}`, { path: "/metrics" });
      expect(scrape.body).toMatch(/vllm_auth_upstream_errors_total\{kind="refused",role="gateway"\} [1-9]/);
      expect(scrape.body).toMatch(/vllm_auth_replicas\{state="ready",role="gateway"\} 1/);
    } finally {
      tiers.replicas.splice(1, 1);
      await tiers.close();
    }
  });

  test("a request that reached vLLM is never retried elsewhere: a reset after sending is a 502", async () => {
    const tiers = await startTiers({ replicas: 2 });
    try {
      for (const replica of tiers.replicas) await replica.emulator.setFailure("reset-before-headers");
      const res = await request(tiers.url, {
        method: "POST",
        path: "/v1/chat/completions",
        headers: { authorization: `Bearer ${tiers.keys.alice}`, "content-type": "application/json" },
        body: chatBody(),
      });
      expect(res.status).toBe(502);
      expect(tiers.replicas.map((r) => served(r).length).reduce((a, b) => a + b, 0)).toBe(1);
    } finally {
      for (const replica of tiers.replicas) await replica.emulator.setFailure("none");
      await tiers.close();
    }
  });
});
