/**
 * `npm run local` as the cluster's two tiers, end to end as a user runs it: per-request balancing
 * over `--replicas 3`, a request held until `--replica-start-delay-ms` is over, `--keys` with a
 * working command per name, `--limit` running into its 429 through the printed command, bad flags.
 */
import http from "node:http";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { eventually } from "../proxy/harness";
import { metricValue, parseMetrics } from "../proxy/support";
import {
  commandFor,
  expectSeedCompletion,
  hostPort,
  interruptAndCheck,
  listeners,
  parseBanner,
  paste,
  spawnLocal,
  type Banner,
  type LocalProcess,
} from "./local-cli";

const SEED_MODEL = "meta-llama/Llama-2-7b-chat-hf";
const CHAT_BODY = JSON.stringify({ model: SEED_MODEL, messages: [{ role: "user", content: "Who are you?" }] });

let home: string;
const procs: Partial<Record<"three" | "keys" | "delayed" | "unknownKey" | "noReplicas", LocalProcess>> = {};
const banners: Partial<Record<"three" | "keys", Banner>> = {};

function proc(name: keyof typeof procs): LocalProcess {
  const found = procs[name];
  if (found === undefined) throw new Error(`${name} was not started`);
  return found;
}

function bannerOf(name: keyof typeof banners): Banner {
  const banner = banners[name];
  if (banner === undefined) throw new Error(`${name} printed no banner`);
  return banner;
}

/** One sample from a printed metrics URL. */
async function metric(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const res = await fetch(url);
  return metricValue(parseMetrics(await res.text()), name, labels);
}

/** curl -i output with its CRLF line ends made LF. */
const lf = (text: string): string => text.replace(/\r\n/g, "\n");

beforeAll(async () => {
  home = mkdtempSync(path.join(os.tmpdir(), "vllm-auth-local-tiers-"));
  // Started together: each start costs npm + tsx (~1-2 s), which run in parallel.
  procs.three = spawnLocal(["--port", "0", "--replicas", "3", "--token-delay-ms", "10"]);
  procs.keys = spawnLocal(["--port", "0", "--keys", "alice,bob,carol,dave", "--limit", "carol:rpm=2", "--limit", "dave:concurrency=1"]);
  procs.unknownKey = spawnLocal(["--keys", "alice", "--limit", "bob:rpm=2"]);
  procs.noReplicas = spawnLocal(["--replicas", "0"]);
  const [three, keys] = await Promise.all([proc("three").banner(), proc("keys").banner()]);
  banners.three = parseBanner(three);
  banners.keys = parseBanner(keys);
});

afterAll(() => {
  for (const p of Object.values(procs)) p?.kill();
  if (home !== undefined) rmSync(home, { recursive: true, force: true });
});

describe("npm run local --replicas 3", () => {
  test("prints three replicas, each a sidecar in front of its own emulator", () => {
    const banner = bannerOf("three");
    expect(proc("three").stdout()).toContain("a gateway in front of 3 replicas, each a sidecar in front of its own vLLM emulator");
    expect(banner.replicas.map((r) => r.index)).toEqual([1, 2, 3]);
    expect(new Set(banner.replicas.map((r) => r.upstream)).size).toBe(3);
    expect(new Set(banner.replicas.map((r) => r.sidecar)).size).toBe(3);
  });

  test("one keep-alive client connection's slow requests spread over the three replicas within 10% of even", async () => {
    const banner = bannerOf("three");
    const { host, port } = hostPort(banner.endpoint);
    const served = (): Promise<number[]> =>
      Promise.all(banner.replicas.map((r) => metric(r.metricsUrl, "vllm_auth_requests_total", { route: "chat_completions", status: "200" })));
    const before = await served();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    try {
      for (let i = 0; i < 30; i++) {
        const status = await new Promise<number>((resolve, reject) => {
          const req = http.request(
            { host, port, method: "POST", path: "/v1/chat/completions", agent, headers: { authorization: `Bearer ${banner.token}`, "content-type": "application/json" } },
            (res) => {
              res.resume();
              res.on("end", () => resolve(res.statusCode ?? 0));
            },
          );
          req.on("socket", (socket) => sockets.add(socket));
          req.on("error", reject);
          req.end(CHAT_BODY);
        });
        expect(status).toBe(200);
      }
    } finally {
      agent.destroy();
    }
    // One client connection carried all of them.
    expect(sockets.size).toBe(1);
    const after = await served();
    const spread = after.map((n, i) => n - before[i]);
    expect(spread.reduce((a, b) => a + b, 0)).toBe(30);
    // Within 10% of even: 10 each, give or take one.
    for (const n of spread) expect(Math.abs(n - 10)).toBeLessThanOrEqual(1);
    // The gateway's log names the replica of each request.
    const logged = [1, 2, 3].map((i) => proc("three").stderr().split("\n").filter((l) => l.startsWith("[gateway] POST /v1/chat/completions 200 ok key=default -> replica " + i + " ")).length);
    expect(logged.reduce((a, b) => a + b, 0)).toBe(30);
    for (const n of logged) expect(Math.abs(n - 10)).toBeLessThanOrEqual(1);
  });

  test("Ctrl-C closes the gateway's listeners and every sidecar's and emulator's", async () => {
    const banner = bannerOf("three");
    expect(listeners(banner)).toHaveLength(2 + 3 * 3);
    await interruptAndCheck(proc("three"), listeners(banner));
  });
});

