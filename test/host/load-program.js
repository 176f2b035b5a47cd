// @ts-check
/**
 * Loads a checkout's Pulumi program the way Pulumi's Node.js language host does, under mocks, and
 * writes what it registered to a JSON file. The host (pulumi-language-nodejs, execRuntime) starts
 * `node @pulumi/pulumi/cmd/run --pwd <program folder> <entry point>` with PULUMI_NODEJS_TYPESCRIPT=true
 * and the `tsconfig` runtime option as PULUMI_NODEJS_TSCONFIG_PATH; cmd/run calls run() of
 * cmd/run/run.js, which changes to that folder, registers ts-node (the vendored 7.0.1 unless the project
 * installs one) with the project's TypeScript, type-checking unless told not to, and requires the
 * entry point. This runs that same cmd/run, with a mock monitor in place of the engine's.
 *
 *   node test/host/load-program.js <spec.json>
 *   spec: { root, stack, config, secretKeys, dryRun, out, tsconfig? }
 *   tsconfig: the `tsconfig` runtime option to use instead of Pulumi.yaml's.
 *
 * Plain JavaScript on purpose: a TypeScript loader (tsx, ts-node) in this process would change what
 * is being measured.
 */
"use strict";
const fs = require("fs");
const path = require("path");

/** Provider functions the aws target calls: the same placeholder answers as `npm run render` gives. */
const CALLS = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "stacks", "placeholderCalls.json"), "utf8"));

/** Letters and digits of the asked length, as RandomPassword's result is (API keys check their alphabet). */
function placeholderPassword(name, length) {
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  const digest = require("node:crypto").createHash("sha256").update(name).digest();
  return Array.from({ length: Number(length) || 32 }, (_, i) => alphabet[digest[i % digest.length] % alphabet.length]).join("");
}

/** Outputs only a real deployment computes, as placeholders. */
function state(type, name, inputs) {
  const out = { ...inputs };
  if (type === "random:index/randomPassword:RandomPassword") out.result = placeholderPassword(name, inputs.length);
  if (type === "random:index/randomId:RandomId") out.hex = `${inputs.prefix ?? ""}0a1b2c3d`;
  if (type === "aws:eks/cluster:Cluster") {
    out.name = name;
    out.arn = `arn:aws:eks:us-east-1:123456789012:cluster/${name}`;
  }
  if (type === "aws:iam/role:Role") {
    out.name = name;
    out.arn = `arn:aws:iam::123456789012:role/${name}`;
  }
  if (type === "kubernetes:core/v1:Service") out.status = { loadBalancer: { ingress: [{ hostname: "lb.example.com" }] } };
  if (type === "docker-build:index:Image") out.digest = `sha256:${"0".repeat(64)}`;
  if (type === "aws:ecr/repository:Repository") {
    out.repositoryUrl = `123456789012.dkr.ecr.us-east-1.amazonaws.com/${name}`;
    out.registryId = "123456789012";
  }
  return out;
}

async function main() {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const root = spec.root;
  const fromRoot = (/** @type {string} */ id) => require(require.resolve(id, { paths: [root] }));
  const YAML = fromRoot("yaml");
  const project = YAML.parse(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8"));

  // The engine's getPwdMain (pkg/engine/project.go): a file `main` runs from its folder, as its base name.
  const main = path.resolve(root, project.main ?? ".");
  const isDirectory = fs.statSync(main).isDirectory();
  const pwd = isDirectory ? main : path.dirname(main);
  const entryPoint = isDirectory ? "." : path.basename(main);

  // pulumi-language-nodejs parseOptions: typescript defaults to true; tsconfig is passed as it is written.
  const options = (project.runtime && project.runtime.options) || {};
  for (const key of ["PULUMI_NODEJS_TYPESCRIPT", "PULUMI_NODEJS_TSCONFIG_PATH"]) delete process.env[key];
  if (options.typescript !== false) process.env.PULUMI_NODEJS_TYPESCRIPT = "true";
  const tsconfig = spec.tsconfig ?? options.tsconfig;
  if (typeof tsconfig === "string") process.env.PULUMI_NODEJS_TSCONFIG_PATH = tsconfig;

  const pulumi = fromRoot("@pulumi/pulumi");
  const resources = [];
  const unanswered = [];
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        resources.push({ type: args.type, name: args.name, inputs: args.inputs });
        return { id: `${args.name}-id`, state: state(args.type, args.name, args.inputs) };
      },
      call: (args) => {
        const answer = CALLS[args.token];
        if (answer === undefined) unanswered.push(args.token);
        return answer ?? {};
      },
    },
    project.name,
    spec.stack,
    spec.dryRun === true,
  );
  pulumi.runtime.setAllConfig(spec.config, spec.secretKeys);
  // The engine's monitor answers the host's last call, the shutdown signal; the SDK's mock has no such method.
  const { MockMonitor } = fromRoot("@pulumi/pulumi/runtime/mocks");
  MockMonitor.prototype.signalAndWaitForShutdown = (_request, callback) => callback(null, {});

  // The host's own entry module, with the arguments the host gives it; --monitor names the mock above.
  const runIndex = require.resolve("@pulumi/pulumi/cmd/run", { paths: [root] });
  process.argv = [process.argv[0], runIndex, "--monitor", "mock", "--project", project.name, "--stack", spec.stack, "--pwd", pwd];
  if (spec.dryRun === true) process.argv.push("--dry-run");
  process.argv.push(entryPoint);
  const started = process.hrtime.bigint();
  require(runIndex);
  process.on("exit", (code) => {
    const ranMs = Number(process.hrtime.bigint() - started) / 1e6;
    const exitCode = process.exitCode ?? code;
    fs.writeFileSync(spec.out, JSON.stringify({ cwd: process.cwd(), exitCode, ranMs, resources, unanswered }));
  });
}

main().catch((err) => {
  process.stderr.write(`load-program: ${err && err.stack ? err.stack : String(err)}\n`);
  process.exit(1);
});
