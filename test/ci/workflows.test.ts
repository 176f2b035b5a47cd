import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { LintReport } from "./lint-workflows";
import {
  contextNames,
  indexOf,
  job,
  lint,
  loadWorkflow,
  needsOf,
  onlyStepUsing,
  ROOT,
  steps,
  stepsUsing,
  Workflow,
  WORKFLOWS,
} from "./workflow-model";

const preview = loadWorkflow("preview.yml");
const deploy = loadWorkflow("deploy.yml");
const all = [preview, deploy];
const packageJson = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
  engines?: { node?: string };
  dependencies?: Record<string, string>;
};

/** Inputs each action declares in its action.yml at the pinned release; a typo would be silently ignored by Actions. */
const KNOWN_INPUTS: Readonly<Record<string, readonly string[]>> = {
  "actions/checkout": ["persist-credentials", "fetch-depth", "ref", "path"],
  "actions/setup-node": ["node-version", "node-version-file", "cache", "cache-dependency-path"],
  "aws-actions/configure-aws-credentials": ["role-to-assume", "role-session-name", "aws-region", "role-duration-seconds", "audience"],
  "pulumi/auth-actions": ["organization", "requested-token-type", "scope", "token-expiration", "cloud-url"],
  "pulumi/actions": [
    "command", "stack-name", "work-dir", "cloud-url", "pulumi-version", "policyPacks", "policyPackConfigs",
    "comment-on-pr", "comment-on-summary", "edit-pr-comment", "diff", "refresh", "github-token",
  ],
};

function isNpm(command: string): (s: { run?: string }) => boolean {
  return (s) => s.run?.trim() === command;
}

describe("workflow lint (GitHub's @actions/workflow-parser)", () => {
  let reports: LintReport[] = [];
  beforeAll(() => {
    reports = lint([path.join(WORKFLOWS, "preview.yml"), path.join(WORKFLOWS, "deploy.yml")]);
  }, 60_000);

  it("finds no schema, expression or context errors in either workflow", () => {
    expect(reports.map((r) => [r.file, r.errors])).toEqual([
      ["preview.yml", []],
      ["deploy.yml", []],
    ]);
  });

  it("reads the triggers and job graph the tests below rely on", () => {
    const [p, d] = reports;
    expect(p?.events).toEqual(["pull_request"]);
    expect(d?.events.slice().sort()).toEqual(["push", "workflow_dispatch"]);
    expect(p?.jobs.find((j) => j.id === "preview")?.needs).toEqual(["test"]);
    expect(d?.jobs.find((j) => j.id === "deploy")?.needs).toEqual(["test"]);
    expect(d?.jobs.find((j) => j.id === "deploy")?.environment).toBe(true);
  });

  it("is a real linter: it rejects a bad permission, an unknown context and an unknown key", () => {
    const broken = preview.text
      .replace("contents: read", "contents: raed")
      .replace("${{ vars.PULUMI_STACK }}", "${{ var.PULUMI_STACK }}")
      .replace("timeout-minutes: 30", "timeout-minute: 30");
    const dir = mkdtempSync(path.join(tmpdir(), "workflow-lint-"));
    const file = path.join(dir, "broken.yml");
    writeFileSync(file, broken);
    const [report] = lint([file]);
    rmSync(dir, { recursive: true, force: true });
    if (!report) throw new Error("the linter returned no report");
    expect(report.errors.some((e) => /Unexpected value 'raed'/.test(e))).toBe(true);
    expect(report.errors.some((e) => /Unrecognized named-value: 'var'/.test(e))).toBe(true);
    expect(report.errors.some((e) => /timeout-minute/.test(e))).toBe(true);
    expect(report.errors.every((e) => /^broken\.yml \(Line: \d+, Col: \d+\)/.test(e))).toBe(true);
  });
});

