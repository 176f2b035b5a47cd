/** Starts the real proxy in-process in front of the vLLM emulator, on ephemeral ports. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../../proxy/src/config";
import { createLogger } from "../../proxy/src/log";
import { startProxy, type RunningProxy } from "../../proxy/src/server";
import { VllmEmulator, type EmulatorOptions, type RecordedRequest } from "../upstream/emulator";

export const TOKEN = "tok_primary_0123456789abcdefghijklmnop";
export const OTHER_TOKEN = "tok_secondary_zyxwvutsrqponmlkjihgf";
export const MODEL = "meta-llama/Llama-2-7b-chat-hf";

export interface Stack {
  readonly proxy: RunningProxy;
  readonly upstream: VllmEmulator;
  /** http://127.0.0.1:<api port> */
  readonly url: string;
  readonly port: number;
  readonly tokensFile: string;
  readonly dir: string;
  /** Every log line the proxy wrote, parsed. */
  readonly logs: Array<Record<string, unknown>>;
  /** The raw log text, for "never contains a token" checks. */
  logText(): string;
  close(): Promise<void>;
}

export interface StackOptions {
  readonly env?: Record<string, string>;
  readonly upstream?: EmulatorOptions;
  readonly tokens?: readonly string[];
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const upstream = new VllmEmulator({ quiet: true, ...options.upstream });
  await upstream.start();
  const dir = mkdtempSync(path.join(os.tmpdir(), "vllm-auth-test-"));
  const tokensFile = path.join(dir, "tokens");
  writeFileSync(tokensFile, `# test tokens\n${(options.tokens ?? [TOKEN]).join("\n")}\n`);
  const lines: string[] = [];
  const config = loadConfig({
    UPSTREAM_URL: upstream.url,
    TOKENS_FILE: tokensFile,
    HOST: "127.0.0.1",
    PORT: "0",
    METRICS_PORT: "0",
    READY_POLL_MS: "100",
    TOKENS_POLL_MS: "100",
    ...options.env,
  });
  const proxy = await startProxy(config, { logger: createLogger((line) => lines.push(line)) });
  return {
    proxy,
    upstream,
    url: `http://127.0.0.1:${proxy.port}`,
    port: proxy.port,
    tokensFile,
    dir,
    get logs() {
      return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    logText: () => lines.join("\n"),
    close: async () => {
      await proxy.shutdown(0);
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Requests the proxy forwarded for clients (its own readiness polls carry no X-Forwarded-Proto). */
export function forwarded(stack: Stack): RecordedRequest[] {
  return stack.upstream.requests.filter((r) => r.headers["x-forwarded-proto"] !== undefined);
}

/** Waits for the first request the proxy forwarded for a client. */
export async function firstForwarded(stack: Stack, timeoutMs = 3000): Promise<RecordedRequest> {
  await eventually(() => forwarded(stack).length > 0, timeoutMs, 5);
  return forwarded(stack)[0];
}

export interface SimpleResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** One request over a fresh connection (no agent pooling between tests). */
export function request(
  url: string,
  options: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer } = {},
): Promise<SimpleResponse> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: options.method ?? "GET",
        path: options.path ?? "/",
        headers: options.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

export const bearer = (token: string = TOKEN): Record<string, string> => ({ authorization: `Bearer ${token}` });

export const chatBody = (extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "Who are you?" }], ...extra });

/** Sends raw bytes and collects everything the server answers until it closes or `idleMs` passes. */
export function rawExchange(port: number, bytes: string | Buffer, idleMs = 300): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString("latin1"), closed });
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(false), idleMs);
    };
    socket.on("connect", () => {
      socket.write(bytes);
      arm();
    });
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      arm();
    });
    socket.on("end", () => finish(true));
    socket.on("close", () => finish(true));
    socket.on("error", (error) => (chunks.length > 0 ? finish(true) : reject(error)));
  });
}

/** The status code of the first response in a raw HTTP answer. */
export function rawStatus(text: string): number {
  const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
  return match === null ? 0 : Number(match[1]);
}

/** Polls `check` until it is true or `timeoutMs` passes. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 3000, stepMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
}
