import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { ROOT } from "./workflow-model";

/**
 * Runs .ci/run with a PATH of stubs only: `apt-get` and `npm` record their arguments, and `tools`
 * (e.g. curl) exist as no-ops. Returns the recorded commands, in order.
 */
function ciRun(tools: readonly string[]): string[] {
  const bin = mkdtempSync(path.join(tmpdir(), "ci-run-"));
  const log = path.join(bin, "log");
  try {
    const stub = (name: string, body: string) => {
      writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`);
      chmodSync(path.join(bin, name), 0o755);
    };
    stub("apt-get", `echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND apt-get $*" >> "${log}"`);
    stub("npm", `echo "npm $*" >> "${log}"`);
    for (const tool of tools) stub(tool, "exit 0");
    symlinkSync(spawnSync("/bin/sh", ["-c", "command -v dirname"]).stdout.toString().trim(), path.join(bin, "dirname"));
    writeFileSync(log, "");
    const result = spawnSync("/bin/bash", [path.join(ROOT, ".ci/run")], { env: { PATH: bin }, encoding: "utf8" });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    return readFileSync(log, "utf8").split("\n").filter((line) => line !== "");
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
}

describe(".ci/run on a fresh machine", () => {
  it("installs curl, python3, redis-server and iproute2 non-interactively when all are missing, then runs the README's commands", () => {
    expect(ciRun([])).toEqual([
      "DEBIAN_FRONTEND= apt-get update -qq",
      "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl python3 redis-server iproute2",
      "npm ci",
      "npm test",
    ]);
  });

  it("installs only what is missing: python3 and redis-server when curl and ss are there", () => {
    expect(ciRun(["curl", "ss"])).toEqual([
      "DEBIAN_FRONTEND= apt-get update -qq",
      "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 redis-server",
      "npm ci",
      "npm test",
    ]);
  });

  it("installs only redis-server when curl, python3 and ss are there", () => {
    expect(ciRun(["curl", "python3", "ss"])).toEqual([
      "DEBIAN_FRONTEND= apt-get update -qq",
      "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server",
      "npm ci",
      "npm test",
    ]);
  });

  it("installs iproute2 (for ss) alone when only it is missing", () => {
    expect(ciRun(["curl", "python3", "redis-server"])).toEqual([
      "DEBIAN_FRONTEND= apt-get update -qq",
      "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2",
      "npm ci",
      "npm test",
    ]);
  });

  it("installs nothing when all are there", () => {
    expect(ciRun(["curl", "python3", "redis-server", "ss"])).toEqual(["npm ci", "npm test"]);
  });
});
