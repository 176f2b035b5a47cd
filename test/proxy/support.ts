/** Helpers for the end-to-end proxy tests: free ports, curl, Prometheus text, open streams, a spawned proxy. */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");
export const CURL = "/usr/bin/curl";

/** Ports the OS just handed out and released: bind them explicitly where port 0 cannot be used. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  return ports;
}

export interface CurlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real curl binary (no shell), with no proxy variables and no ~/.curlrc from the machine. */
export function curl(args: readonly string[], home: string, timeoutMs = 15_000): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    execFile(
      CURL,
      [...args],
      { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home }, timeout: timeoutMs, encoding: "utf8" },
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

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses the Prometheus text exposition format into samples (comments skipped). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (match === null) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]] = pair[2];
    }
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** Sum of the samples named `name` whose labels include `labels`; 0 when none (a counter not yet touched). */
export function metricValue(samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** The `error.code` of an OpenAI-style JSON error body. */
export function errorCode(body: string): string {
  return (JSON.parse(body) as { error: { code: string } }).error.code;
}

/** An HTTP exchange whose response body is read as it arrives. */
export interface OpenStream {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** Everything received so far. */
  text(): string;
  /** Resolves once the response ended (`complete`) or was cut (`complete: false`). */
  readonly done: Promise<{ complete: boolean; text: string }>;
  /** Resolves once the received text satisfies `check`. */
  waitFor(check: (text: string) => boolean, timeoutMs?: number): Promise<string>;
  destroy(): void;
}

/** Sends one request and resolves on the response headers; the body keeps arriving in the background. */
export function openStream(
  url: string,
  options: { method?: string; path: string; headers?: http.OutgoingHttpHeaders; body?: string; agent?: http.Agent },
): Promise<OpenStream> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: options.method ?? "POST",
        path: options.path,
        headers: options.headers,
        agent: options.agent ?? false,
      },
      (res) => {
        let received = "";
        const listeners = new Set<() => void>();
        const done = new Promise<{ complete: boolean; text: string }>((settle) => {
          res.on("close", () => settle({ complete: res.complete, text: received }));
        });
        res.on("error", () => undefined);
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          received += chunk;
          for (const listener of [...listeners]) listener();
        });
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text: () => received,
          done,
          destroy: () => req.destroy(),
          waitFor: (check, timeoutMs = 5_000) =>
            new Promise<string>((ok, fail) => {
              const timer = setTimeout(() => {
                listeners.delete(attempt);
                fail(new Error(`stream text did not match within ${timeoutMs} ms; got: ${received.slice(0, 300)}`));
              }, timeoutMs);
              const attempt = (): void => {
                if (!check(received)) return;
                clearTimeout(timer);
                listeners.delete(attempt);
                ok(received);
              };
              listeners.add(attempt);
              void done.then(() => {
                if (listeners.has(attempt)) {
                  clearTimeout(timer);
                  listeners.delete(attempt);
                  if (check(received)) ok(received);
                  else fail(new Error(`stream ended before its text matched; got: ${received.slice(0, 300)}`));
                }
              });
              attempt();
            }),
        });
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

/** A proxy process started from the bundled binary, with its output collected line by line. */
export interface ProxyProcess {
  readonly child: ChildProcess;
  readonly stdoutLines: string[];
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code and signal (also when the process had already exited). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Resolves with the first JSON log line on stdout whose `msg` is `msg`. */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGKILL if still running. */
  kill(): void;
}

export const SERVER_JS = path.join(REPO_ROOT, "proxy", "dist", "server.js");

/** True when proxy/dist/server.js is missing or older than any proxy source file. */
export function bundleIsStale(): boolean {
  if (!existsSync(SERVER_JS)) return true;
  const built = statSync(SERVER_JS).mtimeMs;
  const src = path.join(REPO_ROOT, "proxy", "src");
  return readdirSync(src, { recursive: true, encoding: "utf8" }).some((file) => statSync(path.join(src, file)).mtimeMs > built);
}

/** Runs `node proxy/build.mjs` (esbuild, well under a second). */
export function buildBundle(): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(REPO_ROOT, "proxy", "build.mjs")], { cwd: REPO_ROOT }, (error, _stdout, stderr) =>
      error === null ? resolve() : reject(new Error(`proxy build failed: ${stderr}`)),
    );
  });
}

/** Spawns `node proxy/dist/server.js` with exactly `env` (plus PATH), nothing inherited. */
export function spawnProxy(env: Readonly<Record<string, string>>): ProxyProcess {
  const child = spawn(process.execPath, [SERVER_JS], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stdoutLines: string[] = [];
  let out = "";
  let partial = "";
  let err = "";
  const waiters = new Set<() => void>();
  child.stdout?.setEncoding("utf8");
  child.stderr?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    out += chunk;
    partial += chunk;
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    stdoutLines.push(...lines);
    for (const waiter of [...waiters]) waiter();
  });
  child.stderr?.on("data", (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.once("exit", (code, signal) => {
      resolve({ code, signal, at: Date.now() });
      for (const waiter of [...waiters]) waiter();
    });
  });
  const findLog = (msg: string): Record<string, unknown> | undefined => {
    for (const line of stdoutLines) {
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (parsed.msg === msg) return parsed;
      } catch {
        // not a JSON line
      }
    }
    return undefined;
  };
  return {
    child,
    stdoutLines,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForLog: (msg, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(attempt);
          reject(new Error(`no "${msg}" log line within ${timeoutMs} ms; stdout: ${out}; stderr: ${err}`));
        }, timeoutMs);
        const attempt = (): void => {
          const found = findLog(msg);
          if (found !== undefined) {
            clearTimeout(timer);
            waiters.delete(attempt);
            resolve(found);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            waiters.delete(attempt);
            reject(new Error(`proxy exited (${child.exitCode ?? child.signalCode}) before logging "${msg}"; stderr: ${err}`));
          }
        };
        waiters.add(attempt);
        attempt();
      }),
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}

/** Resolves with the error code when connecting fails, or "connected" when the port still accepts. */
export function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"));
  });
}
