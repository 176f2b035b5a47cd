/**
 * The proxy image installs only what the bundle needs (proxy/package.json and its lock), not the
 * repository's Pulumi providers and tools, so a change to proxy/src rebuilds it in seconds. These
 * tests keep that install set complete and identical to what the repository's tests run.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "../..");
const PROXY = path.join(ROOT, "proxy");

interface PackageJson {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}
interface LockEntry {
  version?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optional?: boolean;
}
interface Lock {
  packages: Record<string, LockEntry>;
}

const readJson = <T>(file: string): T => JSON.parse(fs.readFileSync(file, "utf8")) as T;
const rootPackage = readJson<PackageJson>(path.join(ROOT, "package.json"));
const rootLock = readJson<Lock>(path.join(ROOT, "package-lock.json"));
const proxyPackage = readJson<PackageJson>(path.join(PROXY, "package.json"));
const proxyLock = readJson<Lock>(path.join(PROXY, "package-lock.json"));

/** Every package name proxy/src imports, other than Node's own. */
function importedPackages(dir: string): Set<string> {
  const names = new Set<string>();
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      for (const name of importedPackages(file)) names.add(name);
    } else if (entry.name.endsWith(".ts")) {
      const source = fs.readFileSync(file, "utf8");
      for (const [, spec] of source.matchAll(/(?:from\s+|import\s*\(\s*|require\s*\(\s*)["']([^"'.][^"']*)["']/g)) {
        if (spec.startsWith("node:")) continue;
        names.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]);
      }
    }
  }
  return names;
}

describe("the proxy image's install set", () => {
  test("covers every package proxy/src imports", () => {
    const imported = [...importedPackages(path.join(PROXY, "src"))].sort();
    expect(imported.length).toBeGreaterThan(0);
    for (const name of imported) expect(Object.keys(proxyPackage.dependencies ?? {})).toContain(name);
  });

  test("has the repository's versions, so the image bundles what the tests ran", () => {
    const rootVersions = { ...rootPackage.dependencies, ...rootPackage.devDependencies };
    for (const [name, version] of Object.entries({ ...proxyPackage.dependencies, ...proxyPackage.devDependencies })) {
      expect(`${name}@${version}`).toBe(`${name}@${rootVersions[name]}`);
    }
    const lockRoot = proxyLock.packages[""];
    expect(lockRoot.dependencies).toEqual(proxyPackage.dependencies);
    expect(lockRoot.devDependencies).toEqual(proxyPackage.devDependencies);
    for (const [key, entry] of Object.entries(proxyLock.packages)) {
      if (key === "") continue;
      expect(`${key} ${entry.version} ${entry.integrity}`).toBe(`${key} ${rootLock.packages[key]?.version} ${rootLock.packages[key]?.integrity}`);
    }
  });

  test("is what the Dockerfile installs: its own lock, never the repository's", () => {
    const dockerfile = fs.readFileSync(path.join(PROXY, "Dockerfile"), "utf8");
    const build = dockerfile.split(/^FROM /m)[1];
    expect(build).toMatch(/^COPY proxy\/package\.json proxy\/package-lock\.json \.\/$/m);
    expect(build).toMatch(/^RUN npm ci --ignore-scripts\b/m);
    expect(build).not.toMatch(/^COPY (\.\/)?package(-lock)?\.json/m);
    const ignore = fs.readFileSync(path.join(PROXY, "Dockerfile.dockerignore"), "utf8");
    expect(ignore).toMatch(/^!proxy\/package-lock\.json$/m);
    expect(ignore).not.toMatch(/^!package(-lock)?\.json$/m);
  });

  test("is enough to build the bundle: the Dockerfile's build stage, with only those packages installed", () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "proxy-image-"));
    try {
      // The stage's layout: /src/tsconfig.json and /src/proxy/{package files, build.mjs, src, node_modules}.
      const stage = path.join(work, "proxy");
      fs.mkdirSync(stage);
      fs.copyFileSync(path.join(ROOT, "tsconfig.json"), path.join(work, "tsconfig.json"));
      fs.copyFileSync(path.join(PROXY, "build.mjs"), path.join(stage, "build.mjs"));
      fs.cpSync(path.join(PROXY, "src"), path.join(stage, "src"), { recursive: true });
      // `npm ci` from the lock, offline: the same packages, copied (not linked) so nothing resolves outside.
      for (const key of Object.keys(proxyLock.packages)) {
        if (key === "" || !fs.existsSync(path.join(ROOT, key))) continue;
        fs.cpSync(path.join(ROOT, key), path.join(stage, key), { recursive: true, dereference: true });
      }
      execFileSync(process.execPath, [path.join(stage, "build.mjs")], { cwd: stage, env: { PATH: process.env.PATH ?? "" }, stdio: "pipe" });
      const bundle = fs.readFileSync(path.join(stage, "dist", "server.js"), "utf8");
      expect(bundle.length).toBeGreaterThan(100_000);
      // Bundled, not required at run time: the image ships this one file and no node_modules.
      expect(bundle).not.toMatch(/require\("(undici|prom-client|ioredis)"\)/);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});