describe("npm run local --replica-start-delay-ms", () => {
  test("says requests are held until the emulators are ready; the pasted chat command is held, then served", async () => {
    procs.delayed = spawnLocal(["--port", "0", "--replica-start-delay-ms", "5000", "--token-delay-ms", "0"]);
    const text = await proc("delayed").banner();
    const banner = parseBanner(text);
    expect(text).toContain("The emulators turn ready 5000 ms after start, like vLLM pods loading the model: until then the\ngateway holds requests (up to 65 s");
    const started = performance.now();
    const pasted = paste(banner.commands[2], home);
    await eventually(async () => (await metric(banner.metricsUrl, "vllm_auth_held_requests")) === 1, 4_000, 100);
    const answered = await pasted;
    expect(answered.code).toBe(0);
    expectSeedCompletion(answered.stdout, SEED_MODEL, /^Hello! I'm LLaMA/);
    expect(performance.now() - started).toBeGreaterThan(500);
    expect(await metric(banner.metricsUrl, "vllm_auth_held_total", { outcome: "served" })).toBe(1);
    expect(await metric(banner.metricsUrl, "vllm_auth_held_requests")).toBe(0);
    // The log shows the order: the replica turned ready, then the held request was served.
    const log = proc("delayed").stderr();
    const ready = log.indexOf("[gateway] replica_ready replica 1");
    const served = log.indexOf("[gateway] POST /v1/chat/completions 200 ok key=default -> replica 1");
    expect(ready).toBeGreaterThan(-1);
    expect(served).toBeGreaterThan(ready);
    await interruptAndCheck(proc("delayed"), listeners(banner));
  }, 60_000);
});

describe("npm run local --keys alice,bob,carol,dave --limit carol:rpm=2 --limit dave:concurrency=1", () => {
  test("prints one key per name, each in the vllmauth_ format, with its limits", () => {
    const banner = bannerOf("keys");
    expect(Object.keys(banner.keys)).toEqual(["alice", "bob", "carol", "dave"]);
    for (const key of Object.values(banner.keys)) expect(key).toMatch(/^vllmauth_[A-Za-z0-9]{42}$/);
    expect(new Set(Object.values(banner.keys)).size).toBe(4);
    expect(proc("keys").stdout()).toMatch(/^ {2}key +carol +vllmauth_\S+ {3}\(rpm 2\)$/m);
    expect(proc("keys").stdout()).toMatch(/^ {2}key +dave +vllmauth_\S+ {3}\(concurrency 1\)$/m);
    expect(banner.token).toBe(banner.keys.alice);
  });

  test("the seed's commands work with alice's key and the printed command works with bob's; usage is metered per name", async () => {
    const banner = bannerOf("keys");
    const [, withoutToken, withToken] = banner.commands;
    expect((await paste(withoutToken, home)).stdout).toBe("Invalid authentication credentials");
    expectSeedCompletion((await paste(withToken, home)).stdout, SEED_MODEL, /^Hello! I'm LLaMA/);
    const bob = commandFor(banner, /^# The same chat completion with bob's key\.$/);
    expect(bob).toContain(`-H "Authorization: Bearer ${banner.keys.bob}"`);
    expectSeedCompletion((await paste(bob, home)).stdout, SEED_MODEL, /^Hello! I'm LLaMA/);
    const usage = (await paste(commandFor(banner, /^# Usage per key/), home)).stdout;
    for (const name of ["alice", "bob"]) {
      expect(usage).toMatch(new RegExp(`^vllm_auth_key_requests_total\\{key="${name}",route="chat_completions",status="200",role="gateway"\\} 1$`, "m"));
      expect(usage).toMatch(new RegExp(`^vllm_auth_key_completion_tokens_total\\{key="${name}",role="gateway"\\} 12$`, "m"));
    }
  });

  test("carol's printed loop shows two answers, then a 429 with retry-after, x-ratelimit-* headers and the error", async () => {
    const banner = bannerOf("keys");
    const loop = commandFor(banner, /^# carol has rpm 2: 3 requests one after the other/);
    const shown = await paste(loop, home);
    expect(shown.code).toBe(0);
    const out = lf(shown.stdout);
    expect(out.match(/^HTTP\/1\.1 \d+ .*$/gm)).toEqual(["HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 429 Too Many Requests"]);
    const refusal = out.slice(out.indexOf("HTTP/1.1 429"));
    expect(refusal).toMatch(/^retry-after: [1-9]\d*$/m);
    expect(refusal).toMatch(/^retry-after-ms: \d+$/m);
    expect(refusal).toMatch(/^x-ratelimit-limit-requests: 2$/m);
    expect(refusal).toMatch(/^x-ratelimit-remaining-requests: 0$/m);
    expect(refusal).toMatch(/^x-ratelimit-reset-requests: \S+$/m);
    expect(refusal).toContain('{"error":{"message":"Rate limit reached for key carol on requests per minute (limit 2).');
    // Nothing but status lines, rate-limit headers and the error is shown.
    for (const line of out.split("\n").filter((l) => l !== "")) expect(line).toMatch(/^(HTTP\/1\.1 |retry-after|x-ratelimit-|\{"error)/);
    expect(proc("keys").stderr()).toMatch(/^\[gateway\] POST \/v1\/chat\/completions 429 rate_limited\S* key=carol /m);
  });

  test("dave's printed batch sends two at once: one is served, the other gets 429 with retry-after", async () => {
    const banner = bannerOf("keys");
    const batch = commandFor(banner, /^# dave has concurrency 1: 2 requests at once/);
    const out = lf((await paste(batch, home)).stdout);
    expect((out.match(/^HTTP\/1\.1 \d+ .*$/gm) ?? []).sort()).toEqual(["HTTP/1.1 200 OK", "HTTP/1.1 429 Too Many Requests"]);
    expect(out).toMatch(/^retry-after: 1$/m);
    expect(out).toContain('{"error":{"message":"Rate limit reached for key dave on concurrent requests (limit 1).');
  });

  test("Ctrl-C stops it and removes the keys file", async () => {
    const banner = bannerOf("keys");
    await interruptAndCheck(proc("keys"), listeners(banner));
    expect(banner.keysFile).toBeDefined();
    expect(existsSync(path.dirname(banner.keysFile ?? ""))).toBe(false);
  });
});

describe("npm run local with bad --keys, --limit and --replicas", () => {
  test("a limit for a name not in --keys exits 2 and says which names to write", async () => {
    expect(await proc("unknownKey").exited).toEqual({ code: 2, signal: null });
    expect(proc("unknownKey").stderr()).toContain("npm run local: --limit bob:rpm=2: no key named bob (keys: alice); add it, e.g. --keys alice,bob");
    expect(proc("unknownKey").stdout()).not.toContain("Press Ctrl-C");
  });

  test("--replicas 0 exits 2 with the range and an example", async () => {
    expect(await proc("noReplicas").exited).toEqual({ code: 2, signal: null });
    expect(proc("noReplicas").stderr()).toContain('npm run local: --replicas: expected a whole number from 1 to 16, got "0"; write e.g. --replicas 3');
  });
});
