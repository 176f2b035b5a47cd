/** The node flags the proxy image runs with, read from its Dockerfile: the bench measures what ships. */
import { readFileSync } from "node:fs";
import path from "node:path";

export const DOCKERFILE = path.resolve(__dirname, "..", "proxy", "Dockerfile");

/** The flags between `node` and the script in the exec-form ENTRYPOINT, e.g. `["node", "--flag", "/app/server.js"]`. */
export function imageNodeFlags(dockerfile: string = readFileSync(DOCKERFILE, "utf8")): string[] {
  const line = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile)?.[1];
  if (line === undefined) throw new Error(`${DOCKERFILE}: no exec-form ENTRYPOINT ["node", ..., "/app/server.js"] to read the proxy's node flags from`);
  const argv: unknown = JSON.parse(line);
  if (!Array.isArray(argv) || argv.length < 2 || argv[0] !== "node" || !argv.every((arg) => typeof arg === "string")) {
    throw new Error(`${DOCKERFILE}: ENTRYPOINT must be ["node", ...flags, script], got ${line}`);
  }
  return (argv as string[]).slice(1, -1);
}
