/** The pieces of `npm run local` below the CLI: token files, port choice, the printed commands, the log format. */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { loadConfig, type ProxyConfig } from "../../proxy/src/config";
import { isWellFormedKey, keyDigest } from "../../proxy/src/keys/format";
import { parseKeysFile } from "../../proxy/src/keys/keysFile";
import { createLogger } from "../../proxy/src/log";
import { parseArgs, UsageError } from "../../scripts/local/args";
import { chatJson, limitCommand, limitDemo, renderBanner, seedCommands, shellQuote, TPM_DEMO_MAX_REQUESTS, type BannerInput } from "../../scripts/local/banner";
import { createCredentials, generateKey } from "../../scripts/local/credentials";
import { formatLog } from "../../scripts/local/logger";
import { choosePort, endpointHost, PortError } from "../../scripts/local/ports";
import { startGateway } from "../../scripts/local/run";
import { generateToken, readTokenFile } from "../../scripts/local/tokens";
import { modelIds } from "../../scripts/local/upstream";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "vllm-auth-local-parts-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("credentials", () => {
  test("generated keys are in the project's format (prefix, base62, checksum) and never repeat", () => {
    const keys = new Set(Array.from({ length: 100 }, generateKey));
    expect(keys.size).toBe(100);
    for (const key of keys) {
      expect(key).toMatch(/^vllmauth_[A-Za-z0-9]{42}$/);
      expect(isWellFormedKey(key)).toBe(true);
    }
  });

  test("the internal credential is 43 URL-safe characters and never repeats", () => {
    const tokens = new Set(Array.from({ length: 100 }, generateToken));
    expect(tokens.size).toBe(100);
    for (const token of tokens) expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  test("a key per name: the keys file (0600, in a 0700 directory) holds names, digests and limits, never a key; remove() deletes it all", () => {
    const credentials = createCredentials([{ name: "alice" }, { name: "bob", limits: { rpm: 2, concurrency: 1 } }], undefined);
    expect(credentials.keys.map((k) => k.name)).toEqual(["alice", "bob"]);
    const file = credentials.keysFile ?? "";
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(credentials.internalTokenFile).mode & 0o777).toBe(0o600);
    expect(statSync(credentials.dir).mode & 0o777).toBe(0o700);
    const text = readFileSync(file, "utf8");
    for (const { key } of credentials.keys) expect(text).not.toContain(key);
    expect(parseKeysFile(text, file)).toEqual([
      { name: "alice", sha256: keyDigest(credentials.keys[0].key) },
      { name: "bob", sha256: keyDigest(credentials.keys[1].key), limits: { rpm: 2, concurrency: 1 } },
    ]);
    expect(readFileSync(credentials.internalTokenFile, "utf8")).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
    credentials.remove();
    credentials.remove();
    expect(() => statSync(credentials.dir)).toThrow();
  });

  test("--token-file alone: no keys file, the user's file is read and left alone on remove()", () => {
    const file = path.join(dir, "mine.txt");
    writeFileSync(file, "first_token_0123456789abcdef\n");
    const credentials = createCredentials([], file);
    expect(credentials.keysFile).toBeUndefined();
    expect(credentials.tokens).toEqual({ token: "first_token_0123456789abcdef", file, count: 1 });
    credentials.remove();
    expect(readFileSync(file, "utf8")).toContain("first_token_0123456789abcdef");
  });

  test("a bad --token-file is refused before any temporary file is written", () => {
    expect(() => createCredentials([{ name: "default" }], path.join(dir, "absent.txt"))).toThrow(UsageError);
  });

});

describe("--token-file", () => {
  test("the first token is shown, comments and blank lines are skipped", () => {
    const file = path.join(dir, "ok.txt");
    writeFileSync(file, "# comment\n\nfirst_token_0123456789abcdef\nsecond_token_0123456789abcdef\n");
    expect(readTokenFile(file)).toMatchObject({ token: "first_token_0123456789abcdef", count: 2, file });
  });

  test.each([
    ["missing.txt", undefined, "no such file"],
    ["empty.txt", "# nothing here\n", "no tokens"],
    ["short.txt", "short\n", "at least 16 characters"],
    ["spaces.txt", "has a space 0123456789\n", "printable ASCII with no spaces"],
  ])("%s is a usage error: %s", (name, content, message) => {
    const file = path.join(dir, name);
    if (content !== undefined) writeFileSync(file, content);
    expect(() => readTokenFile(file)).toThrow(UsageError);
    expect(() => readTokenFile(file)).toThrow(message);
  });

  test("a directory is a usage error", () => {
    expect(() => readTokenFile(dir)).toThrow("not a regular file");
  });
});

