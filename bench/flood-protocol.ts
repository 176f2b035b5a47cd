/**
 * The unauthenticated flood's shared vocabulary: what the bench asks the flood process for, what it
 * answers, and the incremental parser that counts the answers on a pipelined connection.
 */
import { jsonLine } from "./processes";

/** `pipeline`: a few connections each writing many GETs per write; `connections`: many connections, one GET at a time. */
export type FloodMode = "pipeline" | "connections";
export const FLOOD_MODES: readonly FloodMode[] = ["pipeline", "connections"];

export interface FloodSpec {
  readonly port: number;
  readonly mode: FloodMode;
  readonly connections: number;
  /** Requests per write (1 for the many-connection flood). */
  readonly perWrite: number;
  /** Unanswered requests one connection may have written (bounds the generator's own memory). */
  readonly maxOutstanding: number;
}

export interface FloodResult {
  readonly mode: FloodMode;
  readonly seconds: number;
  /** Requests written to sockets. */
  readonly written: number;
  /** Complete answers by status code. */
  readonly statuses: Readonly<Record<string, number>>;
  /** Connections opened (the first ones and every reconnect). */
  readonly opened: number;
  /** Connections the server ended or reset while the flood ran. */
  readonly closedByServer: number;
  /** Connections that could not be opened (refused, no port, timeout). */
  readonly connectErrors: number;
}

export type FloodCommand = { readonly op: "start"; readonly spec: FloodSpec } | { readonly op: "stop" };
export type FloodEvent =
  | { readonly event: "ready" }
  | { readonly event: "started" }
  | { readonly event: "stopped"; readonly result: FloodResult }
  | { readonly event: "error"; readonly message: string };

/** The request the flood sends, without a credential, as a browser-less script would. */
export const FLOOD_REQUEST = "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: flood/1\r\nAccept: */*\r\n\r\n";

/** Parses one line of the flood process's stdout; undefined for anything else. */
export function parseFloodEvent(line: string): FloodEvent | undefined {
  const parsed = jsonLine(line);
  if (parsed === undefined) return undefined;
  const event = parsed.event;
  if (event === "ready" || event === "started" || event === "stopped" || event === "error") return parsed as unknown as FloodEvent;
  return undefined;
}

const CRLF = Buffer.from("\r\n");
const HEAD_END = Buffer.from("\r\n\r\n");
const EMPTY = Buffer.alloc(0);
/** A head longer than this is not an answer this parser understands: the connection is given up. */
const MAX_HEAD = 64 * 1024;

type State = "head" | "length" | "chunk-size" | "chunk-data" | "chunk-end" | "trailers" | "until-close";

/**
 * Counts complete HTTP/1.1 responses on one connection, in order, from its raw bytes: a head, then a
 * body framed by Content-Length, chunked encoding, or the connection's close. Bodies are skipped.
 */
export class ResponseCounter {
  private pending: Buffer = EMPTY;
  private state: State = "head";
  private remaining = 0;
  private status = 0;

