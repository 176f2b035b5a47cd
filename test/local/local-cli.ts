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

export interface BannerReplica {
  readonly index: number;
  /** host:port of the sidecar. */
  readonly sidecar: string;
  /** "emulator" or "your server". */
  readonly kind: string;
  readonly upstream: string;
  readonly metricsUrl: string;
}

/** A printed command and the `#` comment lines right above it. */
export interface Commented {
  readonly comment: string;
  readonly command: string;
}

export interface Banner {
  readonly endpoint: string;
  readonly redirect?: string;
  /** The credential in the seed's commands: the first key, or the first token of --token-file. */
  readonly token: string;
  /** Generated keys by name, in the printed order. */
  readonly keys: Readonly<Record<string, string>>;
  readonly keysFile?: string;
  readonly tokensFile?: string;
  readonly model: string;
  readonly metricsUrl: string;
  readonly replicas: readonly BannerReplica[];
  /** The printed commands, in order, exactly as printed (with their `\` continuations and loops). */
  readonly commands: readonly string[];
  readonly commented: readonly Commented[];
  /** The `export NAME=value` lines. */
  readonly exports: Readonly<Record<string, string>>;
}

/** The end of a command that starts on `lines[i]`: `\` continuations, and a loop up to its `done`. */
function commandEnd(lines: readonly string[], i: number): number {
  const loop = /^(\( )?for /.test(lines[i]);
  let j = i;
  while (j + 1 < lines.length && (lines[j].endsWith(" \\") || (loop && !/^done\b/.test(lines[j])))) j++;
  return j;
}

/** Reads the `  name   value` lines, the command blocks and the export lines from what was printed. */
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
  const keys: Record<string, string> = {};
  for (const line of lines) {
    const match = /^  key +([a-z0-9-]+) +(vllmauth_\S+)/.exec(line);
    if (match !== null) keys[match[1]] = match[2];
  }
  const replicas: BannerReplica[] = [];
  for (const line of lines) {
    const match = /^  replica (\d+) +sidecar (\S+) -> (emulator|your server) (\S+) +\(sidecar metrics (\S+)\)$/.exec(line);
    if (match !== null) replicas.push({ index: Number(match[1]), sidecar: match[2], kind: match[3], upstream: match[4], metricsUrl: match[5] });
  }
  const commands: string[] = [];
  const commented: Commented[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^(curl |for |\( for )/.test(lines[i])) continue;
    const comment: string[] = [];
    for (let k = i - 1; k >= 0 && lines[k].startsWith("#"); k--) comment.unshift(lines[k]);
    const end = commandEnd(lines, i);
    const command = lines.slice(i, end + 1).join("\n");
    commands.push(command);
    commented.push({ comment: comment.join("\n"), command });
    i = end;
  }
  const exports: Record<string, string> = {};
  for (const line of lines) {
    const match = /^export ([A-Z_]+)=(.*)$/.exec(line);
    if (match !== null) exports[match[1]] = match[2];
  }
  const firstKey = Object.values(keys)[0];
  return {
    endpoint: required("endpoint"),
    redirect: field("redirect"),
    token: firstKey ?? required("token"),
    keys,
    keysFile: field("keys"),
    tokensFile: field("tokens"),
    model: required("model"),
    metricsUrl: required("metrics"),
    replicas,
    commands,
    commented,
    exports,
  };
}

/** The printed command whose comment matches `pattern`; throws when there is none. */
export function commandFor(banner: Banner, pattern: RegExp): string {
  const found = banner.commented.find((c) => pattern.test(c.comment));
  if (found === undefined) throw new Error(`no printed command under a comment matching ${pattern}`);
  return found.command;
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
      { env: { PATH: "/usr/bin:/bin", HOME: home }, timeout: 20_000, encoding: "utf8" },
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

/** The seed README's three commands, with the endpoint, token and model as placeholders. */
export const seedText = (endpoint: string, token: string, model: string): string[] => {
  const body = `'{"model": "${model}", "messages": [{"role": "user", "content": "Who are you?"}]}'`;
  return [
    `curl -L http://${endpoint}/v1/models`,
    `curl -L http://${endpoint}/v1/chat/completions \\\n    -X POST \\\n    -H 'Content-Type: application/json' \\\n    -d ${body}`,
    `curl --location-trusted http://${endpoint}/v1/chat/completions \\\n    -H "Authorization: Bearer ${token}" \\\n    -X POST \\\n    -H 'Content-Type: application/json' \\\n    -d ${body}`,
  ];
};

interface Completion {
  object: string;
  model: string;
  choices: Array<{ message: { role: string; content: string }; finish_reason: string }>;
}

export function expectSeedCompletion(stdout: string, model: string, content: RegExp): void {
  const completion = JSON.parse(stdout) as Completion;
  expect(completion.object).toBe("chat.completion");
  expect(completion.model).toBe(model);
  expect(completion.choices[0].message.role).toBe("assistant");
  expect(completion.choices[0].message.content).toMatch(content);
  expect(completion.choices[0].finish_reason).toBe("stop");
}

/** Ctrl-C, then: exit code, and every listener it printed refuses connections. */
export async function interruptAndCheck(proc: LocalProcess, ports: ReadonlyArray<{ host: string; port: number }>): Promise<void> {
  proc.interrupt();
  const exit = await proc.exited;
  expect(exit).toEqual({ code: 0, signal: null });
  expect(proc.stderr()).toContain("npm run local: stopped");
  for (const { host, port } of ports) expect(await tryConnect(host, port)).toBe("ECONNREFUSED");
}

/** Every listener the banner names: the gateway's API, metrics and redirect; each sidecar's API and metrics; each emulator. */
export const listeners = (banner: Banner): Array<{ host: string; port: number }> => [
  hostPort(banner.endpoint),
  hostPort(new URL(banner.metricsUrl).host),
  ...(banner.redirect === undefined ? [] : [hostPort(banner.redirect)]),
  ...banner.replicas.flatMap((r) => [
    hostPort(r.sidecar),
    hostPort(new URL(r.metricsUrl).host),
    ...(r.kind === "emulator" ? [hostPort(new URL(r.upstream).host)] : []),
  ]),
];