describe("ports", () => {
  let busy: net.Server;
  let busyPort: number;
  beforeAll(async () => {
    busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    busyPort = (busy.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => busy.close(() => resolve())));

  test("a taken default falls back to a free port, with a note saying so", async () => {
    const choice = await choosePort(undefined, busyPort, "127.0.0.1", "--port");
    expect(choice.port).not.toBe(busyPort);
    expect(choice.port).toBeGreaterThan(0);
    expect(choice.note).toBe(`port ${busyPort} is in use (EADDRINUSE), so the API uses ${choice.port}; pass --port N to choose`);
  });

  test("a taken port the user named is an error that says what to do", async () => {
    await expect(choosePort(busyPort, 8080, "127.0.0.1", "--port")).rejects.toThrow(PortError);
    await expect(choosePort(busyPort, 8080, "127.0.0.1", "--port")).rejects.toThrow(
      `--port ${busyPort}: port ${busyPort} on 127.0.0.1 is in use; pick another, or --port 0 for any free port`,
    );
  });

  test("0 resolves to a concrete free port before the proxy starts", async () => {
    const choice = await choosePort(0, 8080, "127.0.0.1", "--redirect-port");
    expect(choice.port).toBeGreaterThan(0);
    expect(choice.note).toBeUndefined();
    expect((await choosePort(undefined, 0, "127.0.0.1", "--port")).port).toBeGreaterThan(0);
  });

  test("a port picked for the gateway that another process takes before the gateway listens is picked again", async () => {
    const command = parseArgs(["--port", "0"]);
    if (command.kind !== "run") throw new Error("expected a run");
    const credentials = createCredentials([{ name: "alice" }], undefined);
    const takers: net.Server[] = [];
    const offered: number[] = [];
    const configFor = (apiPort: number): ProxyConfig => {
      offered.push(apiPort);
      // Between the choice and the listen, as a client socket or another test's server would.
      if (offered.length === 1) takers.push(net.createServer().listen(apiPort, "127.0.0.1"));
      return loadConfig({
        ROLE: "gateway",
        KEYS_FILE: credentials.keysFile ?? "",
        INTERNAL_TOKEN_FILE: credentials.internalTokenFile,
        REPLICAS: "http://127.0.0.1:9",
        HOST: "127.0.0.1",
        PORT: String(apiPort),
        METRICS_PORT: "0",
      });
    };
    let started: Awaited<ReturnType<typeof startGateway>> | undefined;
    try {
      started = await startGateway(command.options, configFor, createLogger(() => undefined));
      expect(offered).toHaveLength(2);
      expect(started.api.port).toBe(offered[1]);
      expect(started.gateway.port).toBe(offered[1]);
    } finally {
      await started?.gateway.shutdown(0);
      for (const taker of takers) taker.close();
      credentials.remove();
    }
  });

  test("endpoint hosts: wildcards become loopback, IPv6 gets brackets", () => {
    expect(endpointHost("127.0.0.1")).toBe("127.0.0.1");
    expect(endpointHost("0.0.0.0")).toBe("127.0.0.1");
    expect(endpointHost("::")).toBe("[::1]");
    expect(endpointHost("::1")).toBe("[::1]");
    expect(endpointHost("localhost")).toBe("localhost");
  });
});

describe("printed commands", () => {
  test("the model is JSON-escaped and the body shell-quoted", () => {
    expect(chatJson('odd"model')).toBe('{"model": "odd\\"model", "messages": [{"role": "user", "content": "Who are you?"}]}');
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });

  test("a token the shell would expand inside double quotes is single-quoted instead", () => {
    const plain = seedCommands("127.0.0.1:8080", "abcDEF_123-xyz0123456789", "m", false);
    expect(plain.withToken).toContain('-H "Authorization: Bearer abcDEF_123-xyz0123456789" \\');
    const odd = seedCommands("127.0.0.1:8080", "tok$en`with!shell'chars", "m", false);
    expect(odd.withToken).toContain(`-H 'Authorization: Bearer tok$en\`with!shell'\\''chars' \\`);
    expect(odd.followWithToken).toBeUndefined();
  });

  const KEY_A = `vllmauth_${"a".repeat(42)}`;
  const KEY_B = `vllmauth_${"b".repeat(42)}`;
  const input: BannerInput = {
    servers: "its own vLLM emulator (no GPU; answers like vLLM)",
    model: "m",
    endpoint: "127.0.0.1:8080",
    metricsUrl: "http://127.0.0.1:9999/metrics",
    replicas: [
      { index: 1, sidecar: "127.0.0.1:7001", sidecarMetricsUrl: "http://127.0.0.1:7101/metrics", upstream: "emulator http://127.0.0.1:7201" },
      { index: 2, sidecar: "127.0.0.1:7002", sidecarMetricsUrl: "http://127.0.0.1:7102/metrics", upstream: "emulator http://127.0.0.1:7202" },
    ],
    keys: [{ name: "alice", key: KEY_A }],
    keysFile: "/tmp/k/keys.json",
    startDelayMs: 0,
    holdTimeoutMs: 60_000,
    allInterfaces: false,
    notes: [],
  };

  test("the banner names the redirect listener and points the SDK hint at the API port", () => {
    const text = renderBanner({ ...input, redirectEndpoint: "127.0.0.1:8081", notes: ["port 8080 is in use"] });
    expect(text).toContain("  redirect   127.0.0.1:8081   (308 to http://127.0.0.1:8080, like the cluster's port 80)");
    expect(text).toContain("  note       port 8080 is in use");
    expect(text).toContain("curl -L http://127.0.0.1:8081/v1/models\n");
    expect(text).toContain("export OPENAI_BASE_URL=http://127.0.0.1:8080/v1\n");
  });

  test("the banner shows the topology: the gateway, then each replica's sidecar and emulator", () => {
    const text = renderBanner(input);
    expect(text).toContain("vllm-auth local: a gateway in front of 2 replicas, each a sidecar in front of its own vLLM emulator");
    expect(text).toContain("  replica 2  sidecar 127.0.0.1:7002 -> emulator http://127.0.0.1:7202   (sidecar metrics http://127.0.0.1:7102/metrics)");
    expect(text).not.toContain("The emulators turn ready");
  });

  test("late replicas: a line says requests are held until they are ready, and for how long at most", () => {
    const text = renderBanner({ ...input, startDelayMs: 5000, holdTimeoutMs: 65_000 });
    expect(text).toContain("The emulators turn ready 5000 ms after start");
    expect(text).toContain("gateway holds requests (up to 65 s, then 503 with Retry-After)");
  });

  test("the first key goes into the seed's commands and the SDK hint; every other key gets its own completion command", () => {
    const text = renderBanner({ ...input, keys: [{ name: "alice", key: KEY_A }, { name: "bob", key: KEY_B, limits: { rpm: 2 } }] });
    expect(text).toContain(`  key        alice  ${KEY_A}\n`);
    expect(text).toContain(`  key        bob    ${KEY_B}   (rpm 2)\n`);
    expect(text).toContain("ready to paste with the key alice:");
    expect(text).toContain(`# The same chat completion with bob's key.\ncurl --location-trusted http://127.0.0.1:8080/v1/chat/completions \\\n    -H "Authorization: Bearer ${KEY_B}"`);
    expect(text).toContain(`export OPENAI_API_KEY=${KEY_A}\n`);
  });

  test("--token-file alone: the first token in the seed's commands, no key lines", () => {
    const text = renderBanner({ ...input, keys: [], keysFile: undefined, tokens: { token: "t".repeat(20), file: "/home/u/tokens.txt", count: 2 } });
    expect(text).toContain(`  token      ${"t".repeat(20)}\n`);
    expect(text).toContain("  tokens     /home/u/tokens.txt   (2 token(s), accepted by the gateway (TOKENS_FILE)");
    expect(text).not.toContain("  key  ");
    expect(text).toContain(`export OPENAI_API_KEY=${"t".repeat(20)}\n`);
  });

  test.each([
    [{ rpm: 2 }, { limit: "rpm", requests: 3 }],
    [{ rpm: 5, concurrency: 1, tpm: 10 }, { limit: "rpm", requests: 6 }],
    [{ concurrency: 2, tpm: 10 }, { limit: "concurrency", requests: 3 }],
    [{ tpm: 40 }, { limit: "tpm", requests: 41 }],
    [{ tpm: 100_000 }, { limit: "tpm", requests: TPM_DEMO_MAX_REQUESTS }],
  ])("a key with %j is shown running into %j", (limits, demo) => {
    expect(limitDemo(limits)).toEqual(demo);
  });

  test("the limit demonstrations: a loop that stops at the first 429, and a batch at once for concurrency", () => {
    const rpm = limitCommand("127.0.0.1:8080", { name: "bob", key: KEY_B, limits: { rpm: 2 } }, "m") ?? "";
    expect(rpm.split("\n")[0]).toBe("for i in $(seq 1 3); do");
    expect(rpm).toContain(`  answer=$(curl -s -i http://127.0.0.1:8080/v1/chat/completions \\\n      -H "Authorization: Bearer ${KEY_B}" \\`);
    expect(rpm).toContain(`'{"model": "m", "messages": [{"role": "user", "content": "Who are you?"}]}')\n`);
    expect(rpm).toContain('case $answer in "HTTP/1.1 429"*) break ;; esac\ndone');
    const concurrency = limitCommand("127.0.0.1:8080", { name: "bob", key: KEY_B, limits: { concurrency: 1 } }, "m") ?? "";
    expect(concurrency.split("\n")[0]).toBe("( for i in $(seq 1 2); do");
    expect(concurrency.endsWith("&\ndone; wait )")).toBe(true);
    expect(limitCommand("127.0.0.1:8080", { name: "alice", key: KEY_A }, "m")).toBeUndefined();
  });
});

test("model ids come from an OpenAI list and anything else gives none", () => {
  expect(modelIds('{"object":"list","data":[{"id":"a"},{"id":"b"},{"x":1}]}')).toEqual(["a", "b"]);
  expect(modelIds("404 page not found")).toEqual([]);
  expect(modelIds('{"data":{}}')).toEqual([]);
});

test("log lines: requests read like an access log with the key and the replica by name, other events as key=value", () => {
  const gateway = { label: "gateway", replicaNames: new Map([["http://127.0.0.1:7002", "replica 2"]]) };
  expect(formatLog(gateway, "info", "request", { method: "POST", path: "/v1/chat/completions", status: 401, outcome: "auth_missing", duration_ms: 1.5 })).toBe(
    "[gateway] POST /v1/chat/completions 401 auth_missing 1.5 ms",
  );
  expect(
    formatLog(gateway, "info", "request", {
      method: "POST",
      path: "/v1/chat/completions",
      status: 200,
      outcome: "ok",
      key: "alice",
      replica: "http://127.0.0.1:7002",
      duration_ms: 245.5,
      upstream_ms: 244.9,
      prompt_tokens: 13,
      completion_tokens: 12,
    }),
  ).toBe("[gateway] POST /v1/chat/completions 200 ok key=alice -> replica 2 245.5 ms (upstream 244.9 ms) 13+12 tokens");
  expect(formatLog(gateway, "info", "request", { listener: "redirect", method: "GET", path: "/v1/models", status: 308, bytes_out: 10 })).toBe(
    "[gateway] (redirect) GET /v1/models 308",
  );
  expect(formatLog(gateway, "info", "replica_ready", { replica: "http://127.0.0.1:7002" })).toBe("[gateway] replica_ready replica 2 (http://127.0.0.1:7002)");
  expect(formatLog({ label: "replica 1" }, "warn", "tokens_reload_failed", { reason: "no tokens", skipped: undefined })).toBe(
    "[replica 1] warn tokens_reload_failed reason=no tokens",
  );
});
