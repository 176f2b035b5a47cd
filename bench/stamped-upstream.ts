/**
 * The streaming rows' upstream, in the benchmark's own process so it shares the client's clock:
 * a vLLM-shaped SSE server that stamps every event with performance.now() taken just before the
 * write, and records when each stream's connection went away.
 *
 * A request picks its stream with extra body fields, forwarded untouched by every front:
 * `bench_id`, `bench_events` (count) and `bench_interval_ms` (gap between events).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";

export interface UpstreamStream {
  readonly id: string;
  readonly openedAt: number;
  written: number;
  /** Set when the response closed before it was complete: the front dropped the upstream connection. */
  closedAt?: number;
}

interface StreamRequest {
  readonly id: string;
  readonly events: number;
  readonly intervalMs: number;
}

const MODEL = "meta-llama/Llama-2-7b-chat-hf";
const MAX_BODY = 64 * 1024;
const MAX_EVENTS = 100_000;
/** Streams remembered for close look-ups; older ones are forgotten first. */
const MAX_REMEMBERED = 5_000;

function parseStreamRequest(body: string): StreamRequest | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const fields = parsed as Record<string, unknown>;
  const id = fields.bench_id;
  const events = fields.bench_events;
  const intervalMs = fields.bench_interval_ms;
  if (typeof id !== "string" || typeof events !== "number" || typeof intervalMs !== "number") return undefined;
  if (!Number.isInteger(events) || events < 1 || events > MAX_EVENTS || intervalMs < 0 || intervalMs > 60_000) return undefined;
  return { id, events, intervalMs };
}

function eventText(id: string, seq: number, created: number): string {
  const chunk = {
    id: `chatcmpl-${id}`,
    object: "chat.completion.chunk",
    created,
    model: MODEL,
    choices: [{ index: 0, delta: { content: " token" }, logprobs: null, finish_reason: null }],
    seq,
    t: performance.now(),
  };
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

export class StampedUpstream {
  private readonly server: http.Server;
  private readonly streams = new Map<string, UpstreamStream>();
  private readonly waiters = new Set<() => void>();
  private open = 0;

  constructor() {
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.keepAliveTimeout = 60_000;
    this.server.headersTimeout = 65_000;
    this.server.requestTimeout = 0;
    this.server.maxConnections = 20_000;
    // Each event leaves as its own packet, like uvicorn's.
    this.server.on("connection", (socket) => socket.setNoDelay(true));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", () => resolve());
    });
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Streams still being written. */
  get openStreams(): number {
    return this.open;
  }

  stream(id: string): UpstreamStream | undefined {
    return this.streams.get(id);
  }

  /** The time the stream's connection closed, or undefined when it did not within `timeoutMs`. */
  waitForClose(id: string, timeoutMs: number): Promise<number | undefined> {
    return new Promise((resolve) => {
      const check = (): void => {
        const closedAt = this.streams.get(id)?.closedAt;
        if (closedAt === undefined) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(closedAt);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  forgetAll(): void {
    this.streams.clear();
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? "/").split("?", 1)[0];
    if (req.method === "GET" && path === "/health") {
      res.writeHead(200, { "content-length": 0 }).end();
      return;
    }
    if (req.method !== "POST" || path !== "/v1/chat/completions") {
      const body = '{"detail":"Not Found"}';
      res.writeHead(404, { "content-type": "application/json", "content-length": body.length }).end(body);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on("end", () => {
      const request = size <= MAX_BODY ? parseStreamRequest(Buffer.concat(chunks).toString("utf8")) : undefined;
      if (request === undefined) {
        const body = '{"detail":"bench_id, bench_events and bench_interval_ms are required"}';
        res.writeHead(400, { "content-type": "application/json", "content-length": body.length }).end(body);
        return;
      }
      this.serve(request, res);
    });
  }

  private serve(request: StreamRequest, res: http.ServerResponse): void {
    const record: UpstreamStream = { id: request.id, openedAt: performance.now(), written: 0 };
    if (this.streams.size >= MAX_REMEMBERED) {
      const oldest = this.streams.keys().next();
      if (oldest.done !== true) this.streams.delete(oldest.value);
    }
    this.streams.set(request.id, record);
    this.open++;
    const created = Math.floor(Date.now() / 1000);
    let timer: NodeJS.Timeout | undefined;
    res.on("close", () => {
      this.open--;
      if (timer !== undefined) clearTimeout(timer);
      if (!res.writableFinished) {
        record.closedAt = performance.now();
        for (const check of [...this.waiters]) check();
      }
    });
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", server: "uvicorn" });
    res.flushHeaders();
    const next = (): void => {
      timer = undefined;
      if (res.destroyed) return;
      if (record.written >= request.events) {
        res.end("data: [DONE]\n\n");
        return;
      }
      res.write(eventText(request.id, record.written, created));
      record.written++;
      // Fixed schedule from the start, so a late timer does not push every later event back.
      const due = record.openedAt + (record.written + 1) * request.intervalMs;
      timer = setTimeout(next, Math.max(0, due - performance.now()));
    };
    timer = setTimeout(next, request.intervalMs);
  }
}