describe("preview.yml", () => {
  const test = job(preview, "test");
  const run = job(preview, "preview");
  const skipped = job(preview, "skipped");

  it("runs on pull requests only, never on pull_request_target", () => {
    expect(Object.keys(preview.doc.on)).toEqual(["pull_request"]);
    expect(preview.text).not.toMatch(/pull_request_target/);
  });

  it("grants nothing by default and each job only what it needs", () => {
    expect(preview.doc.permissions).toEqual({});
    expect(skipped.permissions).toEqual({});
    expect(test.permissions).toEqual({ contents: "read" });
    expect(run.permissions).toEqual({ contents: "read", "pull-requests": "write", "id-token": "write" });
  });

  it("keeps one run per pull request and cancels the superseded one", () => {
    expect(preview.doc.concurrency?.group).toMatch(/github\.event\.pull_request\.number/);
    expect(preview.doc.concurrency?.["cancel-in-progress"]).toBe(true);
  });

  it("checks out, sets up Node from package.json, installs redis-server for the limits tests, then npm ci and npm test", () => {
    const order = [
      indexOf(test, (s) => s.uses?.startsWith("actions/checkout@") === true),
      indexOf(test, (s) => s.uses?.startsWith("actions/setup-node@") === true),
      indexOf(test, (s) => s.run?.includes("apt-get install -y -qq redis-server") === true),
      indexOf(test, isNpm("npm ci")),
      indexOf(test, isNpm("npm test")),
    ];
    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect(onlyStepUsing(test, "actions/setup-node").with).toMatchObject({ "node-version-file": "package.json", cache: "npm" });
    expect(packageJson.engines?.node).toBeDefined();
  });

  it("previews after the tests pass, with the policy pack, on the stack from a variable, and comments on the PR", () => {
    expect(needsOf(run)).toEqual(["test"]);
    const pulumi = onlyStepUsing(run, "pulumi/actions");
    expect(pulumi.with).toMatchObject({
      command: "preview",
      "comment-on-pr": true,
      "stack-name": "${{ vars.PULUMI_STACK }}",
      policyPacks: "infra/policy",
    });
    expect(indexOf(run, isNpm("npm ci"))).toBeLessThan(steps(run).indexOf(pulumi));
  });

  it("skips forks and Dependabot with a notice instead of failing", () => {
    expect(run.if).toMatch(/github\.event\.pull_request\.head\.repo\.full_name == github\.repository/);
    expect(skipped.if).toMatch(/github\.event\.pull_request\.head\.repo\.full_name != github\.repository/);
    expect(run.if).toMatch(/github\.actor != 'dependabot\[bot\]'/);
    expect(skipped.if).toMatch(/github\.actor == 'dependabot\[bot\]'/);
    const explain = steps(skipped).map((s) => s.run ?? "").join("\n");
    expect(explain).toMatch(/::notice title=Pulumi preview skipped::/);
    expect(explain).toMatch(/GITHUB_STEP_SUMMARY/);
    // The tests still run for forks: they need no secrets.
    expect(test.if).toBeUndefined();
  });
});

describe("deploy.yml", () => {
  const run = job(deploy, "deploy");

  it("runs on pushes to main and by hand", () => {
    expect(deploy.doc.on).toEqual({ push: { branches: ["main"] }, workflow_dispatch: null });
    expect(run.if).toBe("github.ref == 'refs/heads/main'");
  });

  it("deploys through the production environment so it can require approval, and exposes the endpoint URL", () => {
    expect(run.environment).toEqual({ name: "production", url: "${{ steps.up.outputs.url }}" });
  });

  it("runs pulumi up with the policy pack after the tests, one deploy at a time", () => {
    expect(needsOf(run)).toEqual(["test"]);
    const up = onlyStepUsing(run, "pulumi/actions");
    expect(up.id).toBe("up");
    expect(up.with).toMatchObject({ command: "up", "stack-name": "${{ vars.PULUMI_STACK }}", policyPacks: "infra/policy" });
    expect(run.concurrency?.["cancel-in-progress"]).toBe(false);
    expect(run.concurrency?.group).toMatch(/vars\.PULUMI_STACK/);
  });

  it("grants only read and OIDC", () => {
    expect(deploy.doc.permissions).toEqual({});
    expect(run.permissions).toEqual({ contents: "read", "id-token": "write" });
    expect(job(deploy, "test").permissions).toEqual({ contents: "read" });
  });
});

