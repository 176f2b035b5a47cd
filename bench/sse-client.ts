/**
 * A raw HTTP/1.1 streaming client on node:net, so that "one read" means one socket read: it
 * decodes chunked framing itself, splits SSE events, and for every event computes
 * read time − the write time the stamped upstream put in it (same process, same clock).
 */
import net from "node:net";
import { performance } from "node:perf_hooks";

export interface StreamRequestOptions {
  readonly port: number;
  readonly path: string;
  readonly token?: string;
  readonly body: string;
  /** Fails the stream when it has not ended by then. */
  readonly timeoutMs: number;
}

export interface StreamOutcome {
  readonly status: number;
  readonly events: number;
  /** Socket reads that completed at least one event. */
  readonly reads: number;
  /** Reads that completed more than one event. */
  readonly coalescedReads: number;
  /** Per event: read time − write time, ms. */
  readonly delays: number[];
  readonly sawDone: boolean;
  readonly openedAt: number;
  readonly firstEventAt: number | undefined;
  readonly error: string | undefined;
}

/** Incremental `Transfer-Encoding: chunked` decoder. */
class ChunkedDecoder {
  private pending: Buffer = Buffer.alloc(0);
  private remaining = 0;
  private state: "size" | "data" | "data-end" | "done" = "size";

  get finished(): boolean {
    return this.state === "done";
  }

  push(input: Buffer): Buffer[] {
    this.pending = this.pending.length === 0 ? input : Buffer.concat([this.pending, input]);
    const out: Buffer[] = [];
    for (;;) {
      if (this.state === "done") return out;
      if (this.state === "size") {
        const eol = this.pending.indexOf("\r\n");
        if (eol < 0) return out;
        const size = parseInt(this.pending.subarray(0, eol).toString("latin1").split(";", 1)[0].trim(), 16);
        if (!Number.isFinite(size)) throw new Error("bad chunk size");
        this.pending = this.pending.subarray(eol + 2);
        this.remaining = size;
        this.state = size === 0 ? "done" : "data";
        continue;
      }
      if (this.state === "data") {
        if (this.pending.length === 0) return out;
        const take = Math.min(this.remaining, this.pending.length);
        out.push(this.pending.subarray(0, take));
        this.pending = this.pending.subarray(take);
        this.remaining -= take;
        if (this.remaining === 0) this.state = "data-end";
        continue;
      }
      if (this.pending.length < 2) return out;
      this.pending = this.pending.subarray(2);
      this.state = "size";
    }
  }
}

/** Splits `data:` events; returns the write stamps of the events completed by this text. */
class SseParser {
  private text = "";
  sawDone = false;

  push(chunk: string): number[] {
    this.text += chunk;
    const stamps: number[] = [];
    let end = this.text.indexOf("\n\n");
    while (end >= 0) {
      const block = this.text.slice(0, end);
      this.text = this.text.slice(end + 2);
      end = this.text.indexOf("\n\n");
      for (const line of block.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === "[DONE]") {
          this.sawDone = true;
          continue;
        }
        const stamp = /"t":([0-9.e+-]+)\}$/.exec(data);
        stamps.push(stamp === null ? Number.NaN : Number(stamp[1]));
      }
    }
    return stamps;
  }
}

export interface OpenStream {
  readonly outcome: Promise<StreamOutcome>;
  /** Resolves at the first event (or never, if none comes; `outcome` still settles). */
  readonly firstEvent: Promise<number>;
  /** Destroys the client socket; returns the time it did. */
  abort(): number;
}

export function openStream(options: StreamRequestOptions): OpenStream {
  const openedAt = performance.now();
  const socket = net.connect({ host: "127.0.0.1", port: options.port, noDelay: true });
  const head = [
    `POST ${options.path} HTTP/1.1`,
    `Host: 127.0.0.1:${options.port}`,
    "Content-Type: application/json",
    "Accept: text/event-stream",
    `Content-Length: ${Buffer.byteLength(options.body)}`,
    ...(options.token === undefined ? [] : [`Authorization: Bearer ${options.token}`]),
    "",
    "",
  ].join("\r\n");
  socket.write(head + options.body);

  let status = 0;
  let header: Buffer = Buffer.alloc(0);
  let decoder: ChunkedDecoder | undefined;
  let bodyStarted = false;
  const parser = new SseParser();
  const delays: number[] = [];
  let events = 0;
  let reads = 0;
  let coalescedReads = 0;
  let firstEventAt: number | undefined;
  let aborted = false;
  let resolveFirst: (at: number) => void = () => undefined;
  const firstEvent = new Promise<number>((resolve) => {
    resolveFirst = resolve;
  });

  const consume = (body: Buffer, readAt: number): void => {
    const payloads = decoder === undefined ? [body] : decoder.push(body);
    let completed = 0;
    for (const payload of payloads) {
      for (const stamp of parser.push(payload.toString("utf8"))) {
        completed++;
        delays.push(readAt - stamp);
      }
    }
    // The terminating chunk: this client sends one request per connection.
    if (decoder?.finished === true) socket.end();
    if (completed === 0) return;
    if (firstEventAt === undefined) {
      firstEventAt = readAt;
      resolveFirst(readAt);
    }
    events += completed;
    reads++;
    if (completed > 1) coalescedReads++;
  };

  const outcome = new Promise<StreamOutcome>((resolve) => {
    let error: string | undefined;
    const timer = setTimeout(() => {
      error = `timed out after ${options.timeoutMs} ms`;
      socket.destroy();
    }, options.timeoutMs);
    socket.on("data", (data: Buffer) => {
      const readAt = performance.now();
      if (bodyStarted) {
        consume(data, readAt);
        return;
      }
      header = Buffer.concat([header, data]);
      const end = header.indexOf("\r\n\r\n");
      if (end < 0) return;
      const lines = header.subarray(0, end).toString("latin1").split("\r\n");
      status = Number(lines[0].split(" ")[1]);
      const chunked = lines.some((line) => /^transfer-encoding:\s*chunked\s*$/i.test(line));
      decoder = chunked ? new ChunkedDecoder() : undefined;
      bodyStarted = true;
      const rest = header.subarray(end + 4);
      if (rest.length > 0) consume(rest, readAt);
    });
    socket.on("error", (err: Error) => {
      error ??= err.message;
    });
    socket.on("close", () => {
      clearTimeout(timer);
      if (!aborted && status !== 200) error ??= `status ${status}`;
      else if (!aborted && !parser.sawDone) error ??= "stream ended before [DONE]";
      resolve({ status, events, reads, coalescedReads, delays, sawDone: parser.sawDone, openedAt, firstEventAt, error: aborted ? undefined : error });
    });
  });

  return {
    outcome,
    firstEvent,
    abort: () => {
      aborted = true;
      const at = performance.now();
      socket.destroy();
      return at;
    },
  };
}
