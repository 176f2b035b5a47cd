/** The bench runs the proxy with the image's node flags (read from the Dockerfile) and the deployment's NODE_OPTIONS: it measures what ships. */
import { readFileSync } from "node:fs";
import { DOCKERFILE, imageNodeFlags } from "../../bench/imageFlags";
import { DEPLOYED_HEAP, deployedNodeOptions } from "../../bench/stack";

test("the bench's proxy flags are the ones between node and the script in proxy/Dockerfile's ENTRYPOINT", () => {
  const entrypoint = /^ENTRYPOINT (.*)$/m.exec(readFileSync(DOCKERFILE, "utf8"))?.[1];
  expect(entrypoint).toBe('["node", "--max-semi-space-size=8", "/app/server.js"]');
  expect(imageNodeFlags()).toEqual(["--max-semi-space-size=8"]);
});

test("an image without flags gives none", () => {
  expect(imageNodeFlags('FROM x\nENTRYPOINT ["node", "/app/server.js"]\n')).toEqual([]);
});

test("a shell-form or non-node ENTRYPOINT is refused with what to write instead", () => {
  expect(() => imageNodeFlags("ENTRYPOINT node /app/server.js\n")).toThrow(/exec-form ENTRYPOINT \["node", \.\.\., "\/app\/server.js"\]/);
  expect(() => imageNodeFlags('ENTRYPOINT ["/bin/sh", "-c", "node /app/server.js"]\n')).toThrow(/must be \["node", \.\.\.flags, script\]/);
});

test("the bench's proxies get the NODE_OPTIONS the deployment sets for the default memory of each role", () => {
  // The Pulumi program gives the default 256Mi gateway and sidecar this value (test/pulumi/existing-variants.test.ts).
  expect(DEPLOYED_HEAP).toEqual({ gateway: { NODE_OPTIONS: "--max-old-space-size=128" }, sidecar: { NODE_OPTIONS: "--max-old-space-size=128" } });
  expect(deployedNodeOptions()).toBe("--max-old-space-size=128");
});
