import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { OTHER_TOKEN, TOKEN, bearer, chatBody, eventually, request, startStack, type Stack } from "./harness";

const NEW_TOKEN = "tok_rotated_ABCDEFGHIJKLMNOPQRSTUVWX";

const status = (stack: Stack, token: string) =>
  request(stack.url, {
    method: "POST",
    path: "/v1/chat/completions",
    headers: { "content-type": "application/json", ...bearer(token) },
    body: chatBody(),
  }).then((r) => r.status);

describe("token file reload", () => {
  let stack: Stack;
  beforeEach(async () => {
    stack = await startStack({ tokens: [TOKEN] });
  });
  afterEach(() => stack.close());

  test("rotation: add a token, both work, retire the old one, it fails within the poll interval, no restart", async () => {
    writeFileSync(stack.tokensFile, `${TOKEN}\n${NEW_TOKEN}\n`);
    await eventually(async () => (await status(stack, NEW_TOKEN)) === 200);
    expect(await status(stack, TOKEN)).toBe(200);
    writeFileSync(stack.tokensFile, `${NEW_TOKEN}\n`);
    const retiredAt = Date.now();
    await eventually(async () => (await status(stack, TOKEN)) === 401, 2000);
    // TOKENS_POLL_MS is 100 in the harness; file events usually beat it.
    expect(Date.now() - retiredAt).toBeLessThan(1500);
    expect(await status(stack, NEW_TOKEN)).toBe(200);
    expect(stack.logs.some((l) => l.msg === "tokens_reloaded" && l.count === 1)).toBe(true);
  });

  test("the new token never fails while the file is rewritten under load", async () => {
    writeFileSync(stack.tokensFile, `${TOKEN}\n${NEW_TOKEN}\n`);
    await eventually(async () => (await status(stack, NEW_TOKEN)) === 200);
    const results: number[] = [];
    const load = (async () => {
      for (let i = 0; i < 40; i++) results.push(await status(stack, NEW_TOKEN));
    })();
    for (let i = 0; i < 10; i++) {
      writeFileSync(stack.tokensFile, i % 2 === 0 ? `${NEW_TOKEN}\n` : `${NEW_TOKEN}\n${TOKEN}\n`);
      await new Promise((r) => setTimeout(r, 15));
    }
    await load;
    expect(results.every((s) => s === 200)).toBe(true);
  });

  test.each([
    ["empty", ""],
    ["only comments and blanks", "# nothing here\n\n   \n"],
    ["a token with a space", "tok with spaces inside it 1234567\n"],
    ["a token that is too short", "short\n"],
  ])("a file that becomes %s keeps the last good set and logs why without the token", async (_label, text) => {
    writeFileSync(stack.tokensFile, text);
    await eventually(() => stack.logs.some((l) => l.msg === "tokens_reload_failed"));
    expect(await status(stack, TOKEN)).toBe(200);
    // A blank line never becomes a token that matches an empty credential.
    expect(await status(stack, "")).toBe(401);
    const failure = stack.logs.find((l) => l.msg === "tokens_reload_failed");
    expect(String(failure?.reason)).toContain("keeping the last good credentials");
    expect(stack.logText()).not.toContain(TOKEN);
  });

  test("a file that becomes unreadable keeps the last good set", async () => {
    if (process.getuid?.() === 0) {
      // root reads any file: simulate unreadable by removing it instead.
      unlinkSync(stack.tokensFile);
    } else {
      chmodSync(stack.tokensFile, 0o000);
    }
    await eventually(() => stack.logs.some((l) => l.msg === "tokens_reload_failed"));
    expect(await status(stack, TOKEN)).toBe(200);
    writeFileSync(stack.tokensFile, `${OTHER_TOKEN}\n`);
    await eventually(async () => (await status(stack, OTHER_TOKEN)) === 200);
    expect(await status(stack, TOKEN)).toBe(401);
  });
});

describe("Kubernetes Secret volume layout", () => {
  test("the kubelet's atomic ..data symlink swap is picked up", async () => {
    // The kubelet's layout: tokens -> ..data/tokens, ..data -> ..<timestamp>/, swapped by rename.
    const mount = mkdtempSync(path.join(os.tmpdir(), "vllm-auth-secret-"));
    const first = path.join(mount, "..2026_01_01_00_00_00.1");
    mkdirSync(first);
    writeFileSync(path.join(first, "tokens"), `${TOKEN}\n`);
    symlinkSync("..2026_01_01_00_00_00.1", path.join(mount, "..data"));
    symlinkSync("..data/tokens", path.join(mount, "tokens"));
    const mounted = await startStack({ env: { TOKENS_FILE: path.join(mount, "tokens") } });
    try {
      expect(await status(mounted, TOKEN)).toBe(200);
      const second = path.join(mount, "..2026_01_01_00_05_00.2");
      mkdirSync(second);
      writeFileSync(path.join(second, "tokens"), `${NEW_TOKEN}\n`);
      symlinkSync("..2026_01_01_00_05_00.2", path.join(mount, "..data_tmp"));
      renameSync(path.join(mount, "..data_tmp"), path.join(mount, "..data"));
      await eventually(async () => (await status(mounted, NEW_TOKEN)) === 200);
      expect(await status(mounted, TOKEN)).toBe(401);
    } finally {
      await mounted.close();
      rmSync(mount, { recursive: true, force: true });
    }
  });
});
