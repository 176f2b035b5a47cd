import * as path from "path";

/** The repository root: the proxy image's build context (proxy/Dockerfile copies from it). */
const REPO_ROOT = path.resolve(__dirname, "..");

/**
 * A path as an image build's inputs record it: relative to the working directory. Pulumi starts the
 * program and its providers in the same folder (the program's, stacks/), and @pulumi/docker-build diffs
 * context.location as text, so an absolute path would make every other checkout a change: a rebuild,
 * a new digest, and a rollout of every pod that runs the image.
 */
export function portablePath(p: string, cwd: string = process.cwd()): string {
  return path.relative(cwd, p) || ".";
}

/** Where the proxy image is built from: the repository as context, proxy/Dockerfile. */
export interface ProxyBuildPaths {
  readonly context: string;
  readonly dockerfile: string;
}

/** The proxy image's build context and Dockerfile, the same text from any checkout of the repository. */
export function proxyBuildPaths(cwd: string = process.cwd(), root: string = REPO_ROOT): ProxyBuildPaths {
  return { context: portablePath(root, cwd), dockerfile: portablePath(path.join(root, "proxy", "Dockerfile"), cwd) };
}
