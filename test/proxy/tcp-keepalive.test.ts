/**
 * TCP keep-alive on both sides of the proxy: the NLB's TLS listener closes a flow after 350 s of
 * silence, and keep-alive probes from either end reset that timer (AWS ELB docs, "Connection idle
 * timeout"), so a long non-streamed generation survives. Checked on the real sockets with `ss`.
 */
import { execFileSync } from "node:child_process";
import http from "node:http";
import { bearer, chatBody, startStack, type Stack } from "./harness";

/** The keep-alive timer `ss` shows for established TCP sockets matching `filter`, in seconds; one entry per socket. */
function keepaliveTimers(filter: string): Array<number | undefined> {
  const out = execFileSync("ss", ["-tnoH", "state", "established", filter], { encoding: "utf8" });
  return out
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const match = /timer:\(keepalive,(?:(\d+)min)?([\d.]+)(ms|sec)/.exec(line);
      if (match === null) return undefined;
      const minutes = Number(match[1] ?? 0);
      const value = Number(match[2]);
      return minutes * 60 + (match[3] === "ms" ? value / 1000 : value);
    });
}

describe("TCP keep-alive", () => {
  let stack: Stack;
  let agent: http.Agent;
  beforeAll(async () => {
    stack = await startStack({ env: { TCP_KEEPALIVE_MS: "5000" }, upstream: { tokenDelayMs: 0 } });
    agent = new http.Agent({ keepAlive: true });
    // One generation, so the proxy holds a client connection and an upstream connection open.
    await new Promise<void>((resolve, reject) => {
      const req = http.request(
        `${stack.url}/v1/chat/completions`,
        { method: "POST", agent, headers: { ...bearer(), "content-type": "application/json" } },
        (res) => {
          res.resume();
          res.on("end", () => resolve());
        },
      );
      req.on("error", reject);
      req.end(chatBody());
    });
  });
  afterAll(async () => {
    agent.destroy();
    await stack.close();
  });

  test("the client's connection is probed within TCP_KEEPALIVE_MS", () => {
    const timers = keepaliveTimers(`( sport = :${stack.port} )`);
    expect(timers.length).toBeGreaterThan(0);
    for (const seconds of timers) {
      expect(seconds).toBeDefined();
      expect(seconds).toBeLessThanOrEqual(5);
    }
  });

  test("the proxy's connections to the model server are probed within TCP_KEEPALIVE_MS", () => {
    const timers = keepaliveTimers(`( dport = :${stack.upstream.port} )`);
    expect(timers.length).toBeGreaterThan(0);
    for (const seconds of timers) {
      expect(seconds).toBeDefined();
      expect(seconds).toBeLessThanOrEqual(5);
    }
  });
});
