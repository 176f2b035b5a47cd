/** Drives `npm run local` as a user does: spawn it, read what it prints, paste its commands into bash, press Ctrl-C. */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface LocalProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  readonly exited: Promise<Exit>;
  /** Resolves with stdout once the banner is complete ("Press Ctrl-C to stop."). */
  banner(timeoutMs?: number): Promise<string>;
  /** Ctrl-C: SIGINT to the whole process group (npm, sh, tsx and node), as a terminal sends it. */
  interrupt(): void;
  /** SIGKILL to the group if anything is still running. */
  kill(): void;
}

/** `npm run local -- ...args` in its own process group, so a test can press Ctrl-C on all of it. */
export function spawnLocal(args: readonly string[]): LocalProcess {
  const child = spawn("npm", ["run", "local", "--", ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  let err = "";
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const waiter of [...waiters]) waiter();
  };
  child.stdout?.setEncoding("utf8");
  child.stderr?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    out += chunk;
    wake();
  });
  child.stderr?.on("data", (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<Exit>((resolve) => {
    child.once("close", (code, signal) => {
      resolve({ code, signal });
      wake();
    });
  });
  const group = (signal: NodeJS.Signals): void => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // the group is gone already
    }
  };
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    banner: (timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(attempt);
          reject(new Error(`no banner within ${timeoutMs} ms; stdout: ${out}; stderr: ${err}`));
        }, timeoutMs);
        const attempt = (): void => {
          if (out.includes("Press Ctrl-C to stop.")) {
            clearTimeout(timer);
            waiters.delete(attempt);
            resolve(out);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            waiters.delete(attempt);
            reject(new Error(`npm run local exited (${child.exitCode ?? child.signalCode}) before its banner; stderr: ${err}`));
          }
        };
        waiters.add(attempt);
        attempt();
      }),
    interrupt: () => group("SIGINT"),
    kill: () => group("SIGKILL"),
  };
}

export interface Banner {
  readonly endpoint: string;
  readonly redirect?: string;
  readonly token: string;
  readonly tokensFile: string;
  readonly model: string;
  readonly metricsUrl: string;
  /** The printed curl commands, in order, exactly as printed (with their `\` continuations). */
  readonly commands: readonly string[];
  /** The `export NAME=value` lines. */
  readonly exports: Readonly<Record<string, string>>;
}

/** Reads the `  name   value` lines, the curl blocks and the export lines from what was printed. */
export function parseBanner(text: string): Banner {
  const lines = text.split("\n");
  const field = (name: string): string | undefined => {
    const line = lines.find((l) => new RegExp(`^  ${name} +\\S`).test(l));
    return line?.trim().split(/\s+/)[1];
  };
  const required = (name: string): string => {
    const value = field(name);
    if (value === undefined) throw new Error(`the banner has no "${name}" line:\n${text}`);
    return value;
  };
  const commands: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith("curl ")) continue;
    const block = [lines[i]];
    while (block[block.length - 1].endsWith(" \\") && i + 1 < lines.length) block.push(lines[++i]);
    commands.push(block.join("\n"));
  }
  const exports: Record<string, string> = {};
  for (const line of lines) {
    const match = /^export ([A-Z_]+)=(.*)$/.exec(line);
    if (match !== null) exports[match[1]] = match[2];
  }
  return {
    endpoint: required("endpoint"),
    redirect: field("redirect"),
    token: required("token"),
    tokensFile: required("tokens"),
    model: required("model"),
    metricsUrl: required("metrics"),
    commands,
    exports,
  };
}

export interface Pasted {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a printed command through bash exactly as pasted, with the real curl and no ~/.curlrc or proxy settings. */
export function paste(command: string, home: string): Promise<Pasted> {
  return new Promise((resolve, reject) => {
    execFile(
      "/bin/bash",
      ["-c", command],
      { env: { PATH: "/usr/bin:/bin", HOME: home }, timeout: 10_000, encoding: "utf8" },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== "number") {
          reject(error);
          return;
        }
        resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr });
      },
    );
  });
}

/** "connected" while something listens on `port`, else the connect error's code. */
export function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"));
  });
}

/** Splits `host:port` (IPv4 or a bracketed IPv6 address). */
export function hostPort(endpoint: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(endpoint);
  if (match === null) throw new Error(`not host:port: ${endpoint}`);
  return { host: match[1], port: Number(match[2]) };
}
