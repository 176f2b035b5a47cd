/** The pieces of `npm run local` below the CLI: token files, port choice, the printed commands, the log format. */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { UsageError } from "../../scripts/local/args";
import { chatJson, renderBanner, seedCommands, shellQuote } from "../../scripts/local/banner";
import { formatLog } from "../../scripts/local/logger";
import { choosePort, endpointHost, PortError } from "../../scripts/local/ports";
import { createTemporaryTokens, generateToken, readTokenFile } from "../../scripts/local/tokens";
import { modelIds } from "../../scripts/local/upstream";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "vllm-auth-local-parts-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("tokens", () => {
  test("generated tokens are 43 URL-safe characters and never repeat", () => {
    const tokens = new Set(Array.from({ length: 100 }, generateToken));
    expect(tokens.size).toBe(100);
    for (const token of tokens) expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  test("the temporary file is 0600 in a 0700 directory, holds the token, and goes away on remove()", () => {
    const source = createTemporaryTokens();
    expect(statSync(source.file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(source.file)).mode & 0o777).toBe(0o700);
    expect(readFileSync(source.file, "utf8").split("\n")).toContain(source.token);
    source.remove();
    source.remove();
    expect(() => statSync(path.dirname(source.file))).toThrow();
  });

  test("--token-file: the first token is shown, comments and blank lines are skipped", () => {
    const file = path.join(dir, "ok.txt");
    writeFileSync(file, "# comment\n\nfirst_token_0123456789abcdef\nsecond_token_0123456789abcdef\n");
    expect(readTokenFile(file)).toMatchObject({ token: "first_token_0123456789abcdef", count: 2, temporary: false, file });
  });

  test.each([
    ["missing.txt", undefined, "no such file"],
    ["empty.txt", "# nothing here\n", "no tokens"],
    ["short.txt", "short\n", "at least 16 characters"],
    ["spaces.txt", "has a space 0123456789\n", "printable ASCII with no spaces"],
  ])("--token-file %s is a usage error: %s", (name, content, message) => {
    const file = path.join(dir, name);
    if (content !== undefined) writeFileSync(file, content);
    expect(() => readTokenFile(file)).toThrow(UsageError);
    expect(() => readTokenFile(file)).toThrow(message);
  });

  test("--token-file pointing at a directory is a usage error", () => {
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

  test("the banner names the redirect listener and points the SDK hint at the API port", () => {
    const text = renderBanner({
      upstream: "x",
      model: "m",
      endpoint: "127.0.0.1:8080",
      redirectEndpoint: "127.0.0.1:8081",
      metricsUrl: "http://127.0.0.1:9999/metrics",
      token: "t".repeat(43),
      tokenFile: "/tmp/t",
      tokenCount: 1,
      temporaryTokenFile: true,
      allInterfaces: false,
      notes: ["port 8080 is in use"],
    });
    expect(text).toContain("  redirect   127.0.0.1:8081   (308 to http://127.0.0.1:8080, like the cluster's port 80)");
    expect(text).toContain("  note       port 8080 is in use");
    expect(text).toContain("curl -L http://127.0.0.1:8081/v1/models\n");
    expect(text).toContain("export OPENAI_BASE_URL=http://127.0.0.1:8080/v1\n");
  });
});

test("model ids come from an OpenAI list and anything else gives none", () => {
  expect(modelIds('{"object":"list","data":[{"id":"a"},{"id":"b"},{"x":1}]}')).toEqual(["a", "b"]);
  expect(modelIds("404 page not found")).toEqual([]);
  expect(modelIds('{"data":{}}')).toEqual([]);
});

test("proxy log lines: requests read like an access log, other events as key=value", () => {
  expect(formatLog("info", "request", { method: "POST", path: "/v1/chat/completions", status: 401, outcome: "auth_missing", duration_ms: 1.5 })).toBe(
    "[proxy] POST /v1/chat/completions 401 auth_missing 1.5 ms",
  );
  expect(formatLog("info", "request", { listener: "redirect", method: "GET", path: "/v1/models", status: 308, bytes_out: 10 })).toBe(
    "[proxy] (redirect) GET /v1/models 308",
  );
  expect(formatLog("warn", "tokens_reload_failed", { reason: "no tokens", skipped: undefined })).toBe("[proxy] warn tokens_reload_failed reason=no tokens");
});
