/** The bench runs the proxy with the image's node flags, read from the Dockerfile, so that it measures what ships. */
import { readFileSync } from "node:fs";
import { DOCKERFILE, imageNodeFlags } from "../../bench/imageFlags";

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
