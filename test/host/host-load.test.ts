/**
 * The program as `pulumi up` loads it: Pulumi's own cmd/run entry, its ts-node and the project's
 * TypeScript, run from stacks/ (main's folder) with the tsconfig Pulumi.yaml names. A change that only
 * `pulumi up` would reject (a module that cannot be required there, a path resolved from the wrong
 * folder, a compiler option the host reads differently) fails here.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ROOT, freshCacheDir, hostLoad, registered } from "./host";

// A first load parses every declaration file the program imports: tens of seconds on a busy machine.
jest.setTimeout(240_000);

const HF = { "vllm-auth:hfToken": "hf_testtoken_0123456789" };
const cacheDirs: string[] = [];
const cacheDir = (): string => {
  const dir = freshCacheDir();
  cacheDirs.push(dir);
  return dir;
};

afterAll(() => {
  for (const dir of cacheDirs) fs.rmSync(dir, { recursive: true, force: true });
});

describe("stacks/index.ts loaded as Pulumi's Node.js host loads it", () => {
  test("target existing: runs from stacks/ and registers the serving stack", () => {
    const load = hostLoad(
      { "vllm-auth:target": "existing", "vllm-auth:proxyImage": "ghcr.io/acme/vllm-auth-proxy:0.1.0", ...HF },
      { secretKeys: Object.keys(HF), cacheDir: cacheDir() },
    );
    expect(load.stderr).not.toMatch(/error:/);
    expect(load.status).toBe(0);
    expect(load.cwd).toBe(path.join(ROOT, "stacks"));
    const deployments = load.resources.filter((r) => r.type === "kubernetes:apps/v1:Deployment");
    expect(deployments.map((d) => (d.inputs.metadata as { name?: string }).name)).toContain("vllm");
    expect(load.unanswered).toEqual([]);
  });

  test("target aws: registers the cluster and builds the proxy image from paths relative to stacks/", () => {
    const load = hostLoad({ "aws:region": "us-east-1", "vllm-auth:target": "aws", ...HF }, { secretKeys: Object.keys(HF), cacheDir: cacheDir() });
    expect(load.stderr).not.toMatch(/error:/);
    expect(load.status).toBe(0);
    expect(load.resources.some((r) => r.type === "aws:eks/cluster:Cluster")).toBe(true);
    const image = registered(load, "docker-build:index:Image", "vllm-proxy-image").inputs;
    // docker-build resolves these from its own working directory, which Pulumi sets to the program's: stacks/.
    expect(image.context).toEqual({ location: ".." });
    expect(image.dockerfile).toEqual({ location: "../proxy/Dockerfile" });
    expect(fs.existsSync(path.join(ROOT, "stacks", "../proxy/Dockerfile"))).toBe(true);
    expect(load.unanswered).toEqual([]);
  });

  test("with the host's type-checking on (tsconfig.json): every file either target loads type-checks", () => {
    // index.ts imports ./existing statically and ./aws for target aws: this load reaches every program file.
    const load = hostLoad(
      { "aws:region": "us-east-1", "vllm-auth:target": "aws", ...HF },
      { secretKeys: Object.keys(HF), tsconfig: "../tsconfig.json", cacheDir: cacheDir() },
    );
    expect(load.stderr).not.toMatch(/TSError|error TS\d+/);
    expect(load.status).toBe(0);
    expect(load.resources.length).toBeGreaterThan(20);
  });
});

describe("the host loader itself", () => {
  test("with checking on, a type error stops the load with TypeScript's message, as pulumi up shows it", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "host-typeerror-"));
    try {
      fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(root, "node_modules"));
      fs.writeFileSync(path.join(root, "package.json"), JSON.stringify({ name: "typeerror", version: "0.0.0" }));
      fs.writeFileSync(path.join(root, "tsconfig.json"), JSON.stringify({ compilerOptions: { strict: true, module: "commonjs", target: "ES2022", types: ["node"] } }));
      fs.writeFileSync(path.join(root, "Pulumi.yaml"), "name: typeerror\nruntime:\n  name: nodejs\n  options:\n    tsconfig: ../tsconfig.json\nmain: prog/index.ts\n");
      fs.mkdirSync(path.join(root, "prog"));
      fs.writeFileSync(path.join(root, "prog", "index.ts"), 'import * as pulumi from "@pulumi/pulumi";\nconst count: number = "two";\nexport const out = pulumi.output(count);\n');
      const load = hostLoad({}, { root, cacheDir: cacheDir() });
      expect(load.status).toBe(32);
      expect(load.stderr).toContain("TSError: ⨯ Unable to compile TypeScript");
      expect(load.stderr).toContain("index.ts(2,7): error TS2322: Type 'string' is not assignable to type 'number'.");
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
