// Bundles the proxy into one file, proxy/dist/server.js, which is all the image ships.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
await build({
  entryPoints: [path.join(here, "src", "main.ts")],
  outfile: path.join(here, "dist", "server.js"),
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  minify: false,
  sourcemap: false,
  legalComments: "external",
  logLevel: "warning",
});
