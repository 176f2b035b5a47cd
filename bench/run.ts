/**
 * `npm run bench`: the same workloads against the upstream directly, our proxy and nginx with the
 * seed's configuration, in alternating rounds; prints a table and writes bench/results.md.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describePinning, gitState, method, nginxLogSection, profileSections, proxyLine, settingsLine } from "./describe";
import { imageNodeFlags } from "./imageFlags";
import { ensureNginx } from "./nginx";
import { ensureRedis } from "./redis";
import { parseOptions, QUICK_NOTICE, USAGE, type BenchOptions } from "./options";
import { coreCount, openFileLimit } from "./processes";
import { checks, checksTable, computeFigures, mainTable, renderResults, TARGETS, type Machine } from "./report";
import { emptyCollected, runRows } from "./rounds";
import { deployedNodeOptions, startStack, type Pinning } from "./stack";

const ROOT = path.resolve(__dirname, "..");
const REEXEC_ENV = "VLLM_AUTH_BENCH_REEXEC";
const IDLE_POLL_MS = 30_000;
const IDLE_MAX_POLLS = 30;

const log = (line: string): void => {
  process.stderr.write(`[bench] ${line}\n`);
};

/** 1000 streams hold ~2000 sockets in this process when run directly: raise the limit by re-running under bash. */
function reexecForFiles(opts: BenchOptions): void {
  const needed = 2 * opts.manyStreams + 1_000;
  if (openFileLimit() >= needed) return;
  if (process.env[REEXEC_ENV] === "1") throw new Error(`open-file limit ${openFileLimit()} is below the ${needed} this run needs: raise \`ulimit -n\``);
  log(`open-file limit ${openFileLimit()} < ${needed}: re-running under ulimit -n 65536`);
  const args = [...process.execArgv, ...process.argv.slice(1)];
  const raise = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"';
  const result = spawnSync("bash", ["-c", raise, "bash", process.execPath, ...args], {
    stdio: "inherit",
    env: { ...process.env, [REEXEC_ENV]: "1" },
  });
  process.exit(result.status ?? 1);
}

async function waitForIdle(limit: number): Promise<void> {
  for (let poll = 0; poll < IDLE_MAX_POLLS; poll++) {
    const load = os.loadavg()[0];
    if (load < limit) return;
    log(`1-minute load ${load.toFixed(2)} >= ${limit}: waiting 30 s (${poll + 1}/${IDLE_MAX_POLLS})`);
    await sleep(IDLE_POLL_MS);
  }
  log(`load still ${os.loadavg()[0].toFixed(2)} after ${(IDLE_MAX_POLLS * IDLE_POLL_MS) / 60_000} min: running anyway`);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let opts: BenchOptions | "help";
  try {
    opts = parseOptions(argv);
  } catch (error) {
    process.stderr.write(`npm run bench: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}\n`);
    process.exit(2);
  }
  if (opts === "help") {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  reexecForFiles(opts);
  if (opts.quick) log(QUICK_NOTICE);
  if (opts.idleLoad > 0) await waitForIdle(opts.idleLoad);
  const loadBefore = os.loadavg();
  const proxyBundle = opts.proxyBundle === undefined ? path.join(ROOT, "proxy", "dist", "server.js") : path.resolve(opts.proxyBundle);
  // Read before building: proxy/src may change while the run goes on.
  const sourceState = gitState();
  if (opts.proxyBundle === undefined) {
    log("building the proxy bundle (npm run build)");
    execFileSync(process.execPath, [path.join(ROOT, "proxy", "build.mjs")], { cwd: ROOT, stdio: "inherit" });
  } else if (!existsSync(proxyBundle)) {
    throw new Error(`--proxy-bundle ${opts.proxyBundle}: no such file`);
  }
  const nginxBinary = ensureNginx(log);
  const redisBinary = ensureRedis(log);
  const pin: Pinning = coreCount() >= 2 ? { upstream: 0, front: 1 } : { upstream: undefined, front: undefined };
  const profDir = opts.cpuProfDir === undefined ? undefined : path.resolve(opts.cpuProfDir);
  if (profDir !== undefined) mkdirSync(profDir, { recursive: true });
  const imageFlags = imageNodeFlags();
  const stack = await startStack({ nginxBinary, redisBinary, proxyBundle, proxyFlags: [...imageFlags, ...opts.proxyFlags], pin, profDir });
  const data = emptyCollected();
  let nginxErrors: string[] = [];
  const interrupted = (): void => {
    log("interrupted: stopping the processes");
    void stack.stop().then(() => process.exit(130));
  };
  process.once("SIGINT", interrupted);
  try {
    await runRows(stack, opts, pin, data, log);
    nginxErrors = stack.nginx.errorLines();
  } finally {
    process.off("SIGINT", interrupted);
    await stack.stop();
  }
  const figures = computeFigures(data);
  const list = checks(figures);
  const machine: Machine = {
    cores: coreCount(),
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    node: process.version,
    nginx: stack.nginx.version,
    kernel: os.release(),
    date: new Date().toISOString(),
    command: `npm run bench${argv.length > 0 ? ` -- ${argv.join(" ")}` : ""}`,
    loadBefore,
    pinning: describePinning(pin),
    proxy: proxyLine(opts, sourceState, imageFlags, deployedNodeOptions()),
    settings: settingsLine(opts),
    ...(opts.quick ? { notice: QUICK_NOTICE } : {}),
  };
  const extra = [method(opts), nginxLogSection(nginxErrors), ...profileSections(profDir)];
  const out = path.resolve(ROOT, opts.out);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, renderResults(machine, figures, list, extra));
  process.stdout.write(`\n${mainTable(figures)}\n\n${checksTable(list)}\n\n`);
  process.stdout.write(`${machine.cores} cores, ${machine.cpuModel}, node ${machine.node}, nginx ${machine.nginx}; load before ${loadBefore[0].toFixed(2)}\n`);
  process.stdout.write(`written: ${path.relative(ROOT, out)}\n`);
  if (opts.quick) process.stdout.write(`${QUICK_NOTICE}\n`);
  if (TARGETS.some((t) => data.chat[t].length === 0)) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});

