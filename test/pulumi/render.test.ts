import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { Manifest, REDACTED, safeManifestOf } from "../../stacks/manifests";
import { parseRenderArgs, readStackConfig } from "../../stacks/render";
import { stackFile, stackNames } from "../../stacks/stackFiles";
import { validateManifest } from "./harness";

const ROOT = path.resolve(__dirname, "../..");
const SECRET = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value: "s3cret-value" };

function render(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(path.join(ROOT, "node_modules", ".bin", "tsx"), ["stacks/render.ts", ...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, PULUMI_STACK: "" },
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("readStackConfig", () => {
  test("overlays the stack file on Pulumi.yaml's defaults and never decrypts secure values", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "render-"));
    const stackFile = path.join(dir, "Pulumi.test.yaml");
    fs.writeFileSync(
      stackFile,
      [
        "config:",
        "  vllm-auth:maxReplicas: 3",
        "  vllm-auth:vllmArgs: [\"--max-model-len\", \"2048\"]",
        "  vllm-auth:hfToken:",
        "    secure: AAABAHNlY3JldA==",
        "  aws:region: eu-west-1",
      ].join("\n"),
    );
    const config = readStackConfig(path.join(ROOT, "Pulumi.yaml"), stackFile);
    expect(config.values["vllm-auth:maxReplicas"]).toBe("3");
    expect(config.values["vllm-auth:vllmArgs"]).toBe('["--max-model-len","2048"]');
    expect(config.values["vllm-auth:hfToken"]).toBe(REDACTED);
    expect(config.secretKeys).toEqual(["vllm-auth:hfToken"]);
    expect(config.values["aws:region"]).toBe("eu-west-1");
    expect(config.values["vllm-auth:namespace"]).toBe("vllm");
  });
});

describe("stack files", () => {
  test("a stack is a Pulumi.<stack>.yaml; a missing one names the stacks there are and the nearest", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stacks-"));
    for (const name of ["Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "Pulumi.eu.staging.yaml", "Pulumi.kind.yml", "notes.yaml"]) {
      fs.writeFileSync(path.join(dir, name), "config: {}\n");
    }
    expect(stackNames(dir)).toEqual(["dev", "eu.staging", "kind", "prod"]);
    expect(stackFile(dir, "kind")).toBe(path.join(dir, "Pulumi.kind.yml"));
    expect(() => stackFile(dir, "prd")).toThrow('no stack "prd": there is no Pulumi.prd.yaml. The stacks here are dev, eu.staging, kind, prod. Did you mean --stack prod?');
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), "stacks-"));
    expect(() => stackFile(empty, "dev")).toThrow("No stack has a file yet; create one with: pulumi stack init <name>.");
  });
});

describe("safeManifestOf", () => {
  test("redacts a Secret's values but keeps its keys", () => {
    const m = safeManifestOf("kubernetes:core/v1:Secret", {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "t" },
      stringData: SECRET,
    });
    expect(m).toMatchObject({ apiVersion: "v1", kind: "Secret", data: REDACTED });
    expect(m).not.toHaveProperty("stringData");
    const n = safeManifestOf("kubernetes:core/v1:Secret", { metadata: { name: "t" }, data: { a: "x", b: SECRET }, stringData: { c: "y" } });
    expect(n!.data).toEqual({ a: REDACTED, b: REDACTED, c: REDACTED });
    expect(n).not.toHaveProperty("stringData");
  });

  test("redacts secret inputs of any other kind and maps group/version to apiVersion", () => {
    const m = safeManifestOf("kubernetes:apps/v1:Deployment", { metadata: { name: "d" }, spec: { x: SECRET } }) as Manifest;
    expect(m.apiVersion).toBe("apps/v1");
    expect(JSON.stringify(m)).not.toContain("s3cret-value");
    expect(safeManifestOf("pulumi:providers:kubernetes", {})).toBeUndefined();
    expect(safeManifestOf("kubernetes:core/v1:ServicePatch", {})).toBeUndefined();
  });
});

