/**
 * The V8 heap a proxy container runs with, from its memory limit. Node sizes its old space from the
 * container's limit (`uv_get_constrained_memory`, nodejs/node src/api/environment.cc) but not below
 * V8's own minimum: in a 256 MiB memory cgroup Node 20 reports a 256 MiB old space
 * (`v8.getHeapStatistics()`), the whole container, so V8 may fill it before it must collect and the
 * kernel's OOM killer acts first. An explicit old space, set the same way by the deployment and the
 * benchmark (`bench/stack.ts`), makes the heap the one measured, whatever Node's derivation.
 */
import { memoryBytes, QUANTITY } from "./quantity";

const MIB = 1024 * 1024;

/** Half the memory limit for V8's old space: the rest holds code, the young generation and buffers (request bodies, sockets). */
const OLD_SPACE_SHARE = 0.5;
/** The least memory a proxy container gets: the proxy alone idles at about 60 MiB RSS. */
const PROXY_MIN_MEMORY_MIB = 128;

/** Why `mib` of memory is too small for a proxy container, or undefined when it is enough. */
function tooSmall(quantity: string, mib: number): string | undefined {
  if (mib >= PROXY_MIN_MEMORY_MIB) return undefined;
  return `memory "${quantity}" is below the proxy's ${PROXY_MIN_MEMORY_MIB}Mi (it idles at about 60 MiB). Write e.g. "256Mi".`;
}

/** Why a proxy container's memory is too small to run in, or undefined when it is enough (or not a quantity: said elsewhere). */
export function proxyMemoryProblem(quantity: string): string | undefined {
  return QUANTITY.test(quantity.trim()) ? tooSmall(quantity, memoryBytes(quantity) / MIB) : undefined;
}

/** V8's old space, in MiB, for a proxy container with this memory limit. */
export function oldSpaceMiB(memory: string): number {
  const mib = memoryBytes(memory) / MIB;
  const problem = tooSmall(memory, mib);
  if (problem !== undefined) throw new Error(problem);
  return Math.floor(mib * OLD_SPACE_SHARE);
}

/**
 * `NODE_OPTIONS` for a proxy container: `--max-old-space-size` is one of the V8 options Node accepts
 * there (nodejs.org/api/cli.html#node_optionsoptions). The image's ENTRYPOINT flags still apply.
 */
export function proxyNodeOptions(memory: string): { readonly name: "NODE_OPTIONS"; readonly value: string } {
  return { name: "NODE_OPTIONS", value: `--max-old-space-size=${oldSpaceMiB(memory)}` };
}
