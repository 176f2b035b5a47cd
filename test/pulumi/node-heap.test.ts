/** The V8 heap each proxy container gets from its memory limit, and that Node takes it from NODE_OPTIONS. */
import { execFileSync } from "node:child_process";
import { oldSpaceMiB, proxyMemoryProblem, proxyNodeOptions } from "../../infra/k8s/nodeHeap";
import { memoryBytes } from "../../infra/k8s/quantity";

test("memory quantities are read as Kubernetes reads them, binary and decimal suffixes alike", () => {
  expect(memoryBytes("256Mi")).toBe(256 * 2 ** 20);
  expect(memoryBytes("1Gi")).toBe(2 ** 30);
  expect(memoryBytes("1.5Gi")).toBe(1.5 * 2 ** 30);
  expect(memoryBytes("512M")).toBe(512e6);
  expect(memoryBytes("268435456")).toBe(268435456);
  expect(() => memoryBytes("12GB")).toThrow('memory "12GB" is not a Kubernetes quantity. Write e.g. "256Mi" or "1Gi".');
});

test("the old space is half the container's memory, in whole MiB", () => {
  expect(oldSpaceMiB("256Mi")).toBe(128);
  expect(oldSpaceMiB("1Gi")).toBe(512);
  expect(oldSpaceMiB("300M")).toBe(143);
  expect(proxyNodeOptions("512Mi")).toEqual({ name: "NODE_OPTIONS", value: "--max-old-space-size=256" });
});

test("a container below 128Mi is refused with the size to write, not started to be OOM-killed", () => {
  expect(proxyMemoryProblem("128Mi")).toBeUndefined();
  expect(proxyMemoryProblem("127Mi")).toBe('memory "127Mi" is below the proxy\'s 128Mi (it idles at about 60 MiB). Write e.g. "256Mi".');
  expect(() => oldSpaceMiB("64Mi")).toThrow(/below the proxy's 128Mi/);
  // Not a quantity: the quantity check says so, this one stays silent.
  expect(proxyMemoryProblem("lots")).toBeUndefined();
});

test("node takes the old space from NODE_OPTIONS: the heap limit is that old space plus the young generation", () => {
  const { value } = proxyNodeOptions("256Mi");
  const limitMiB = (env: NodeJS.ProcessEnv): number =>
    Number(execFileSync(process.execPath, ["--max-semi-space-size=8", "-p", "require('v8').getHeapStatistics().heap_size_limit / 1048576"], { env, encoding: "utf8" }));
  const limit = limitMiB({ PATH: process.env.PATH, NODE_OPTIONS: value });
  // 128 MiB of old space and three 8 MiB semi-spaces.
  expect(limit).toBe(128 + 3 * 8);
  expect(limitMiB({ PATH: process.env.PATH })).toBeGreaterThan(limit);
});
