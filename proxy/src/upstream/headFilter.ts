import type { Socket } from "node:net";

const CR = 0x0d;
const LF = 0x0a;
/** A response head longer than this is left to the HTTP parser (which enforces its own limit). */
const MAX_HEAD_BYTES = 64 * 1024;

/** Index just past the blank line ending a head in `buf`, from `from`; -1 when not yet complete. */
function headEnd(buf: Buffer, from: number): number {
  for (let i = Math.max(from, 3); i < buf.length; i++) {
    if (buf[i] === LF && buf[i - 1] === CR && buf[i - 2] === LF && buf[i - 3] === CR) return i + 1;
  }
  return -1;
}

/** The status code of an `HTTP/1.x NNN ...` status line, or 0 when the head does not start with one. */
function statusOf(head: Buffer): number {
  if (head.length < 12 || head.toString("latin1", 0, 5) !== "HTTP/") return 0;
  const code = Number(head.toString("latin1", 9, 12));
  return Number.isInteger(code) ? code : 0;
}

/** The head without its Content-Length and Transfer-Encoding lines: a 204 or 304 has no body, whatever it announces. */
function withoutBodyFraming(head: Buffer): Buffer {
  const lines = head.toString("latin1").split("\r\n");
  const kept = lines.filter((line, i) => i === 0 || !/^(content-length|transfer-encoding)\s*:/i.test(line));
  return kept.length === lines.length ? head : Buffer.from(kept.join("\r\n"), "latin1");
}

/**
 * Sits between an upstream socket and the HTTP client's parser and fixes what the parser would
 * wrongly treat as fatal at the start of a response: interim 1xx responses (RFC 9110 15.2: a client
 * must accept them even unasked; undici's parser destroys the socket on an unexpected 100) are
 * dropped, and a 204 or 304 that carries Content-Length is passed on without it (undici would wait
 * for a body that, by definition, never comes). Only response heads are read; body bytes pass
 * through untouched, so a stream's tokens cost one flag test each.
 *
 * The connection pool arms the filter each time it hands an idle connection to a new request (one
 * request at a time per connection), which is exactly when the next bytes begin a response.
 */
export class ResponseHeadFilter {
  private armed = true;
  private pending: Buffer | undefined;

  /** The next bytes received begin a response head. */
  arm(): void {
    this.armed = true;
    this.pending = undefined;
  }

  /** Bytes to hand to the parser now (possibly none: a partial head is held back until complete). */
  feed(chunk: Buffer): Buffer {
    if (!this.armed) return chunk;
    let buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    let scanFrom = this.pending === undefined ? 0 : Math.max(0, this.pending.length - 3);
    this.pending = undefined;
    for (;;) {
      const end = headEnd(buf, scanFrom);
      if (end < 0) {
        if (buf.length > MAX_HEAD_BYTES) {
          this.armed = false;
          return buf;
        }
        this.pending = buf;
        return Buffer.alloc(0);
      }
      const status = statusOf(buf);
      if (status >= 100 && status < 200 && status !== 101) {
        // An interim response: the final one follows on the same connection.
        buf = buf.subarray(end);
        scanFrom = 0;
        if (buf.length === 0) return buf;
        continue;
      }
      this.armed = false;
      if (status !== 204 && status !== 304) return buf;
      const head = withoutBodyFraming(buf.subarray(0, end));
      return head.length === end ? buf : Buffer.concat([head, buf.subarray(end)]);
    }
  }

  /** Routes everything the socket receives through the filter. */
  attach(socket: Socket): void {
    this.arm();
    const push = socket.push.bind(socket);
    socket.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
      if (chunk === null || !Buffer.isBuffer(chunk) || (!this.armed && this.pending === undefined)) return push(chunk, encoding);
      const out = this.feed(chunk);
      return out.length === 0 ? true : push(out);
    };
  }
}
