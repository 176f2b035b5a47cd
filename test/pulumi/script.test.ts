import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "../..");
const SCRIPT = path.join(ROOT, "scripts", "pulumi.sh");
const SDK_VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> })
  .dependencies["@pulumi/pulumi"];
const roots: string[] = [];

afterAll(() => {
  for (const root of roots) {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

interface SandboxOptions {
  /** What `pulumi whoami` answers: a backend URL, or a failure with this message. */
  whoami?: string | { fail: string };
  /** What `pulumi version` answers: a failure with this message (a CLI that cannot start, a failed download). */
  versionFails?: string;
  /** The `current` backend of ~/.pulumi/credentials.json: the user's `pulumi login`. */
  loggedInTo?: string;
  policyPack?: boolean;
}

/** A throwaway copy of the project's entry files with the script, and stub `pulumi` and `npx` that log every call. */
function sandbox(opts: SandboxOptions = {}) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-sh-"));
  roots.push(root);
  fs.mkdirSync(path.join(root, "scripts"));
  fs.copyFileSync(SCRIPT, path.join(root, "scripts", "pulumi.sh"));
  fs.copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(root, "Pulumi.yaml"));
  fs.copyFileSync(path.join(ROOT, "package.json"), path.join(root, "package.json"));
  if (opts.policyPack) {
    fs.mkdirSync(path.join(root, "infra", "policy"), { recursive: true });
    fs.writeFileSync(path.join(root, "infra", "policy", "PulumiPolicy.yaml"), "runtime: nodejs\n");
  }
  const home = path.join(root, "home");
  fs.mkdirSync(home);
  if (opts.loggedInTo !== undefined) {
    fs.mkdirSync(path.join(home, ".pulumi"));
    const credentials = { current: opts.loggedInTo, accessTokens: { [opts.loggedInTo]: "pul-0123" }, accounts: {} };
    fs.writeFileSync(path.join(home, ".pulumi", "credentials.json"), JSON.stringify(credentials, null, "    "));
  }
  const bin = path.join(root, "bin");
  fs.mkdirSync(bin);
  const log = path.join(root, "calls.log");
  const whoami = opts.whoami ?? "https://app.pulumi.com/me";
  const cli = (name: string) =>
    [
      "#!/usr/bin/env bash",
      `echo "${name === "npx" ? "npx " : ""}$* | backend=\${PULUMI_BACKEND_URL:-} | passfile=\${PULUMI_CONFIG_PASSPHRASE_FILE:-} | pass=\${PULUMI_CONFIG_PASSPHRASE-unset} | version=\${PULUMI_VERSION:-}" >> ${JSON.stringify(log)}`,
      ...(name === "npx" ? ['while [ "$1" = --yes ]; do shift; done', "shift"] : []),
      'if [ "$1" = version ]; then',
      opts.versionFails !== undefined ? `  echo ${JSON.stringify(opts.versionFails)} >&2; exit 1` : "  echo v3.248.0",
      "fi",
      'if [ "$1" = whoami ]; then',
      typeof whoami === "string"
        ? `  printf 'User: me\\nBackend URL: %s\\n' ${JSON.stringify(whoami)}`
        : `  echo ${JSON.stringify(whoami.fail)} >&2; exit 255`,
      "fi",
      "exit 0",
    ].join("\n");
  fs.writeFileSync(path.join(bin, "pulumi"), cli("pulumi"), { mode: 0o755 });
  fs.writeFileSync(path.join(bin, "npx"), cli("npx"), { mode: 0o755 });
  const run = (args: string[], env: Record<string, string> = {}) => {
    const result = spawnSync("bash", [path.join(root, "scripts", "pulumi.sh"), ...args], {
      encoding: "utf8",
      env: { PATH: `${bin}:/usr/bin:/bin`, HOME: home, CI: "true", ...env },
    });
    const calls = fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : [];
    fs.rmSync(log, { force: true });
    return { status: result.status, stderr: result.stderr, calls, commands: calls.map((c) => c.split(" | ")[0]) };
  };
  const state = path.join(root, ".pulumi-state");
  return { root, bin, state, run };
}

/** npm's environment for `npm run <event>` of a script line. */
function npmRun(event: string, line: string): Record<string, string> {
  return { npm_lifecycle_event: event, npm_lifecycle_script: line };
}

describe("scripts/pulumi.sh: the backend is never switched behind the user's back", () => {
  test("Pulumi.yaml names the checkout's local state, the backend the script treats as local", () => {
    const project = fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8");
    expect(project).toMatch(/^backend:\n {2}url: file:\/\/\.\/\.pulumi-state\n/m);
    expect(fs.readFileSync(SCRIPT, "utf8")).toContain('LOCAL_STATE_URL="file://./.pulumi-state"');
  });

  test("never logged in: the local state with a generated passphrase, dev created, up with the caller's --yes only", () => {
    const { state, run } = sandbox();
    const { status, calls, stderr } = run(["up", "--yes"]);
    expect(status).toBe(0);
    const passfile = path.join(state, "passphrase");
    expect(stderr).toContain("the local backend in .pulumi-state/");
    // No PULUMI_BACKEND_URL: Pulumi reads backend.url from Pulumi.yaml, exactly as for plain `pulumi up`.
    expect(calls).toEqual([
      "version | backend= | passfile= | pass=unset | version=",
      `stack select dev --create --non-interactive | backend= | passfile=${passfile} | pass=unset | version=`,
      `up --yes --non-interactive | backend= | passfile=${passfile} | pass=unset | version=`,
    ]);
    expect(fs.statSync(passfile).mode & 0o777).toBe(0o600);
    const passphrase = fs.readFileSync(passfile, "utf8");
    expect(passphrase).toMatch(/^[0-9a-f]{64}$/);
    // The same passphrase on every later run, or the stack's secrets could not be read again.
    run(["preview"]);
    expect(fs.readFileSync(passfile, "utf8")).toBe(passphrase);
  });

  test("local stacks made by plain pulumi (own passphrase): no generated file replaces it; without a terminal it asks for the variable", () => {
    const { state, run } = sandbox();
    fs.mkdirSync(path.join(state, ".pulumi", "stacks", "vllm-auth"), { recursive: true });
    fs.writeFileSync(path.join(state, ".pulumi", "stacks", "vllm-auth", "dev.json"), "{}");
    const { status, stderr, commands } = run(["preview"]);
    expect(status).toBe(2);
    expect(stderr).toContain("set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE");
    expect(fs.existsSync(path.join(state, "passphrase"))).toBe(false);
    expect(commands).toEqual(["version"]);
  });

  test("logged in elsewhere: stops and names both choices, touches no state", () => {
    const { state, run } = sandbox({ loggedInTo: "https://api.pulumi.com" });
    const { status, stderr, commands } = run(["up", "--yes"], npmRun("deploy", "bash scripts/pulumi.sh up"));
    expect(status).toBe(2);
    expect(stderr).toContain("you are logged in to https://api.pulumi.com");
    expect(stderr).toContain("export PULUMI_BACKEND_URL=https://api.pulumi.com");
    expect(stderr).toContain("VLLM_AUTH_LOCAL_STATE=1 npm run deploy -- --yes");
    expect(commands).toEqual(["version"]);
    expect(fs.existsSync(state)).toBe(false);
  });

  test("a Pulumi Cloud token in the environment counts as a login", () => {
    const { run } = sandbox();
    const { status, stderr } = run(["preview"], { PULUMI_ACCESS_TOKEN: "pul-0123" });
    expect(status).toBe(2);
    expect(stderr).toContain("you are logged in to https://api.pulumi.com");
  });

  test("logged in, but asks for the local state with VLLM_AUTH_LOCAL_STATE=1: the local state", () => {
    const { state, run } = sandbox({ loggedInTo: "https://api.pulumi.com" });
    const { status, commands } = run(["preview"], { VLLM_AUTH_LOCAL_STATE: "1" });
    expect(status).toBe(0);
    expect(commands).toEqual(["version", "stack select dev --create --non-interactive", "preview --non-interactive"]);
    expect(fs.existsSync(path.join(state, "passphrase"))).toBe(true);
  });

  test("PULUMI_BACKEND_URL and VLLM_AUTH_LOCAL_STATE=1 together are refused", () => {
    const { run } = sandbox();
    const { status, stderr } = run(["preview"], { VLLM_AUTH_LOCAL_STATE: "1", PULUMI_BACKEND_URL: "https://api.pulumi.com" });
    expect(status).toBe(2);
    expect(stderr).toContain("unset the one you do not mean");
  });

  test("PULUMI_BACKEND_URL of Pulumi Cloud: its backend and secrets, checked with whoami, no local state", () => {
    const { state, run } = sandbox({ loggedInTo: "https://api.pulumi.com" });
    const { status, calls } = run(["up", "--diff", "--yes"], { PULUMI_BACKEND_URL: "https://api.pulumi.com" });
    expect(status).toBe(0);
    expect(calls.slice(1)).toEqual([
      "whoami --verbose --non-interactive | backend=https://api.pulumi.com | passfile= | pass=unset | version=",
      "stack select dev --create --non-interactive | backend=https://api.pulumi.com | passfile= | pass=unset | version=",
      "up --diff --yes --non-interactive | backend=https://api.pulumi.com | passfile= | pass=unset | version=",
    ]);
    expect(fs.existsSync(state)).toBe(false);
  });

  test.each([
    ["an expired token", "error: [401] Unauthorized: your access token has expired"],
    ["a network error", "error: failed to get whoami: dial tcp: lookup api.pulumi.com: no such host"],
  ])("a backend that fails whoami (%s) stops with its message: no stack, no other backend, no local state", (_kind, message) => {
    const { state, run } = sandbox({ whoami: { fail: message } });
    const { status, stderr, commands } = run(["up", "--yes"], { PULUMI_BACKEND_URL: "https://api.pulumi.com" });
    expect(status).toBe(1);
    expect(stderr).toContain("the Pulumi backend https://api.pulumi.com did not answer `pulumi whoami`");
    expect(stderr).toContain(message);
    expect(stderr).toContain("no other backend was tried");
    expect(commands).toEqual(["version", "whoami --verbose --non-interactive"]);
    expect(fs.existsSync(state)).toBe(false);
  });

  test("a self-managed backend without a passphrase fails at once in CI instead of prompting", () => {
    const { run } = sandbox({ whoami: "s3://team-state" });
    const failed = run(["up", "--yes"], { PULUMI_BACKEND_URL: "s3://team-state" });
    expect(failed.status).toBe(2);
    expect(failed.stderr).toContain("set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE");
    expect(failed.commands).toEqual(["version", "whoami --verbose --non-interactive"]);
    const ok = run(["up", "--yes"], { PULUMI_BACKEND_URL: "s3://team-state", PULUMI_CONFIG_PASSPHRASE: "" });
    expect(ok.status).toBe(0);
    expect(ok.calls[3]).toBe("up --yes --non-interactive | backend=s3://team-state | passfile= | pass= | version=");
  });
});

describe("scripts/pulumi.sh: approvals are the caller's", () => {
  test.each([
    [["up"], npmRun("deploy", "bash scripts/pulumi.sh up"), "npm run deploy -- --yes"],
    [["up", "--diff"], npmRun("deploy", "bash scripts/pulumi.sh up"), "npm run deploy -- --diff --yes"],
    [["destroy"], npmRun("destroy", "bash scripts/pulumi.sh destroy"), "npm run destroy -- --yes"],
    [["refresh"], {}, "bash scripts/pulumi.sh refresh --yes"],
  ])("without a terminal, %j never gets --yes added: it stops and says what to type", (args, env, hint) => {
    const { state, run } = sandbox();
    const { status, stderr, calls } = run(args, env);
    expect(status).toBe(2);
    expect(stderr).toContain(`add --yes, e.g. ${hint}`);
    expect(calls).toEqual([]);
    expect(fs.existsSync(state)).toBe(false);
  });

  test("the caller's --yes (or -y, or --skip-preview) passes through unchanged; the script adds only --non-interactive", () => {
    const { run } = sandbox();
    for (const flag of ["--yes", "-y", "--skip-preview"]) {
      const { status, commands } = run(["destroy", flag], { PULUMI_STACK: "prod" });
      expect(status).toBe(0);
      expect(commands.slice(1)).toEqual(["stack select prod --create --non-interactive", `destroy ${flag} --non-interactive`]);
    }
  });

  test("preview runs the policy pack when infra/policy has one, and not otherwise; other commands pass through", () => {
    const withPack = sandbox({ policyPack: true }).run(["preview"]);
    expect(withPack.commands[2]).toBe("preview --policy-pack infra/policy --non-interactive");
    const without = sandbox().run(["preview"]);
    expect(without.commands[2]).toBe("preview --non-interactive");
    const output = sandbox().run(["stack", "output", "endpoint"]);
    expect(output.commands[2]).toBe("stack output endpoint");
  });
});

describe("scripts/pulumi.sh: the CLI", () => {
  test("without the CLI it says how to install it or run it through npx, naming the command that was run", () => {
    const { run } = sandbox();
    const fromNpm = run(["up", "--diff", "--yes"], { PULUMI_CLI: "pulumi-cli-that-is-not-installed", ...npmRun("deploy", "bash scripts/pulumi.sh up") });
    expect(fromNpm.status).toBe(127);
    expect(fromNpm.stderr).toContain("the Pulumi CLI was not found");
    expect(fromNpm.stderr).toContain(`curl -fsSL https://get.pulumi.com | sh -s -- --version ${SDK_VERSION}`);
    expect(fromNpm.stderr).toContain('PULUMI_CLI="npx --yes pulumi" npm run deploy -- --diff --yes');
    expect(fromNpm.calls).toEqual([]);
    const byHand = run(["stack", "output", "endpoint"], { PULUMI_CLI: "pulumi-cli-that-is-not-installed" });
    expect(byHand.stderr).toContain('PULUMI_CLI="npx --yes pulumi" bash scripts/pulumi.sh stack output endpoint');
    const preview = run(["preview"], { PULUMI_CLI: "pulumi-cli-that-is-not-installed", ...npmRun("preview", "bash scripts/pulumi.sh preview") });
    expect(preview.stderr).toContain('PULUMI_CLI="npx --yes pulumi" npm run preview\n');
  });

  test('PULUMI_CLI="npx --yes pulumi" runs the npm launcher pinned in the script, installing the SDK\'s CLI version', () => {
    const { run } = sandbox();
    const { status, calls } = run(["preview"], { PULUMI_CLI: "npx --yes pulumi" });
    expect(status).toBe(0);
    expect(calls.map((c) => `${c.split(" | ")[0]} | ${c.split(" | ")[4]}`)).toEqual([
      `npx --yes pulumi@3.250.0 version | version=${SDK_VERSION}`,
      `npx --yes pulumi@3.250.0 stack select dev --create --non-interactive | version=${SDK_VERSION}`,
      `npx --yes pulumi@3.250.0 preview --non-interactive | version=${SDK_VERSION}`,
    ]);
  });

  test("the launcher pin is of the SDK's major version and not older than the SDK", () => {
    const launcher = /NPM_LAUNCHER="pulumi@(\d+)\.(\d+)\.(\d+)"/.exec(fs.readFileSync(SCRIPT, "utf8"));
    expect(launcher).not.toBeNull();
    const [major, minor, patch] = SDK_VERSION.split(".").map(Number);
    const pin = launcher!.slice(1).map(Number);
    expect(pin[0]).toBe(major);
    expect(pin[1] * 1e6 + pin[2]).toBeGreaterThanOrEqual(minor * 1e6 + patch);
  });

  test("a PULUMI_CLI that names its own version is left alone", () => {
    const { calls } = sandbox().run(["preview"], { PULUMI_CLI: "npx --yes pulumi@3.265.0" });
    expect(calls[0]).toBe("npx --yes pulumi@3.265.0 version | backend= | passfile= | pass=unset | version=");
  });

  test("a failed download says so, names the command, and leaves no state behind", () => {
    const { state, run } = sandbox({ versionFails: "pulumi: fetch failed" });
    const { status, stderr, commands } = run(["up", "--yes"], { PULUMI_CLI: "npx --yes pulumi" });
    expect(status).toBe(1);
    expect(stderr).toContain(`could not run the Pulumi CLI with \`npx --yes pulumi@3.250.0 version\` (CLI ${SDK_VERSION})`);
    expect(stderr).toContain("pulumi: fetch failed");
    expect(stderr).toContain("nothing was changed");
    expect(stderr).not.toContain("could not select or create stack");
    expect(commands).toEqual(["npx --yes pulumi@3.250.0 version"]);
    expect(fs.existsSync(state)).toBe(false);
  });
});
