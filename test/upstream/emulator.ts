/**
 * A vLLM-compatible test upstream: a real node:http server that answers like vLLM's
 * OpenAI-compatible server, records every request, and can be told to fail in the ways
 * a real upstream fails (refused, reset, cut mid-stream, hung).
 *
 * It also counts, per request, the tokens it generated and how many of them it wrote before the
 * response ended, was aborted or failed (`usage`), so metering tests can compare counts with it.
 *
 * Library: `const up = new VllmEmulator({ tokenDelayMs: 5 }); await up.start(); ... await up.close();`
 * CLI:     `tsx test/upstream/emulator.ts --port 8000 --token-delay-ms 20` prints its URL.
 */
import { createHash } from "node:crypto";
import http from "node:http";
import type net from "node:net";
import { once } from "node:events";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import {
  completionBody,
  embeddingBody,
  errorBody,
  GenerationKind,
  JsonObject,
  modelsBody,
  parseEmbeddingRequest,
  parseGenerationRequest,
  planGeneration,
  streamErrorEvent,
  streamEvents,
  unixSeconds,
  type StreamEvent,
} from "./vllm-shapes";

/**
 * "error-mid-stream": after dieAfterEvents events a stream gets vLLM's error event and [DONE]
 * (an engine failure vLLM reports in-band); a non-streamed answer gets a 500 error body.
 */
export type FailureMode = "none" | "refuse" | "reset-before-headers" | "die-mid-stream" | "error-mid-stream" | "hang";

/** What the emulator generated for one request and how much of it it wrote. */
export interface UsageRecord {
  /** The RecordedRequest's id. */
  readonly requestId: number;
  readonly route: "chat" | "completion" | "embedding";
  readonly stream: boolean;
  /** Tokens it generated: the prompt's and the completion it planned. */
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** Completion tokens in the events it wrote before the stream ended, was aborted or failed; for a non-streamed answer, all of them once the whole body was written, else 0. */
  writtenTokens: number;
  /** Whether it wrote anything that reports the prompt (a stream's first event, a whole body). */
  promptWritten: boolean;
  outcome: "pending" | "complete" | "aborted" | "failed";
}

export interface EmulatorOptions {
  host?: string;
  port?: number;
  model?: string;
  tokenDelayMs?: number;
  completionTokens?: number;
  ready?: boolean;
  quiet?: boolean;
  /** Keep each request and usage record for inspection (default true); off, thousands of requests a second leave no records behind. */
  retainRequests?: boolean;
  /** `system_fingerprint`; defaults to one shaped like vLLM v0.29.0's (`vllm-0.29.0-<hash8>`), null for none. */
  fingerprint?: string | null;
}

export interface RecordedRequest {
  id: number;
  method: string;
  target: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  socketId: number;
  receivedAt: number;
  bodyEndedAt?: number;
  closedAt?: number;
  completed: boolean;
}

/** Per-request state the handlers share; `mode` is frozen when the body ends. */
interface Exchange {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  record: RecordedRequest;
  signal: AbortSignal;
  mode: FailureMode;
  dieAfterEvents: number;
}

interface SocketState {
  id: number;
  records: Set<RecordedRequest>;
}

type Route = { methods: string[]; handle: (ex: Exchange) => Promise<void> | void };

const SERVER_HEADER = { server: "uvicorn" };
const DEFAULT_WAIT_MS = 5000;

function noop(): void {}

