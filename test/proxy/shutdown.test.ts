/**
 * The bundled binary, `node proxy/dist/server.js`, as Kubernetes runs it: SIGTERM drains streams and
 * exits 0, the grace deadline cuts what is left, and a bad environment stops start-up with exit 2.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { VllmEmulator } from "../upstream/emulator";
import { TOKEN, bearer, chatBody, eventually, request } from "./harness";
import { buildBundle, bundleIsStale, freePorts, openStream, spawnProxy, tryConnect, type ProxyProcess } from "./support";

let dir: string;
let tokensFile: string;
const running = new Set<ProxyProcess>();

beforeAll(async () => {
  if (bundleIsStale()) await buildBundle();
  dir = mkdtempSync(path.join(os.tmpdir(), "vllm-auth-shutdown-"));
  tokensFile = path.join(dir, "tokens");
  writeFileSync(tokensFile, `${TOKEN}\n`);
}, 60_000);

afterEach(() => {
  for (const proxy of running) proxy.kill();
  running.clear();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Started {
  readonly proxy: ProxyProcess;
  readonly url: string;
  readonly port: number;
  readonly metricsUrl: string;
}

async function startBinary(upstream: VllmEmulator, env: Record<string, string> = {}): Promise<Started> {
  const [port, metricsPort] = await freePorts(2);
  const proxy = spawnProxy({
    UPSTREAM_URL: upstream.url,
    TOKENS_FILE: tokensFile,
    HOST: "127.0.0.1",
    PORT: String(port),
    METRICS_PORT: String(metricsPort),
    READY_POLL_MS: "100",
    ...env,
  });
  running.add(proxy);
  const listening = await proxy.waitForLog("listening");
  expect(listening).toMatchObject({ port, metrics_port: metricsPort });
  return { proxy, url: `http://127.0.0.1:${port}`, port, metricsUrl: `http://127.0.0.1:${metricsPort}` };
}

const streamRequest = (url: string, agent?: http.Agent) =>
  openStream(url, {
    path: "/v1/chat/completions",
    headers: { ...bearer(), "content-type": "application/json" },
    body: chatBody({ stream: true }),
    agent,
  });

/** The status of `path`, or the connection error code when the port no longer accepts. */
async function statusOrError(url: string, path: string): Promise<number | string> {
  try {
    return (await request(url, { path })).status;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? "error";
  }
}

describe("SIGTERM", () => {
  let upstream: VllmEmulator;
  beforeAll(async () => {
    upstream = new VllmEmulator({ quiet: true });
    await upstream.start();
  });
  afterAll(() => upstream.close());
  beforeEach(() => upstream.reset());

  test("turns unready, refuses new connections, lets the in-flight stream finish, then exits 0", async () => {
    upstream.setTokenDelay(60);
    const { proxy, url, port, metricsUrl } = await startBinary(upstream, { SHUTDOWN_GRACE_MS: "10000" });
    expect(await statusOrError(url, "/health")).toBe(200);

    const stream = await streamRequest(url);
    expect(stream.status).toBe(200);
    await stream.waitFor((text) => text.includes("data: {"));
    proxy.child.kill("SIGTERM");

    await eventually(async () => (await tryConnect(port)) === "ECONNREFUSED");
    expect([503, "ECONNREFUSED"]).toContain(await statusOrError(url, "/health"));
    expect(await statusOrError(metricsUrl, "/readyz")).toBe(503);
    expect(stream.text()).not.toContain("[DONE]");

    const end = await stream.done;
    expect(end.complete).toBe(true);
    expect(end.text.trimEnd().endsWith("data: [DONE]")).toBe(true);
    expect(end.text.match(/^data: \{/gm)?.length).toBe(14);

    const exit = await proxy.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(proxy.stdout()).toContain('"msg":"stopped","result":"drained"');
  });

  test("a keep-alive client's idle connection does not keep the drained proxy from exiting", async () => {
    upstream.setTokenDelay(20);
    const { proxy, url } = await startBinary(upstream, { SHUTDOWN_GRACE_MS: "10000" });
    const agent = new http.Agent({ keepAlive: true });
    try {
      const stream = await streamRequest(url, agent);
      await stream.waitFor((text) => text.includes("data: {"));
      proxy.child.kill("SIGTERM");
      const end = await stream.done;
      expect(end.text.trimEnd().endsWith("data: [DONE]")).toBe(true);
      const exit = await Promise.race([
        proxy.exited.then(({ code, signal }) => `exited with code ${code} (signal ${signal})`),
        new Promise<string>((resolve) => setTimeout(() => resolve("still running 3 s after its last stream ended"), 3000)),
      ]);
      expect(exit).toBe("exited with code 0 (signal null)");
    } finally {
      agent.destroy();
    }
  });

  test("at the grace deadline the remaining stream is cut, vLLM's request is closed, and the exit is 0", async () => {
    upstream.setTokenDelay(1000);
    const { proxy, url } = await startBinary(upstream, { SHUTDOWN_GRACE_MS: "300" });
    const stream = await streamRequest(url);
    await stream.waitFor((text) => text.includes("data: {"));
    const [upstreamRequest] = upstream.requests.filter((r) => r.headers["x-forwarded-proto"] !== undefined);
    expect(upstreamRequest.closedAt).toBeUndefined();

    const signalledAt = Date.now();
    proxy.child.kill("SIGTERM");
    const end = await stream.done;
    const cutAfter = Date.now() - signalledAt;
    expect(end.complete).toBe(false);
    expect(end.text).not.toContain("[DONE]");
    // Cut at the deadline, not before it (a little slack for timer coarseness).
    expect(cutAfter).toBeGreaterThanOrEqual(250);

    await upstream.waitForClose(upstreamRequest, 2000);
    const exit = await proxy.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.at - signalledAt).toBeLessThan(2000);
    expect(proxy.stdout()).toContain('"msg":"grace_deadline"');
  });
});