describe("credentials in both workflows", () => {
  const roles: Readonly<Record<string, string>> = { "preview.yml": "AWS_PREVIEW_ROLE_ARN", "deploy.yml": "AWS_DEPLOY_ROLE_ARN" };
  const byFile: Readonly<Record<string, Workflow>> = { "preview.yml": preview, "deploy.yml": deploy };
  const cloudJobs: readonly [string, string][] = [
    ["preview.yml", "preview"],
    ["deploy.yml", "deploy"],
  ];
  const cloudJob = (file: string, id: string) => job(byFile[file] ?? preview, id);

  it.each(cloudJobs)("%s: AWS by OIDC with its own role, before Pulumi runs", (file, id) => {
    const j = cloudJob(file, id);
    const aws = onlyStepUsing(j, "aws-actions/configure-aws-credentials");
    expect(aws.with?.["role-to-assume"]).toBe(`\${{ vars.${roles[file] ?? ""} }}`);
    expect(steps(j).indexOf(aws)).toBeLessThan(steps(j).indexOf(onlyStepUsing(j, "pulumi/actions")));
    expect(j.permissions).toMatchObject({ "id-token": "write" });
  });

  it.each(all)("$file: no long-lived AWS keys anywhere", (workflow) => {
    expect(workflow.text).not.toMatch(/aws-access-key-id|aws-secret-access-key|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|PULUMI_ACCESS_TOKEN/);
  });

  it.each(cloudJobs)("%s: Pulumi Cloud by OIDC unless a self-managed backend is configured, never Pulumi.yaml's local state", (file, id) => {
    const j = cloudJob(file, id);
    const auth = onlyStepUsing(j, "pulumi/auth-actions");
    expect(auth.if).toBe("vars.PULUMI_BACKEND_URL == ''");
    expect(auth.with).toMatchObject({
      organization: "${{ vars.PULUMI_ORG }}",
      "requested-token-type": "urn:pulumi:token-type:access_token:organization",
    });
    // Pulumi.yaml's backend.url (the checkout's .pulumi-state) wins over `pulumi login`: the job must name its backend.
    expect(readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")).toMatch(/^backend:\n {2}url: file:/m);
    expect(j.env).toEqual({
      PULUMI_BACKEND_URL: "${{ vars.PULUMI_BACKEND_URL || 'https://api.pulumi.com' }}",
      PULUMI_CONFIG_PASSPHRASE: "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}",
    });
    const pulumi = onlyStepUsing(j, "pulumi/actions");
    expect(pulumi.with?.["cloud-url"]).toBe("${{ vars.PULUMI_BACKEND_URL || 'https://api.pulumi.com' }}");
    expect(steps(j).indexOf(auth)).toBeLessThan(steps(j).indexOf(pulumi));
  });

  it.each(cloudJobs)("%s: names each missing setting before touching the cloud", (file, id) => {
    const j = cloudJob(file, id);
    const check = steps(j).find((s) => s.name === "Check the repository settings");
    expect(check?.run).toMatch(/::error title=CI is not configured::/);
    for (const name of ["PULUMI_STACK", roles[file] ?? "", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_ORG"]) expect(check?.run).toContain(name);
    expect(steps(j).indexOf(check ?? {})).toBeLessThan(steps(j).indexOf(onlyStepUsing(j, "aws-actions/configure-aws-credentials")));
  });
});

describe("actions", () => {
  const pins = all.flatMap((w) =>
    w.text
      .split("\n")
      .filter((line) => /^\s*(-\s+)?uses:/.test(line))
      .map((line) => ({ file: w.file, line: line.trim() })),
  );

  it("pins every action to a full commit SHA with its release in a comment", () => {
    expect(pins.length).toBeGreaterThanOrEqual(10);
    for (const { line } of pins) {
      expect(line).toMatch(/^(- )?uses: [\w.-]+\/[\w.-]+(\/[\w./-]+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
    }
  });

  it("says for every pinned action how its commit was checked against its tag", () => {
    for (const { file, line } of pins) {
      const [, action = "", tag = ""] = /uses: ([^@]+)@[0-9a-f]{40} # (\S+)/.exec(line) ?? [];
      const text = all.find((w) => w.file === file)?.text ?? "";
      expect(text).toMatch(new RegExp(`^#   ${action.replace(/[/.]/g, "\\$&")} ${tag.replace(/\./g, "\\.")}: \\S`, "m"));
    }
  });

  it("uses one commit per action across both workflows", () => {
    const byAction = new Map<string, Set<string>>();
    for (const { line } of pins) {
      const [, action = "", ref = ""] = /uses: ([^@]+)@(\S+ # \S+)/.exec(line) ?? [];
      byAction.set(action, (byAction.get(action) ?? new Set()).add(ref));
    }
    expect([...byAction.keys()].sort()).toEqual(Object.keys(KNOWN_INPUTS).sort());
    for (const refs of byAction.values()) expect(refs.size).toBe(1);
  });

  it.each(all)("$file: passes each action only inputs it declares", (workflow) => {
    for (const j of Object.values(workflow.doc.jobs)) {
      for (const step of steps(j)) {
        if (!step.uses) continue;
        const known = KNOWN_INPUTS[step.uses.split("@")[0] ?? ""] ?? [];
        expect(Object.keys(step.with ?? {}).filter((input) => !known.includes(input))).toEqual([]);
      }
    }
  });

  it.each(all)("$file: checks out without leaving the token in .git/config", (workflow) => {
    for (const j of Object.values(workflow.doc.jobs)) {
      for (const checkout of stepsUsing(j, "actions/checkout")) expect(checkout.with?.["persist-credentials"]).toBe(false);
    }
  });

  it.each(all)("$file: runs the Pulumi CLI that matches the SDK and the pack that exists", (workflow) => {
    for (const j of Object.values(workflow.doc.jobs)) {
      for (const pulumi of stepsUsing(j, "pulumi/actions")) {
        expect(pulumi.with?.["pulumi-version"]).toBe(packageJson.dependencies?.["@pulumi/pulumi"]);
        expect(existsSync(path.join(ROOT, String(pulumi.with?.policyPacks), "PulumiPolicy.yaml"))).toBe(true);
      }
    }
  });

  it("reads only the documented variables and secrets", () => {
    expect(contextNames(preview.text + deploy.text, "vars")).toEqual([
      "AWS_DEPLOY_ROLE_ARN",
      "AWS_PREVIEW_ROLE_ARN",
      "AWS_REGION",
      "PULUMI_BACKEND_URL",
      "PULUMI_ORG",
      "PULUMI_STACK",
    ]);
    expect(contextNames(preview.text + deploy.text, "secrets")).toEqual(["PULUMI_CONFIG_PASSPHRASE"]);
  });
});
