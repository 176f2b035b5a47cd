/**
 * `npm run --silent render [-- --stack dev] [--target existing] [--out FILE]`: the Kubernetes manifests
 * the program would apply, as multi-document YAML, by running the program under Pulumi's mocks: no
 * cluster, no cloud account, no Pulumi CLI. Secret values are placeholders the API server refuses;
 * values only a real deployment knows (load balancer address, image digest) are placeholders too.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import type * as PulumiModule from "@pulumi/pulumi";
import { flagsTakenByNpm, npmTookFlagsMessage } from "../scripts/npmFlags";
import { CONFIG_NAMESPACE } from "./config";
import { Manifest, REDACTED, safeManifestOf, sortManifests } from "./manifests";
import placeholderCalls from "./placeholderCalls.json";
import { stackFile } from "./stackFiles";

const ROOT = path.resolve(__dirname, "..");

/** Config as the CLI hands it to the program: fully qualified keys, text values. */
export interface RenderConfig {
  readonly values: Record<string, string>;
  readonly secretKeys: string[];
}

function configText(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Project defaults from Pulumi.yaml, overlaid with the stack file, with secure values redacted. */
export function readStackConfig(projectFile: string, stackFile: string | undefined): RenderConfig {
  const project = YAML.parse(fs.readFileSync(projectFile, "utf8")) as { name: string; config?: Record<string, unknown> };
  const values: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, decl] of Object.entries(project.config ?? {})) {
    const fullKey = key.includes(":") ? key : `${project.name}:${key}`;
    const declared = decl as { default?: unknown; value?: unknown } | string | number | boolean;
    const value = typeof declared === "object" && declared !== null ? (declared.default ?? declared.value) : declared;
    if (value !== undefined) {
      values[fullKey] = configText(value);
    }
  }
  if (stackFile !== undefined && fs.existsSync(stackFile)) {
    const stack = YAML.parse(fs.readFileSync(stackFile, "utf8")) as { config?: Record<string, unknown> } | null;
    for (const [key, value] of Object.entries(stack?.config ?? {})) {
      const fullKey = key.includes(":") ? key : `${project.name}:${key}`;
      if (value !== null && typeof value === "object" && "secure" in value) {
        // Decrypting needs the CLI and the passphrase; the rendered output redacts secrets anyway.
        values[fullKey] = REDACTED;
        secretKeys.push(fullKey);
      } else {
        values[fullKey] = configText(value);
      }
    }
  }
  return { values, secretKeys };
}

/** Answers for the provider functions the aws target calls; placeholders, since nothing is queried. */
const PLACEHOLDER_CALLS: Readonly<Record<string, Record<string, unknown>>> = placeholderCalls;

/** Outputs a real deployment would compute, shown as placeholders. */
function placeholderState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const state: Record<string, unknown> = { ...inputs };
  switch (type) {
    case "random:index/randomPassword:RandomPassword":
      // Letters of the asked length, so code that formats a key from it runs; Secrets print redacted anyway.
      state.result = "X".repeat(typeof inputs.length === "number" ? inputs.length : 48);
      break;
    case "kubernetes:core/v1:Service":
      state.status = { loadBalancer: { ingress: [{ hostname: "<load balancer address>" }] } };
      break;
    case "docker-build:index:Image":
      state.digest = `sha256:${"0".repeat(64)}`;
      break;
    case "aws:ecr/repository:Repository":
      state.repositoryUrl = `123456789012.dkr.ecr.us-east-1.amazonaws.com/${name}`;
      state.registryId = "123456789012";
      break;
    case "aws:eks/cluster:Cluster":
      state.name = name;
      state.arn = `arn:aws:eks:us-east-1:123456789012:cluster/${name}`;
      break;
    case "aws:iam/role:Role":
      state.name = name;
      state.arn = `arn:aws:iam::123456789012:role/${name}`;
      break;
    case "random:index/randomId:RandomId":
      state.hex = "<discovery id>";
      break;
  }
  return state;
}

export interface RenderOptions {
  readonly stack: string;
  /** Overrides `vllm-auth:target`. */
  readonly target?: "aws" | "existing";
}

