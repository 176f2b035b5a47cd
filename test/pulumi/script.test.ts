import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const SCRIPT = path.resolve(__dirname, "../../scripts/pulumi.sh");
const roots: string[] = [];

afterAll(() => {
  for (const root of roots) {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

/** A throwaway project folder with the script, and a stub `pulumi` that logs every call. */
function sandbox(opts: { whoami?: "fail" | string; policyPack?: boolean } = {}) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-sh-"));
  roots.push(root);
  fs.mkdirSync(path.join(root, "scripts"));
  fs.copyFileSync(SCRIPT, path.join(root, "scripts", "pulumi.sh"));
  if (opts.policyPack) {
    fs.mkdirSync(path.join(root, "infra", "policy"), { recursive: true });
    fs.writeFileSync(path.join(root, "infra", "policy", "PulumiPolicy.yaml"), "runtime: nodejs\n");
  }
  const bin = path.join(root, "bin");
  fs.mkdirSync(bin);
  const log = path.join(root, "calls.log");
  const whoami = opts.whoami ?? "fail";
  fs.writeFileSync(
    path.join(bin, "pulumi"),
    [
      "#!/usr/bin/env bash",
      `echo "$* | backend=\${PULUMI_BACKEND_URL:-} | passfile=\${PULUMI_CONFIG_PASSPHRASE_FILE:-} | pass=\${PULUMI_CONFIG_PASSPHRASE-unset}" >> ${JSON.stringify(log)}`,
      'if [ "$1" = whoami ]; then',
      whoami === "fail" ? "  echo 'error: not logged in' >&2; exit 255" : `  printf 'User: me\\nBackend URL: %s\\n' ${JSON.stringify(whoami)}`,
      "fi",
      "exit 0",
    ].join("\n"),
    { mode: 0o755 },
  );
  const run = (args: string[], env: Record<string, string> = {}) => {
    const result = spawnSync("bash", [path.join(root, "scripts", "pulumi.sh"), ...args], {
      encoding: "utf8",
      env: { PATH: `${bin}:/usr/bin:/bin`, HOME: root, CI: "true", ...env },
    });
    const calls = fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : [];
    fs.rmSync(log, { force: true });
    return { status: result.status, stderr: result.stderr, calls };
  };
  return { root, bin, run };
}

describe("scripts/pulumi.sh", () => {
  test("without the CLI it says how to install it or run it through npx, and exits 127", () => {
    const { run } = sandbox();
    const { status, stderr, calls } = run(["up"], { PULUMI_CLI: "pulumi-cli-that-is-not-installed" });
    expect(status).toBe(127);
    expect(stderr).toContain("the Pulumi CLI was not found");
    expect(stderr).toContain("curl -fsSL https://get.pulumi.com | sh");
    expect(stderr).toContain('PULUMI_CLI="npx --yes pulumi" npm run deploy');
    expect(calls).toEqual([]);
  });

  test("not logged in: local file backend in .pulumi-state, a generated passphrase, dev stack created, up without prompts", () => {
    const { root, run } = sandbox();
    const { status, calls } = run(["up"]);
    expect(status).toBe(0);
    const state = path.join(root, ".pulumi-state");
    const passfile = path.join(state, "passphrase");
    expect(calls[0]).toMatch(/^whoami --verbose --non-interactive \| backend= /);
    expect(calls[1]).toBe(`stack select dev --create --non-interactive | backend=file://${state} | passfile=${passfile} | pass=unset`);
    expect(calls[2]).toBe(`up --yes --non-interactive | backend=file://${state} | passfile=${passfile} | pass=unset`);
    expect(fs.statSync(passfile).mode & 0o777).toBe(0o600);
    const passphrase = fs.readFileSync(passfile, "utf8");
    expect(passphrase).toMatch(/^[0-9a-f]{64}$/);
    // The same passphrase on every later run, or the stack's secrets could not be read again.
    run(["preview"]);
    expect(fs.readFileSync(passfile, "utf8")).toBe(passphrase);
  });

  test("logged in to Pulumi Cloud: its backend and secrets, no local state, no passphrase", () => {
    const { root, run } = sandbox({ whoami: "https://app.pulumi.com/me" });
    const { status, calls } = run(["up", "--diff"]);
    expect(status).toBe(0);
    expect(calls.slice(1)).toEqual([
      "stack select dev --create --non-interactive | backend= | passfile= | pass=unset",
      "up --diff --yes --non-interactive | backend= | passfile= | pass=unset",
    ]);
    expect(fs.existsSync(path.join(root, ".pulumi-state"))).toBe(false);
  });

  test("a self-managed backend without a passphrase fails at once in CI instead of prompting", () => {
    const { run } = sandbox({ whoami: "s3://team-state" });
    const failed = run(["up"]);
    expect(failed.status).toBe(2);
    expect(failed.stderr).toContain("set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE");
    expect(failed.calls).toHaveLength(1);
    const ok = run(["up"], { PULUMI_CONFIG_PASSPHRASE: "" });
    expect(ok.status).toBe(0);
    expect(ok.calls[2]).toBe("up --yes --non-interactive | backend= | passfile= | pass=");
  });

  test("preview runs the policy pack when infra/policy has one, and not otherwise", () => {
    const withPack = sandbox({ policyPack: true, whoami: "https://app.pulumi.com/me" }).run(["preview"]);
    expect(withPack.calls[2]).toMatch(/^preview --policy-pack infra\/policy --non-interactive \|/);
    const without = sandbox({ whoami: "https://app.pulumi.com/me" }).run(["preview"]);
    expect(without.calls[2]).toMatch(/^preview --non-interactive \|/);
  });

  test("destroy never adds --yes by itself; PULUMI_STACK picks the stack; other commands pass through", () => {
    const { run } = sandbox({ whoami: "https://app.pulumi.com/me" });
    const destroy = run(["destroy"], { PULUMI_STACK: "prod" });
    expect(destroy.calls.slice(1).map((c) => c.split(" | ")[0])).toEqual([
      "stack select prod --create --non-interactive",
      "destroy --non-interactive",
    ]);
    const output = run(["stack", "output", "endpoint"]);
    expect(output.calls[2].split(" | ")[0]).toBe("stack output endpoint");
  });

  test("PULUMI_CLI may be a command with arguments, such as npx --yes pulumi", () => {
    const { run } = sandbox({ whoami: "https://app.pulumi.com/me" });
    const { status, calls } = run(["preview"], { PULUMI_CLI: "env pulumi" });
    expect(status).toBe(0);
    expect(calls.map((c) => c.split(" | ")[0])).toEqual([
      "whoami --verbose --non-interactive",
      "stack select dev --create --non-interactive",
      "preview --non-interactive",
    ]);
  });
});
