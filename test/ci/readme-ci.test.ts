import { readFileSync } from "node:fs";
import * as path from "node:path";
import { DEFINITIONS } from "../../infra/policy/policies";
import { parseSettings } from "../../stacks/config";
import { fakeReader } from "../config/fakeReader";
import { readPage } from "../docs/pages";
import { contextNames, job, loadWorkflow, ROOT } from "./workflow-model";

interface TrustPolicy {
  readonly Statement: readonly {
    readonly Effect: string;
    readonly Principal: { readonly Federated: string };
    readonly Action: string;
    readonly Condition: { readonly StringEquals: Readonly<Record<string, string>> };
  }[];
}

const section = readPage("docs/ci.md");
const preview = loadWorkflow("preview.yml");
const deploy = loadWorkflow("deploy.yml");

function trustPolicies(): TrustPolicy[] {
  return [...section.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1] ?? "") as TrustPolicy);
}

function subjectOf(policy: TrustPolicy | undefined): string | undefined {
  return policy?.Statement[0]?.Condition.StringEquals["token.actions.githubusercontent.com:sub"];
}

describe("docs/ci.md", () => {
  it("exists and is more than a heading", () => {
    expect(section.length).toBeGreaterThan(2000);
  });

  it("documents every variable and secret the workflows read", () => {
    const text = preview.text + deploy.text;
    for (const name of [...contextNames(text, "vars"), ...contextNames(text, "secrets")]) {
      expect(section).toMatch(new RegExp(`^\\| \`${name}\` \\| (variable|secret) \\|`, "m"));
    }
  });

  it("gives two valid trust policies for GitHub's OIDC issuer: pull requests for preview, the environment for deploy", () => {
    const [previewTrust, deployTrust] = trustPolicies();
    for (const policy of [previewTrust, deployTrust]) {
      const statement = policy?.Statement[0];
      expect(statement?.Action).toBe("sts:AssumeRoleWithWebIdentity");
      expect(statement?.Principal.Federated).toMatch(/:oidc-provider\/token\.actions\.githubusercontent\.com$/);
      expect(statement?.Condition.StringEquals["token.actions.githubusercontent.com:aud"]).toBe("sts.amazonaws.com");
    }
    expect(subjectOf(previewTrust)).toBe("repo:<owner>/<repo>:pull_request");
    const environment = job(deploy, "deploy").environment;
    const name = typeof environment === "string" ? environment : environment?.name;
    expect(subjectOf(deployTrust)).toBe(`repo:<owner>/<repo>:environment:${name ?? ""}`);
    expect(section).toContain("repo:<owner>/<repo>:ref:refs/heads/main");
  });

  it("has the stack name the deploy role as cluster admin, so previews under the preview role plan no admin change", () => {
    const deployRole = /aws iam create-role --role-name ([\w+=,.@-]+)[^\n]*\\\n\s*--assume-role-policy-document file:\/\/deploy-trust\.json/.exec(section)?.[1];
    expect(deployRole).toBe("vllm-auth-deploy");
    const set = /pulumi config set --path 'vllm-auth:clusterAdminArns\[0\]' (\S+)/.exec(section)?.[1] ?? "";
    expect(set).toBe(`arn:aws:iam::<account-id>:role/${deployRole ?? ""}`);
    const settings = parseSettings(fakeReader({ clusterAdminArns: [set.replace("<account-id>", "123456789012")] }));
    expect(settings.aws.clusterAdminArns).toEqual([`arn:aws:iam::123456789012:role/${deployRole ?? ""}`]);
  });

  it("names the same action releases as the workflow pins", () => {
    const pins = [...(preview.text + deploy.text).matchAll(/uses: ([\w.-]+\/[\w.-]+)@[0-9a-f]{40} # (v[\d.]+)/g)];
    const prose = section.replace(/\s+/g, " ");
    for (const [, action, version] of pins) expect(prose).toContain(`\`${action ?? ""}\` ${version ?? ""}`);
  });

  it("lists every policy of the pack, the advisory one marked as such", () => {
    for (const policy of DEFINITIONS) {
      const row = new RegExp(`^\\| \`${policy.name}\`${policy.enforcementLevel === "advisory" ? " \\(advisory\\)" : ""} \\|`, "m");
      expect(section).toMatch(row);
    }
  });

  it("keeps the pack's declared dependencies equal to the root's, from which they resolve", () => {
    const read = (file: string) => JSON.parse(readFileSync(path.join(ROOT, file), "utf8")) as { dependencies: Record<string, string> };
    const pack = read("infra/policy/package.json").dependencies;
    const root = read("package.json").dependencies;
    for (const [name, version] of Object.entries(pack)) expect([name, root[name]]).toEqual([name, version]);
  });
});
