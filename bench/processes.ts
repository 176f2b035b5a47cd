/** Child processes of the benchmark: spawning pinned to a core, reading their CPU time and memory from /proc. */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import { setTimeout as sleep } from "node:timers/promises";

export interface Child {
  readonly name: string;
  readonly pid: number;
  /** The last lines the process wrote (stdout and stderr), for error messages. */
  readonly tail: string[];
  /** Resolves with the first stdout line for which `pick` returns a value. */
  waitForLine<T>(pick: (line: string) => T | undefined, timeoutMs: number): Promise<T>;
  /** Writes one line to the process's stdin (spawned with `stdin: true`). */
  send(line: string): void;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface SpawnOptions {
  /** The core to pin to with taskset; undefined leaves the process unpinned. */
  readonly cpu?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** `nice -n N`: a load generator that must yield to the processes it shares a core with. */
  readonly nice?: number;
  /** Keep a pipe to the process's stdin (commands as lines). */
  readonly stdin?: boolean;
}

const TAIL_LINES = 40;
const FILE_LIMIT = 65536;

/** Online cores (like `nproc` before any pinning; this process narrows its own affinity later). */
export function coreCount(): number {
  return os.cpus().length;
}

/** `taskset -c CPU bash -c 'ulimit -n 65536; exec "$@"'`: the pid we get is the final program's. */
export function spawnChild(name: string, command: string, args: readonly string[], options: SpawnOptions = {}): Child {
  const raise = `ulimit -n ${FILE_LIMIT} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"`;
  const niced = options.nice === undefined ? [command, ...args] : ["nice", "-n", String(options.nice), command, ...args];
  const wrapped = ["bash", "-c", raise, "bash", ...niced];
  const argv = options.cpu === undefined ? wrapped : ["taskset", "-c", String(options.cpu), ...wrapped];
  const stdin = options.stdin === true ? "pipe" : "ignore";
  const proc = spawn(argv[0], argv.slice(1), { env: options.env ?? process.env, cwd: options.cwd, stdio: [stdin, "pipe", "pipe"] });
  if (proc.pid === undefined) throw new Error(`${name}: could not spawn ${command}`);
  return wrapChild(name, proc, proc.pid);
}

function wrapChild(name: string, proc: ChildProcess, pid: number): Child {
  const tail: string[] = [];
  const listeners = new Set<(line: string) => void>();
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) => {
    proc.once("exit", (code) => {
      exitCode = code;
      resolve();
    });
  });
  const onLines = (stream: NodeJS.ReadableStream | null, notify: boolean): void => {
    let partial = "";
    stream?.setEncoding("utf8");
    stream?.on("data", (text: string) => {
      const lines = (partial + text).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
        if (notify) for (const listener of [...listeners]) listener(line);
      }
    });
  };
  onLines(proc.stdout, true);
  onLines(proc.stderr, false);

  const waitForLine = <T>(pick: (line: string) => T | undefined, timeoutMs: number): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        listeners.delete(listener);
      };
      const listener = (line: string): void => {
        const value = pick(line);
        if (value === undefined) return;
        done();
        resolve(value);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${name}: no start-up line within ${timeoutMs} ms; last output:\n${tail.join("\n")}`));
      }, timeoutMs);
      void exited.then(() => {
        if (!listeners.has(listener)) return;
        done();
        reject(new Error(`${name} exited (code ${String(exitCode)}); last output:\n${tail.join("\n")}`));
      });
      listeners.add(listener);
    });

  const stop = async (signal: NodeJS.Signals = "SIGTERM"): Promise<void> => {
    if (exitCode !== undefined) return;
    proc.kill(signal);
    const timer = sleep(10_000).then(() => "timeout" as const);
    if ((await Promise.race([exited.then(() => "exited" as const), timer])) === "timeout") {
      proc.kill("SIGKILL");
      await exited;
    }
  };
  const send = (line: string): void => {
    if (proc.stdin === null) throw new Error(`${name}: spawned without a stdin pipe`);
    proc.stdin.write(`${line}\n`);
  };
  proc.stdin?.on("error", () => undefined);
  return { name, pid, tail, waitForLine, send, stop };
}

/** utime + stime of one process, in clock ticks (fields 14 and 15 of /proc/<pid>/stat). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name may hold spaces and parentheses: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

let ticksPerSecond: number | undefined;

/** CLK_TCK (100 on Linux): the unit of /proc/<pid>/stat times. */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** CPU seconds used so far by a group of processes (nginx: master and worker). */
export function cpuSeconds(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + cpuTicks(pid), 0) / clockTicksPerSecond();
}

export interface Memory {
  /** Resident set size now, MB. */
  readonly rssMb: number;
  /** Peak resident set size since the process started (VmHWM), MB. */
  readonly hwmMb: number;
}

/** VmRSS and VmHWM summed over a group of processes. */
export function memory(pids: readonly number[]): Memory {
  let rss = 0;
  let hwm = 0;
  for (const pid of pids) {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    rss += Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
    hwm += Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
  }
  return { rssMb: rss / 1024, hwmMb: hwm / 1024 };
}

/** Direct children of a process (nginx's worker), from /proc/<pid>/task/<pid>/children. */
export function childPids(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    return text === "" ? [] : text.split(/\s+/).map(Number);
  } catch {
    return [];
  }
}

/** Moves every thread of this process to one core (the load generator follows the workload). */
export function pinSelf(cpu: number | undefined): void {
  if (cpu === undefined) return;
  execFileSync("taskset", ["-a", "-p", "-c", String(cpu), String(process.pid)], { stdio: "ignore" });
}

/** The soft limit on open files of this process. */
export function openFileLimit(): number {
  const limits = readFileSync("/proc/self/limits", "utf8");
  const soft = /^Max open files\s+(\S+)/m.exec(limits)?.[1];
  return soft === undefined || soft === "unlimited" ? Number.POSITIVE_INFINITY : Number(soft);
}

/** A port that was free a moment ago (for nginx, whose configuration needs fixed ports). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls until something accepts connections on the port, at most `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: "127.0.0.1", port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

/** One line of a child's stdout as a JSON object, or undefined for anything else. */
export function jsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith("{")) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
}