/** Resolves true after `ms`, or false as soon as the request is aborted (no timer left behind). */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  if (ms <= 0) return true;
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/** Writes one chunk honouring backpressure; false when the client went away. */
function write(res: http.ServerResponse, chunk: string, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  if (res.write(chunk)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      res.off("drain", onDrain);
      signal.removeEventListener("abort", onAbort);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onAbort = () => done(false);
    res.once("drain", onDrain);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Waits until what was written reached the kernel, then destroys: node http corks until next tick. */
async function flushThenDestroy(socket: net.Socket): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (socket.writableLength > 0 && !socket.destroyed) {
    await Promise.race([once(socket, "drain"), once(socket, "close")]).catch(() => undefined);
  }
  socket.destroy();
}

function jsonHeaders(length: number): http.OutgoingHttpHeaders {
  return { "content-type": "application/json", "content-length": length, ...SERVER_HEADER };
}

function sendJson(res: http.ServerResponse, status: number, body: JsonObject): void {
  const text = Buffer.from(JSON.stringify(body));
  res.writeHead(status, jsonHeaders(text.length)).end(text);
}

export class VllmEmulator {
  private readonly host: string;
  private readonly model: string;
  private readonly completionTokens: number;
  private readonly quiet: boolean;
  private readonly retainRequests: boolean;
  private readonly createdAt = unixSeconds();
  private readonly server: http.Server;
  private readonly sockets = new Map<net.Socket, SocketState>();
  private readonly waiters = new Set<() => void>();
  private readonly routes: Record<string, Route>;
  private readonly fingerprint: string | null;
  private recorded: RecordedRequest[] = [];
  private usageRecords: UsageRecord[] = [];
  /** Generations not yet settled, counted apart from the records, which a reset or `retainRequests: false` drops. */
  private running = 0;
  private requestedPort: number;
  private boundPort?: number;
  private listening = false;
  private closed = false;
  private nextRequestId = 0;
  private nextSocketId = 0;
  private mode: FailureMode = "none";
  private dieAfterEvents = 3;
  private tokenDelayMs: number;
  private ready: boolean;

  constructor(opts: EmulatorOptions = {}) {
    this.host = opts.host ?? "127.0.0.1";
    this.requestedPort = opts.port ?? 0;
    this.model = opts.model ?? "meta-llama/Llama-2-7b-chat-hf";
    this.tokenDelayMs = opts.tokenDelayMs ?? 0;
    this.completionTokens = opts.completionTokens ?? 12;
    this.ready = opts.ready ?? true;
    this.fingerprint =
      opts.fingerprint === undefined ? `vllm-0.29.0-${createHash("sha256").update(this.model).digest("hex").slice(0, 8)}` : opts.fingerprint;
    // Silent under jest unless asked, so test output stays readable.
    this.quiet = opts.quiet ?? process.env.JEST_WORKER_ID !== undefined;
    this.retainRequests = opts.retainRequests ?? true;
    this.routes = this.buildRoutes();
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    // Proxies keep upstream connections alive; uvicorn's 5 s default would make tests flaky.
    this.server.keepAliveTimeout = 60_000;
    this.server.headersTimeout = 65_000;
    // "hang" must hold requests open indefinitely.
    this.server.requestTimeout = 0;
    this.server.on("connection", (socket: net.Socket) => this.onConnection(socket));
  }

  get url(): string {
    const host = this.host.includes(":") ? `[${this.host}]` : this.host;
    return `http://${host}:${this.port}`;
  }

  get port(): number {
    if (this.boundPort === undefined) throw new Error("VllmEmulator: not started");
    return this.boundPort;
  }

  get requests(): readonly RecordedRequest[] {
    return this.recorded;
  }

  /** One record per generation or embedding request that passed validation, in arrival order. */
  get usage(): readonly UsageRecord[] {
    return this.usageRecords;
  }

  /** Resolves with request `requestId`'s usage record once its response ended (complete, aborted or failed). */
  waitForUsage(requestId: number, timeoutMs = DEFAULT_WAIT_MS): Promise<UsageRecord> {
    const check = () => this.usageRecords.find((u) => u.requestId === requestId && u.outcome !== "pending");
    return this.waitFor(check, timeoutMs, `usage of request #${requestId}`);
  }

  get openSockets(): number {
    return this.sockets.size;
  }

  async start(): Promise<void> {
    await this.listen(this.requestedPort);
    this.requestedPort = this.port;
    this.log(`vLLM emulator serving ${this.model} at ${this.url}`);
  }

  async setFailure(mode: FailureMode, opts: { dieAfterEvents?: number } = {}): Promise<void> {
    this.mode = mode;
    this.dieAfterEvents = opts.dieAfterEvents ?? 3;
    if (mode === "refuse") await this.stopListening();
    else if (!this.listening && this.boundPort !== undefined && !this.closed) await this.listen(this.boundPort);
  }

  setReady(ready: boolean): void {
    this.ready = ready;
  }

  setTokenDelay(ms: number): void {
    this.tokenDelayMs = ms;
  }

  reset(): void {
    this.recorded = [];
    this.usageRecords = [];
    this.nextRequestId = 0;
  }

  waitForRequests(n: number, timeoutMs = DEFAULT_WAIT_MS): Promise<RecordedRequest[]> {
    const check = () => (this.recorded.length >= n ? [...this.recorded] : undefined);
    return this.waitFor(check, timeoutMs, `${n} request(s), have ${this.recorded.length}`);
  }

  waitForClose(req: RecordedRequest, timeoutMs = DEFAULT_WAIT_MS): Promise<number> {
    return this.waitFor(() => req.closedAt, timeoutMs, `request #${req.id} to close`);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.stopListening();
    await this.destroySockets();
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once("error", onError);
      this.server.listen(port, this.host, () => {
        this.server.off("error", onError);
        this.listening = true;
        const address = this.server.address();
        if (address && typeof address === "object") this.boundPort = address.port;
        resolve();
      });
    });
  }

  /** Closes the listener and every connection, so new connects are refused. */
  private async stopListening(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await Promise.all([stopped, this.destroySockets()]);
  }

  /** Resolves once every socket emitted 'close', so openSockets reads 0 afterwards. */
  private async destroySockets(): Promise<void> {
    // Every socket still in the map has yet to emit 'close' (`socket.closed` turns true earlier).
    const closing = [...this.sockets.keys()].map((socket) => {
      const closed = once(socket, "close").then(noop, noop);
      socket.destroy();
      return closed;
    });
    await Promise.all(closing);
  }

  private onConnection(socket: net.Socket): void {
    const state: SocketState = { id: ++this.nextSocketId, records: new Set() };
    this.sockets.set(socket, state);
    // Each SSE event should leave as its own packet, like uvicorn's.
    socket.setNoDelay(true);
    socket.on("close", () => {
      this.sockets.delete(socket);
      for (const record of state.records) this.markClosed(record);
      state.records.clear();
    });
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const record = this.record(req);
    const aborter = new AbortController();
    const started = performance.now();
    res.on("finish", () => {
      record.completed = true;
      this.notify();
    });
    res.on("close", () => {
      // A response that never finished was cut: by the peer, or by a failure mode.
      if (!res.writableFinished) this.markClosed(record);
      aborter.abort();
      this.log(`${req.method} ${req.url} ${res.statusCode}${record.completed ? "" : " (cut)"} ${Math.round(performance.now() - started)} ms`);
    });
    req.on("data", (chunk: Buffer) => {
      record.body = Buffer.concat([record.body, chunk]);
    });
    req.on("end", () => {
      record.bodyEndedAt = performance.now();
      this.notify();
      const ex: Exchange = { req, res, record, signal: aborter.signal, mode: this.mode, dieAfterEvents: this.dieAfterEvents };
      Promise.resolve(this.respond(ex)).catch((err: unknown) => {
        this.log(`handler error: ${String(err)}`);
        res.destroy();
      });
    });
  }

  private record(req: http.IncomingMessage): RecordedRequest {
    const state = this.sockets.get(req.socket);
    const record: RecordedRequest = {
      id: ++this.nextRequestId,
      method: req.method ?? "",
      target: req.url ?? "",
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body: Buffer.alloc(0),
      socketId: state?.id ?? 0,
      receivedAt: performance.now(),
      completed: false,
    };
    if (this.retainRequests) {
      state?.records.add(record);
      this.recorded.push(record);
    }
    this.notify();
    return record;
  }

  private markClosed(record: RecordedRequest): void {
    if (record.closedAt !== undefined) return;
    record.closedAt = performance.now();
    this.notify();
  }

  private respond(ex: Exchange): Promise<void> | void {
    if (ex.mode === "hang") return; // the socket stays open until the client gives up
    if (ex.mode === "reset-before-headers") {
      ex.req.socket.resetAndDestroy();
      return;
    }
    const path = (ex.req.url ?? "/").split("?")[0];
    const route = this.routes[path];
    if (!route) return sendJson(ex.res, 404, { detail: "Not Found" });
    if (!route.methods.includes(ex.req.method ?? "")) return sendJson(ex.res, 405, { detail: "Method Not Allowed" });
    return route.handle(ex);
  }

  private buildRoutes(): Record<string, Route> {
    const get = ["GET", "HEAD"]; // Starlette answers HEAD on every GET route
    return {
      "/health": { methods: get, handle: (ex) => this.health(ex) },
      "/v1/models": { methods: get, handle: (ex) => this.whenReady(ex, () => this.models(ex)) },
      "/v1/chat/completions": { methods: ["POST"], handle: (ex) => this.whenReady(ex, () => this.generate(ex, "chat")) },
      "/v1/completions": { methods: ["POST"], handle: (ex) => this.whenReady(ex, () => this.generate(ex, "completion")) },
      "/v1/embeddings": { methods: ["POST"], handle: (ex) => this.whenReady(ex, () => this.embeddings(ex)) },
      // vLLM's Prometheus endpoint (prometheus_client text), with the two queue gauges autoscalers read.
      "/metrics": { methods: get, handle: (ex) => this.metrics(ex) },
    };
  }

  private metrics(ex: Exchange): void {
    const labels = `engine="0",model_name="${this.model}"`;
    const text =
      "# HELP vllm:num_requests_running Number of requests in model execution batches.\n" +
      "# TYPE vllm:num_requests_running gauge\n" +
      `vllm:num_requests_running{${labels}} ${this.running}\n` +
      "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n" +
      "# TYPE vllm:num_requests_waiting gauge\n" +
      `vllm:num_requests_waiting{${labels}} 0\n`;
    ex.res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8", "content-length": Buffer.byteLength(text), ...SERVER_HEADER });
    ex.res.end(ex.req.method === "HEAD" ? undefined : text);
  }

  private health(ex: Exchange): void {
    ex.res.writeHead(this.ready ? 200 : 503, { "content-length": 0, ...SERVER_HEADER }).end();
  }

  private whenReady(ex: Exchange, handle: () => Promise<void> | void): Promise<void> | void {
    if (this.ready) return handle();
    sendJson(ex.res, 503, errorBody(503, "The model is still loading."));
  }

  private models(ex: Exchange): void {
    sendJson(ex.res, 200, modelsBody(this.model, this.createdAt));
  }

  private track(ex: Exchange, route: UsageRecord["route"], stream: boolean, promptTokens: number, completionTokens: number): UsageRecord {
    const record: UsageRecord = {
      requestId: ex.record.id,
      route,
      stream,
      promptTokens,
      completionTokens,
      writtenTokens: 0,
      promptWritten: false,
      outcome: "pending",
    };
    this.running++;
    if (this.retainRequests) this.usageRecords.push(record);
    return record;
  }

  private settle(record: UsageRecord, outcome: UsageRecord["outcome"]): void {
    if (record.outcome === "pending") this.running--;
    record.outcome = outcome;
    this.notify();
  }

  private async generate(ex: Exchange, kind: GenerationKind): Promise<void> {
    const parsed = parseGenerationRequest(kind, ex.record.body, this.model);
    if (!parsed.ok) return sendJson(ex.res, parsed.status, errorBody(parsed.status, parsed.message));
    const plan = planGeneration(parsed.value, this.completionTokens, this.fingerprint);
    const usage = this.track(ex, kind, parsed.value.stream, parsed.value.promptTokens, plan.tokens.length);
    if (parsed.value.stream) return this.stream(ex, streamEvents(plan), usage);
    // Simulate generation time; stop early if the client leaves, as vLLM aborts the request.
    if (!(await pause(this.tokenDelayMs * plan.tokens.length, ex.signal))) return this.settle(usage, "aborted");
    return this.sendResult(ex, completionBody(plan), usage);
  }

  private embeddings(ex: Exchange): Promise<void> | void {
    const parsed = parseEmbeddingRequest(ex.record.body, this.model);
    if (!parsed.ok) return sendJson(ex.res, parsed.status, errorBody(parsed.status, parsed.message));
    const usage = this.track(ex, "embedding", false, parsed.value.promptTokens, 0);
    return this.sendResult(ex, embeddingBody(parsed.value), usage);
  }

  /** A successful JSON answer; under "die-mid-stream" its headers and first half, under "error-mid-stream" a 500. */
  private async sendResult(ex: Exchange, body: JsonObject, usage: UsageRecord): Promise<void> {
    if (ex.mode === "error-mid-stream") {
      sendJson(ex.res, 500, errorBody(500, "The engine failed while generating."));
      return this.settle(usage, "failed");
    }
    if (ex.mode !== "die-mid-stream") {
      sendJson(ex.res, 200, body);
      usage.writtenTokens = usage.completionTokens;
      usage.promptWritten = true;
      return this.settle(usage, "complete");
    }
    const text = Buffer.from(JSON.stringify(body));
    ex.res.writeHead(200, jsonHeaders(text.length));
    ex.res.write(text.subarray(0, Math.floor(text.length / 2)));
    await flushThenDestroy(ex.req.socket);
    this.settle(usage, "failed");
  }

  /** One res.write per SSE event, tokenDelayMs apart; stops as soon as the client leaves. */
  private async stream(ex: Exchange, events: StreamEvent[], usage: UsageRecord): Promise<void> {
    ex.res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", ...SERVER_HEADER });
    ex.res.flushHeaders();
    const failAt = ex.mode === "die-mid-stream" || ex.mode === "error-mid-stream" ? ex.dieAfterEvents : Infinity;
    for (let i = 0; i < events.length; i++) {
      if (i > 0 && !(await pause(this.tokenDelayMs, ex.signal))) return this.settle(usage, "aborted");
      if (i >= failAt) return this.failStream(ex, usage);
      if (!(await write(ex.res, events[i].text, ex.signal))) return this.settle(usage, "aborted");
      usage.writtenTokens = events[i].tokens;
      usage.promptWritten = true;
    }
    if (failAt <= events.length) return this.failStream(ex, usage);
    ex.res.end();
    this.settle(usage, "complete");
  }

  private async failStream(ex: Exchange, usage: UsageRecord): Promise<void> {
    if (ex.mode === "error-mid-stream") {
      ex.res.end(`${streamErrorEvent("The engine failed while generating.")}data: [DONE]\n\n`);
    } else {
      await flushThenDestroy(ex.req.socket);
    }
    this.settle(usage, "failed");
  }

  private waitFor<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(attempt);
        reject(new Error(`VllmEmulator: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const attempt = () => {
        const value = check();
        if (value === undefined) return;
        clearTimeout(timer);
        this.waiters.delete(attempt);
        resolve(value);
      };
      this.waiters.add(attempt);
      attempt();
    });
  }

  private notify(): void {
    for (const attempt of [...this.waiters]) attempt();
  }

  private log(line: string): void {
    if (!this.quiet) process.stderr.write(`[vllm-emulator] ${line}\n`);
  }
}

function numberFlag(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got ${value}`);
  return n;
}

/** `tsx test/upstream/emulator.ts [--host H] [--port P] [--model M] [--token-delay-ms MS] [--completion-tokens N] [--not-ready] [--quiet]` */
export async function main(argv: string[]): Promise<VllmEmulator> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: "string" },
      port: { type: "string" },
      model: { type: "string" },
      "token-delay-ms": { type: "string" },
      "completion-tokens": { type: "string" },
      "not-ready": { type: "boolean" },
      quiet: { type: "boolean" },
    },
  });
  const emulator = new VllmEmulator({
    host: values.host,
    port: numberFlag(values.port, "port"),
    model: values.model,
    tokenDelayMs: numberFlag(values["token-delay-ms"], "token-delay-ms"),
    completionTokens: numberFlag(values["completion-tokens"], "completion-tokens"),
    ready: !values["not-ready"],
    quiet: values.quiet ?? false,
  });
  await emulator.start();
  process.stdout.write(`${emulator.url}\n`);
  const stop = () => void emulator.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return emulator;
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