  /** Statuses of the responses these bytes completed. Throws on bytes that are not HTTP responses. */
  push(data: Buffer): number[] {
    this.pending = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
    const done: number[] = [];
    for (;;) {
      if (this.state === "head") {
        const end = this.pending.indexOf(HEAD_END);
        if (end < 0) {
          if (this.pending.length > MAX_HEAD) throw new Error("response head too long");
          return done;
        }
        const head = this.pending.subarray(0, end).toString("latin1");
        this.pending = this.pending.subarray(end + 4);
        this.startBody(head, done);
        continue;
      }
      if (this.state === "length") {
        const take = Math.min(this.remaining, this.pending.length);
        this.pending = this.pending.subarray(take);
        this.remaining -= take;
        if (this.remaining > 0) return done;
        this.complete(done);
        continue;
      }
      if (this.state === "chunk-size" || this.state === "trailers") {
        const eol = this.pending.indexOf(CRLF);
        if (eol < 0) return done;
        const line = this.pending.subarray(0, eol).toString("latin1");
        this.pending = this.pending.subarray(eol + 2);
        if (this.state === "trailers") {
          if (line === "") this.complete(done);
          continue;
        }
        const size = parseInt(line.split(";", 1)[0].trim(), 16);
        if (!Number.isFinite(size) || size < 0) throw new Error(`bad chunk size ${JSON.stringify(line)}`);
        this.remaining = size;
        this.state = size === 0 ? "trailers" : "chunk-data";
        continue;
      }
      if (this.state === "chunk-data") {
        const take = Math.min(this.remaining, this.pending.length);
        this.pending = this.pending.subarray(take);
        this.remaining -= take;
        if (this.remaining > 0) return done;
        this.state = "chunk-end";
        continue;
      }
      if (this.state === "chunk-end") {
        if (this.pending.length < 2) return done;
        this.pending = this.pending.subarray(2);
        this.state = "chunk-size";
        continue;
      }
      // until-close: everything is body.
      this.pending = EMPTY;
      return done;
    }
  }

  /** The connection closed: a close-delimited body is complete now; returns its status, if any. */
  end(): number | undefined {
    if (this.state !== "until-close") return undefined;
    this.state = "head";
    return this.status;
  }

  private startBody(head: string, done: number[]): void {
    const lines = head.split("\r\n");
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
    if (match === null) throw new Error(`not a status line: ${JSON.stringify((lines[0] ?? "").slice(0, 40))}`);
    this.status = Number(match[1]);
    let length: number | undefined;
    let chunked = false;
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === "content-length") length = Number(value);
      else if (name === "transfer-encoding" && value.toLowerCase().includes("chunked")) chunked = true;
    }
    // Interim answers precede the real one: not counted.
    if (this.status >= 100 && this.status < 200) return;
    // RFC 9112 6.3: these never have a body (the flood sends no HEAD).
    if (this.status === 204 || this.status === 304) {
      this.complete(done);
      return;
    }
    if (chunked) {
      this.state = "chunk-size";
      return;
    }
    if (length !== undefined && Number.isFinite(length) && length >= 0) {
      this.remaining = length;
      this.state = "length";
      if (length === 0) this.complete(done);
      return;
    }
    this.state = "until-close";
  }

  private complete(done: number[]): void {
    done.push(this.status);
    this.state = "head";
  }
}

/** Answers per second by status class for a flood result, and the write rate. */
export interface FloodRates {
  readonly writtenPerSecond: number;
  readonly answeredPerSecond: number;
  readonly okPerSecond: number;
  readonly shedPerSecond: number;
  readonly closedPerSecond: number;
}

export function floodRates(result: FloodResult): FloodRates {
  const per = (n: number): number => (result.seconds > 0 ? n / result.seconds : Number.NaN);
  const answered = Object.values(result.statuses).reduce((sum, n) => sum + n, 0);
  return {
    writtenPerSecond: per(result.written),
    answeredPerSecond: per(answered),
    okPerSecond: per(result.statuses["200"] ?? 0),
    shedPerSecond: per(result.statuses["503"] ?? 0),
    closedPerSecond: per(result.closedByServer),
  };
}

/** Adds flood results of one mode (rounds pooled). */
export function mergeFloodResults(mode: FloodMode, results: readonly FloodResult[]): FloodResult {
  const statuses: Record<string, number> = {};
  for (const result of results) for (const [status, n] of Object.entries(result.statuses)) statuses[status] = (statuses[status] ?? 0) + n;
  const sum = (pick: (r: FloodResult) => number): number => results.reduce((total, r) => total + pick(r), 0);
  return {
    mode,
    seconds: sum((r) => r.seconds),
    written: sum((r) => r.written),
    statuses,
    opened: sum((r) => r.opened),
    closedByServer: sum((r) => r.closedByServer),
    connectErrors: sum((r) => r.connectErrors),
  };
}