describe("npm run render", () => {
  test("prints the dev stack's Kubernetes objects as valid multi-document YAML with no secret in it", () => {
    const { status, stdout, stderr } = render([]);
    expect(stderr).not.toMatch(/^render:/m);
    expect(status).toBe(0);
    const docs = YAML.parseAllDocuments(stdout).map((d) => d.toJS() as Manifest);
    const serving = docs.filter((d) => d.metadata.namespace === "vllm" || d.kind === "Namespace");
    expect(serving.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      "Namespace/monitoring",
      "Namespace/vllm",
      "Secret/vllm-api-keys",
      "Secret/vllm-internal-token",
      "Service/vllm-auth",
      "Service/vllm-replicas",
      "NetworkPolicy/vllm-gateway",
      "NetworkPolicy/vllm-replicas",
      "PodDisruptionBudget/vllm",
      "PodDisruptionBudget/vllm-gateway",
      "Deployment/vllm",
      "Deployment/vllm-gateway",
      "ScaledObject/vllm",
      "PodMonitor/vllm-gateway",
      "PodMonitor/vllm-replicas",
    ]);
    for (const doc of serving.filter((d) => d.kind !== "Secret")) {
      expect(() => validateManifest(doc)).not.toThrow();
    }
    // Applied by mistake, a Secret is refused: its values are not base64, as Secret.data must be.
    const secrets = serving.filter((d) => d.kind === "Secret");
    expect(secrets.map((d) => d.data)).toEqual([{ "keys.json": REDACTED }, { token: REDACTED }]);
    for (const secret of secrets) {
      expect(secret).not.toHaveProperty("stringData");
      expect(() => validateManifest(secret)).toThrow();
    }
    expect(() => validateManifest({ ...secrets[0], data: { "keys.json": Buffer.from("{}").toString("base64") } })).not.toThrow();
    // The file says what it is before anything else.
    expect(stdout.split("\n").slice(0, 3).join("\n")).toMatch(/^# A preview of stack dev.*\n# Deploy with `pulumi up`, not by applying this file\. Secret values are placeholders/);
    // The dev stack has no hfToken yet: the program says so on stderr, and stdout stays YAML.
    expect(stderr).toContain("vllm-auth:hfToken is not set");
  }, 60_000);

  test("stops with the config error when the stack cannot deploy", () => {
    const { status, stdout, stderr } = render(["--target", "existing"]);
    expect(status).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toContain("vllm-auth:proxyImage: is required on target existing");
  }, 60_000);

  test("stops at a stack without a stack file, naming the stacks there are and the nearest", () => {
    const { status, stdout, stderr } = render(["--stack", "doesnotexist"]);
    expect(status).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toBe('render: no stack "doesnotexist": there is no Pulumi.doesnotexist.yaml. The stacks here are dev. Did you mean --stack dev?\n');
  }, 60_000);

  test("rejects unknown arguments with its usage", () => {
    const { status, stderr } = render(["--stak", "dev"]);
    expect(status).toBe(1);
    expect(stderr).toContain("usage: npm run --silent render -- [--stack dev] [--target aws|existing] [--out FILE]");
  }, 60_000);

  test("--help prints the usage and exits 0", () => {
    const { status, stdout } = render(["--help"]);
    expect(status).toBe(0);
    expect(stdout).toContain("--out FILE         write the YAML to FILE");
  }, 60_000);

  test("the documented commands give valid YAML in a file: npm run --silent render > file, and --out", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "render-out-"));
    try {
      const out = path.join(dir, "rendered.yaml");
      const viaOut = spawnSync("npm", ["run", "render", "--", "--out", out], { cwd: ROOT, encoding: "utf8", env: { ...process.env, PULUMI_STACK: "" }, timeout: 60_000 });
      expect(viaOut.status).toBe(0);
      expect(viaOut.stderr).toMatch(/render: wrote \d+ objects to /);
      const silent = spawnSync("sh", ["-c", `npm run --silent render > ${JSON.stringify(path.join(dir, "silent.yaml"))}`], { cwd: ROOT, encoding: "utf8", env: { ...process.env, PULUMI_STACK: "" }, timeout: 60_000 });
      expect(silent.status).toBe(0);
      for (const file of [out, path.join(dir, "silent.yaml")]) {
        const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
        expect(docs.every((d) => d.errors.length === 0)).toBe(true);
        expect(docs.map((d) => (d.toJS() as Manifest).kind)).toContain("Deployment");
      }
      // Without --silent npm puts its banner in front; the command says how to avoid it.
      const plain = spawnSync("sh", ["-c", `npm run render > ${JSON.stringify(path.join(dir, "plain.yaml"))}`], { cwd: ROOT, encoding: "utf8", env: { ...process.env, PULUMI_STACK: "" }, timeout: 60_000 });
      expect(plain.stderr).toContain("render: npm printed its banner ahead of the YAML; for a file or a pipe use npm run --silent render");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe("render's command line", () => {
  test("flags npm kept for itself (npm run render --stack prod) stop with the command to type", () => {
    expect(() => parseRenderArgs(["prod"], { npm_lifecycle_event: "render", npm_config_stack: "true" })).toThrow(
      "write npm run --silent render -- --stack prod",
    );
  });

  test("--out needs a file name", () => {
    expect(() => parseRenderArgs(["--out"], {})).toThrow("--out needs a file name");
    expect(parseRenderArgs(["--out", "x.yaml", "-s", "prod"], {})).toEqual({ stack: "prod", out: "x.yaml" });
  });
});