describe("the grace deadline is a deadline", () => {
  let upstream: VllmEmulator;
  beforeAll(async () => {
    upstream = new VllmEmulator({ quiet: true });
    await upstream.start();
  });
  afterAll(() => upstream.close());

  test("a client trickling its body one byte every 200 ms cannot hold the process past SHUTDOWN_GRACE_MS; the exit is 0", async () => {
    const { proxy, port } = await startBinary(upstream, { SHUTDOWN_GRACE_MS: "600" });
    const socket = net.connect(port, "127.0.0.1");
    socket.on("error", () => undefined);
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`);
    const trickle = setInterval(() => socket.write("a"), 200);
    const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now())));
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const signalledAt = Date.now();
      proxy.child.kill("SIGTERM");
      const exit = await proxy.exited;
      expect(exit).toMatchObject({ code: 0, signal: null });
      expect(exit.at - signalledAt).toBeLessThan(2000);
      expect((await closed) - signalledAt).toBeLessThan(2000);
      expect(proxy.stdout()).toContain('"msg":"grace_deadline"');
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  });

  test("connections with no request in progress close at SIGTERM, and with nothing running the exit comes at once", async () => {
    const { proxy, url, port } = await startBinary(upstream, { SHUTDOWN_GRACE_MS: "30000" });
    const agent = new http.Agent({ keepAlive: true });
    try {
      expect((await new Promise<number>((resolve, reject) => {
        http.get(`${url}/v1/models`, { agent }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        }).on("error", reject);
      }))).toBe(200);
      const idle = net.connect(port, "127.0.0.1");
      idle.on("error", () => undefined);
      await new Promise((resolve) => idle.once("connect", resolve));
      const idleClosed = new Promise<number>((resolve) => idle.once("close", () => resolve(Date.now())));
      const signalledAt = Date.now();
      proxy.child.kill("SIGTERM");
      const exit = await proxy.exited;
      expect(exit).toMatchObject({ code: 0, signal: null });
      expect(exit.at - signalledAt).toBeLessThan(1500);
      expect((await idleClosed) - signalledAt).toBeLessThan(1500);
      expect(proxy.stdout()).toContain('"msg":"stopped","result":"drained"');
    } finally {
      agent.destroy();
    }
  });
});

describe("start-up with a bad environment", () => {
  async function failedStart(env: Record<string, string>): Promise<ProxyProcess> {
    const [port, metricsPort] = await freePorts(2);
    const proxy = spawnProxy({ HOST: "127.0.0.1", PORT: String(port), METRICS_PORT: String(metricsPort), UPSTREAM_URL: "http://127.0.0.1:9", ...env });
    running.add(proxy);
    const exit = await proxy.exited;
    expect(exit).toMatchObject({ code: 2, signal: null });
    return proxy;
  }

  test("exits 2 naming every bad variable and what it expected", async () => {
    const proxy = await failedStart({ PORT: "abc", REDIRECT_TO: "https://llm.example.com", MAX_BODY_BYTES: "-1" });
    const stderr = proxy.stderr();
    expect(stderr).toContain('PORT="abc": expected a whole number from 0 to 65535');
    expect(stderr).toContain("TOKENS_FILE is required");
    expect(stderr).toMatch(/REDIRECT_PORT and REDIRECT_TO: set both/);
    expect(stderr).toContain('MAX_BODY_BYTES="-1": expected a whole number from 1 to');
    expect(proxy.stdout()).not.toContain('"msg":"listening"');
  });

  test("a tokens file with no tokens exits 2 naming the file", async () => {
    const file = path.join(dir, "empty-tokens");
    writeFileSync(file, "# nothing here yet\n\n   \n");
    const proxy = await failedStart({ TOKENS_FILE: file });
    expect(proxy.stderr()).toContain(`${file}: no tokens`);
  });

  test("a missing tokens file exits 2 naming the file", async () => {
    const file = path.join(dir, "does-not-exist");
    const proxy = await failedStart({ TOKENS_FILE: file });
    expect(proxy.stderr()).toContain(`TOKENS_FILE ${file} cannot be read`);
  });

  test("a short token exits 2 naming the file and line, without printing the token", async () => {
    const file = path.join(dir, "short-tokens");
    const short = "short-secret-7";
    writeFileSync(file, `# rotated 2026-11\n${TOKEN}\n${short}\n`);
    const proxy = await failedStart({ TOKENS_FILE: file });
    expect(proxy.stderr()).toContain(`${file}:3: a token must be at least 16 characters long`);
    for (const output of [proxy.stderr(), proxy.stdout()]) {
      expect(output).not.toContain(short);
      expect(output).not.toContain(TOKEN);
    }
  });
});
