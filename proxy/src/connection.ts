import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";

interface Waiting {
  readonly res: ServerResponse;
  readonly start: () => void;
}

interface State {
  busy: boolean;
  readonly waiting: Waiting[];
  /** `socket.bytesRead` when the connection last had nothing to answer: more read since means a request is arriving. */
  idleAt: number;
  /** Past its bound: no longer read, its further requests never start, it closes once its parked ones are answered. */
  overflowed: boolean;
}

/** Node's own flag for a server socket whose reading it stopped; Node resumes reading only when it is false. */
type ServerSocket = Socket & { _paused?: boolean };

/**
 * Stops reading a client connection for good. Node's HTTP server resumes a paused socket whenever a
 * response ends unless its own `_paused` flag is set (`readStart` in node:_http_incoming), so the
 * flag is set too (the same check from Node 20 to 24); only what the parser already holds is parsed after this.
 */
function stopReading(socket: ServerSocket): void {
  socket._paused = true;
  socket.pause();
}

/**
 * Node parses every pipelined request of a read (up to 64 KiB of them) before a close takes effect,
 * and on close aborts each with an error whose stack it captures and formats: for a pipelining flood
 * that costs more than answering. Errors made while Node tears this socket down carry no stack; the
 * limit is restored by the listener that runs right after Node's own.
 */
function cheapTeardown(socket: Socket): void {
  let saved = Error.stackTraceLimit;
  socket.prependListener("close", () => {
    saved = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
  });
  socket.on("close", () => {
    Error.stackTraceLimit = saved;
  });
}

export type ConnectionShed = "oldest_idle" | "all_busy";

export interface ConnectionBounds {
  /** Pipelined requests one connection may park behind its current one. */
  readonly maxWaiting: number;
  /** Pipelined requests all connections together may park. */
  readonly maxWaitingTotal: number;
  /** Open client connections; a new one past it closes the longest-idle one, or itself when none is idle. */
  readonly maxConnections: number;
}

export interface ConnectionEvents {
  readonly overflow: (socket: Socket) => void;
  readonly shed: (socket: Socket, reason: ConnectionShed) => void;
}

/**
 * One request at a time per client connection, as nginx does: a pipelined request is answered only
 * after the one before it has been answered, so one connection never has more than one request at
 * the upstream, and a client that closes its connection leaves no request running behind it.
 *
 * Node's HTTP parser reads every pipelined request a packet holds, so the ones behind the current
 * request are parked here, not started. A pipelining client that waits for its answers is served
 * at the pace its requests are answered, so it makes the proxy parse no faster than that.
 *
 * A connection that parks more than `maxWaiting` is no longer read: its parked requests are
 * answered in order, the ones past the bound never start, and it closes after the last answer.
 * Closing it at once would let the client reconnect and make the proxy parse another packet of
 * requests for every answer; this way a connection costs the client its time. One that pushes the
 * parked total of all connections past `maxWaitingTotal` is closed at once, dropping what it parked:
 * both bounds together keep the memory parked requests take bounded, whatever the number of connections.
 */
export class ConnectionSerializer {
  private readonly states = new WeakMap<Socket, State>();
  private readonly open = new Set<Socket>();
  /** Connections with no request in progress, longest idle first (a Set keeps insertion order). */
  private readonly idle = new Set<Socket>();
  private parked = 0;

  constructor(
    private readonly bounds: ConnectionBounds,
    private readonly events: ConnectionEvents,
  ) {}

  /**
   * Tracks a new client connection (the server's 'connection' event). Past `maxConnections`, the
   * connection idle longest makes room: connections that only wait cannot keep out one that comes
   * to ask; with every connection busy, the new one is closed.
   */
  accept(socket: Socket): void {
    this.stateOf(socket);
    if (this.open.size <= this.bounds.maxConnections) return;
    const oldest = this.idle.values().next().value;
    const victim = oldest !== undefined && oldest !== socket ? oldest : socket;
    this.forget(victim);
    this.events.shed(victim, victim === socket ? "all_busy" : "oldest_idle");
    victim.destroy();
  }

  /** Open client connections, for the gauge. */
  get connections(): number {
    return this.open.size;
  }

  /**
   * Closes every connection with no request in progress or arriving: at SIGTERM, and while draining
   * as responses end (a keep-alive connection must not hold the drained process).
   */
  closeIdle(): void {
    for (const socket of this.open) {
      const state = this.states.get(socket);
      if (state !== undefined && !state.busy && socket.bytesRead === state.idleAt) socket.destroy();
    }
  }

  private stateOf(socket: Socket): State {
    let state = this.states.get(socket);
    if (state === undefined) {
      const created: State = { busy: false, waiting: [], idleAt: socket.bytesRead, overflowed: false };
      state = created;
      this.states.set(socket, created);
      this.open.add(socket);
      this.idle.add(socket);
      // A closed connection answers none of its parked requests: drop them, nothing was started.
      socket.once("close", () => {
        this.parked -= created.waiting.length;
        created.waiting.length = 0;
        this.forget(socket);
      });
    }
    return state;
  }

  /** No longer counted: closed, or being closed to make room. */
  private forget(socket: Socket): void {
    this.open.delete(socket);
    this.idle.delete(socket);
  }

  /** Runs `start` now, or when the connection's current response has ended. */
  run(req: IncomingMessage, res: ServerResponse, start: () => void): void {
    const socket = req.socket;
    const state = this.stateOf(socket);
    if (socket.destroyed) return;
    if (state.overflowed) {
      // Past the bound: never started, and reading stays stopped if Node resumed it meanwhile.
      stopReading(socket);
      return;
    }
    if (!state.busy) {
      this.begin(socket, state, res, start);
      return;
    }
    if (state.waiting.length >= this.bounds.maxWaiting) {
      state.overflowed = true;
      this.events.overflow(socket);
      stopReading(socket);
      return;
    }
    if (this.parked >= this.bounds.maxWaitingTotal) {
      this.parked -= state.waiting.length;
      state.waiting.length = 0;
      this.events.overflow(socket);
      cheapTeardown(socket);
      socket.destroy();
      return;
    }
    state.waiting.push({ res, start });
    this.parked++;
  }

  private begin(socket: Socket, state: State, res: ServerResponse, start: () => void): void {
    state.busy = true;
    this.idle.delete(socket);
    let done = false;
    const next = (): void => {
      if (done) return;
      done = true;
      // The response ended because the connection did: its parked requests die with it, unstarted.
      if (socket.destroyed) {
        this.parked -= state.waiting.length;
        state.waiting.length = 0;
      }
      const following = state.waiting.shift();
      if (following !== undefined) this.parked--;
      if (following === undefined) {
        state.busy = false;
        state.idleAt = socket.bytesRead;
        if (this.open.has(socket)) this.idle.add(socket);
        // The last answer is handed over: send it, then close.
        if (state.overflowed && !socket.destroyed) socket.end(() => socket.destroy());
        return;
      }
      this.begin(socket, state, following.res, following.start);
    };
    // 'finish': the whole response is handed to the socket; 'close': it never will be.
    res.once("finish", next);
    res.once("close", next);
    start();
  }
}
