/**
 * `npm run gen:config`: writes Pulumi.yaml's `config:` block and the tables of docs/configuration.md
 * from the configuration schema (stacks/configSchema.ts). `-- --check` only reports drift (exit 1).
 */
import * as fs from "fs";
import * as path from "path";
import { generatedFiles } from "../stacks/configReference";

const ROOT = path.resolve(__dirname, "..");
const check = process.argv.includes("--check");
let drift = false;
for (const { file, current, generated } of generatedFiles(ROOT)) {
  if (current === generated) continue;
  drift = true;
  if (check) {
    process.stderr.write(`gen:config: ${file} is out of date with stacks/configSchema.ts; run npm run gen:config\n`);
  } else {
    fs.writeFileSync(path.join(ROOT, file), generated);
    process.stdout.write(`gen:config: wrote ${file}\n`);
  }
}
process.exitCode = check && drift ? 1 : 0;
