/**
 * The same commit checked out at two paths (a laptop, a CI runner) must give the image build the same
 * inputs: @pulumi/docker-build diffs context.location as text, so any path difference is an update,
 * a rebuild, a new digest and a rollout of every pod that runs the proxy.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { proxyBuildPaths } from "../../stacks/buildContext";
import { ROOT, freshCacheDir, hostLoad, registered } from "./host";

// A first load parses every declaration file the program imports: tens of seconds on a busy machine.
jest.setTimeout(240_000);

const COPIED = ["stacks", "infra", "proxy", "package.json", "Pulumi.yaml", "tsconfig.json", "tsconfig.pulumi.json"];
const made: string[] = [];

afterAll(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

/** A copy of the program's files at `relative` under a new temporary folder, sharing this checkout's node_modules. */
function checkoutAt(relative: string): string {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "checkout-"));
  made.push(base);
  const root = path.join(base, relative);
  fs.mkdirSync(root, { recursive: true });
  for (const entry of COPIED) {
    // Build output and a local install of proxy/ are not part of a checkout.
    const skipped = (src: string) => [`${path.sep}dist`, `${path.sep}node_modules`].some((part) => src.includes(part));
    fs.cpSync(path.join(ROOT, entry), path.join(root, entry), { recursive: true, filter: (src) => !skipped(src) });
  }
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(root, "node_modules"));
  return root;
}

describe("the proxy image's build inputs do not depend on where the repository is checked out", () => {
  test("proxyBuildPaths gives the same text for two checkouts run from their stacks/ folders", () => {
    const laptop = proxyBuildPaths("/home/me/src/vllm-auth/stacks", "/home/me/src/vllm-auth");
    const runner = proxyBuildPaths("/home/runner/work/vllm-auth/vllm-auth/stacks", "/home/runner/work/vllm-auth/vllm-auth");
    expect(laptop).toEqual({ context: "..", dockerfile: "../proxy/Dockerfile" });
    expect(runner).toEqual(laptop);
    expect(proxyBuildPaths("/src/vllm-auth", "/src/vllm-auth")).toEqual({ context: ".", dockerfile: "proxy/Dockerfile" });
  });

  test.each([
    ["aws", { "aws:region": "us-east-1", "vllm-auth:target": "aws" }, "vllm-proxy-image"],
    ["existing", { "vllm-auth:target": "existing", "vllm-auth:proxyRegistry": "ghcr.io/acme" }, "vllm-proxy-image"],
  ])("target %s, loaded as pulumi up loads it from two checkout paths: equal image build inputs", (_target, config, image) => {
    const cacheDir = freshCacheDir();
    made.push(cacheDir);
    const [first, second] = [checkoutAt("a/vllm-auth"), checkoutAt("deeper/ci/runner/work/vllm-auth")].map((root) =>
      hostLoad({ ...config, "vllm-auth:hfToken": "hf_testtoken_0123456789" }, { root, secretKeys: ["vllm-auth:hfToken"], cacheDir }),
    );
    for (const load of [first, second]) expect(load.status).toBe(0);
    expect(first.cwd).not.toBe(second.cwd);
    const inputs = [first, second].map((load) => registered(load, "docker-build:index:Image", image).inputs);
    expect(inputs[0].context).toEqual({ location: ".." });
    expect(inputs[1]).toEqual(inputs[0]);
  });
});
