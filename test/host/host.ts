/** Runs test/host/load-program.js: a checkout's program loaded as Pulumi's Node.js host loads it, under mocks. */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export const ROOT = path.resolve(__dirname, "../..");
const LOADER = path.join(__dirname, "load-program.js");

export interface HostResource {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, unknown>;
}

export interface HostLoad {
  /** The loader process's exit status: the host's own (32: the error was already shown, e.g. a TSError). */
  readonly status: number | null;
  readonly stderr: string;
  /** The program's working directory, as the host set it. */
  readonly cwd: string;
  readonly resources: HostResource[];
  /** Provider functions the program called that the loader has no answer for. */
  readonly unanswered: string[];
}

export interface HostLoadOptions {
  readonly root?: string;
  readonly secretKeys?: readonly string[];
  /** The `tsconfig` runtime option instead of Pulumi.yaml's, e.g. `../tsconfig.json` to type-check. */
  readonly tsconfig?: string;
  /** ts-node's cache; a fresh folder is a first preview on a new machine. */
  readonly cacheDir: string;
}

/** A fresh folder for ts-node's cache, removed by the caller. */
export function freshCacheDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "ts-node-cache-"));
}

export function hostLoad(config: Record<string, string>, opts: HostLoadOptions): HostLoad {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "host-load-"));
  try {
    const out = path.join(dir, "out.json");
    const spec = {
      root: opts.root ?? ROOT,
      stack: "dev",
      config,
      secretKeys: opts.secretKeys ?? [],
      dryRun: true,
      out,
      ...(opts.tsconfig !== undefined ? { tsconfig: opts.tsconfig } : {}),
    };
    fs.writeFileSync(path.join(dir, "spec.json"), JSON.stringify(spec));
    const env: NodeJS.ProcessEnv = { ...process.env, TS_NODE_CACHE_DIRECTORY: opts.cacheDir };
    // The host's own switches, as a user's shell would not set them.
    delete env.PULUMI_NODEJS_TRANSPILE_ONLY;
    delete env.TS_NODE_TRANSPILE_ONLY;
    const result = spawnSync(process.execPath, [LOADER, path.join(dir, "spec.json")], { encoding: "utf8", env, timeout: 240_000 });
    const written = fs.existsSync(out)
      ? (JSON.parse(fs.readFileSync(out, "utf8")) as { cwd: string; resources: HostResource[]; unanswered: string[] })
      : { cwd: "", resources: [], unanswered: [] };
    return { status: result.status, stderr: result.stderr, ...written };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The one resource of `type` named `name`. */
export function registered(load: HostLoad, type: string, name: string): HostResource {
  const found = load.resources.find((r) => r.type === type && r.name === name);
  if (found === undefined) {
    const names = load.resources.filter((r) => r.type === type).map((r) => r.name);
    throw new Error(`no ${type} named ${name}; registered: ${names.join(", ") || "none"}; loader stderr:\n${load.stderr}`);
  }
  return found;
}