/** Runs the program under mocks and returns the Kubernetes objects it registers, secrets redacted. */
export async function renderManifests(options: RenderOptions): Promise<Manifest[]> {
  const pulumi = require("@pulumi/pulumi") as typeof PulumiModule;
  const config = readStackConfig(path.join(ROOT, "Pulumi.yaml"), stackFile(ROOT, options.stack));
  if (options.target !== undefined) {
    config.values[`${CONFIG_NAMESPACE}:target`] = options.target;
  }
  const manifests: Manifest[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        const manifest = safeManifestOf(args.type, args.inputs, args.name);
        if (manifest !== undefined) {
          manifests.push(manifest);
        }
        return { id: `${args.name}-id`, state: placeholderState(args.type, args.name, args.inputs) };
      },
      call: (args) => PLACEHOLDER_CALLS[args.token] ?? {},
    },
    CONFIG_NAMESPACE,
    options.stack,
    false,
  );
  pulumi.runtime.setAllConfig(config.values, config.secretKeys);

  const program = require("./index") as Record<string, unknown>;
  await Promise.all(
    Object.values(program)
      .filter((v): v is PulumiModule.Output<unknown> => pulumi.Output.isInstance(v))
      .map((o) => new Promise((resolve) => o.apply(resolve))),
  );
  await pulumi.runtime.disconnect();
  return sortManifests(manifests);
}

/** Multi-document YAML, one object per document. */
export function toYaml(manifests: readonly Manifest[]): string {
  return manifests.map((m) => YAML.stringify(m, { lineWidth: 0 })).join("---\n");
}

/** The comment that opens every rendering: what it is, and why applying it by mistake fails. */
export function previewHeader(stack: string): string {
  return [
    `# A preview of stack ${stack}, rendered by npm run render under mocks: no cluster, cloud or Pulumi state was read.`,
    "# Deploy with `pulumi up`, not by applying this file. Secret values are placeholders (\"<redacted>\", not base64)",
    "# that the API server refuses; load balancer addresses and image digests are placeholders too.",
    "",
  ].join("\n");
}

export const RENDER_USAGE = `usage: npm run --silent render -- [--stack dev] [--target aws|existing] [--out FILE]

Prints the Kubernetes objects the stack would create, as multi-document YAML, without a cluster or
the Pulumi CLI. --silent keeps npm's own banner out of the YAML; --out FILE writes it to FILE instead.
  --stack, -s NAME   the stack whose Pulumi.<NAME>.yaml to read (default: $PULUMI_STACK, else dev)
  --target T         aws or existing, instead of the stack's vllm-auth:target
  --out FILE         write the YAML to FILE
  --help, -h         this help`;

export interface RenderCommand extends RenderOptions {
  readonly out?: string;
}

/** The command line of `npm run render`, or "help". */
export function parseRenderArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): RenderCommand | "help" {
  const taken = flagsTakenByNpm("render", ["stack", "target", "out"], env);
  if (taken.length > 0) {
    throw new Error(npmTookFlagsMessage("render", taken, argv, () => true, "npm run --silent"));
  }
  let stack = env.PULUMI_STACK || "dev";
  let target: RenderOptions["target"];
  let out: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") {
      return "help";
    } else if (arg === "--stack" || arg === "-s") {
      stack = argv[++i] ?? "";
    } else if (arg === "--target") {
      const value = argv[++i];
      if (value !== "aws" && value !== "existing") {
        throw new Error(`--target must be aws or existing, got ${String(value)}`);
      }
      target = value;
    } else if (arg === "--out") {
      out = argv[++i];
      if (out === undefined || out === "" || out.startsWith("-")) {
        throw new Error("--out needs a file name, e.g. --out rendered.yaml");
      }
    } else {
      throw new Error(`unknown argument ${arg}; ${RENDER_USAGE.split("\n")[0]}`);
    }
  }
  if (!/^[A-Za-z0-9._-]+$/.test(stack)) {
    throw new Error(`--stack needs a stack name, got "${stack}"`);
  }
  return { stack, ...(target !== undefined ? { target } : {}), ...(out !== undefined ? { out } : {}) };
}

async function main(): Promise<void> {
  const command = parseRenderArgs(process.argv.slice(2));
  if (command === "help") {
    process.stdout.write(`${RENDER_USAGE}\n`);
    return;
  }
  const manifests = await renderManifests(command);
  const text = previewHeader(command.stack) + toYaml(manifests);
  if (command.out === undefined && process.env.npm_lifecycle_event === "render" && process.env.npm_config_loglevel !== "silent" && !process.stdout.isTTY) {
    // npm has already written its "> vllm-auth@... render" banner to this file or pipe, ahead of the YAML.
    process.stderr.write("render: npm printed its banner ahead of the YAML; for a file or a pipe use npm run --silent render, or -- --out FILE\n");
  }
  if (command.out === undefined) {
    process.stdout.write(text);
    return;
  }
  fs.writeFileSync(command.out, text);
  process.stderr.write(`render: wrote ${manifests.length} objects to ${command.out}\n`);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`render: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
