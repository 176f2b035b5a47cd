/** What npm itself does with `npm run local --port 9000`, and that the script notices. */
import { spawnSync } from "node:child_process";
import { REPO_ROOT } from "./local-cli";

test("npm run local --port 9000 (no --) stops at once with the command to type instead", () => {
  const result = spawnSync("npm", ["run", "local", "--port", "9000"], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
    timeout: 60_000,
  });
  expect(result.stderr).toContain("npm run local: npm took --port for itself");
  expect(result.stderr).toContain("write npm run local -- --port 9000");
  expect(result.status).toBe(2);
});
