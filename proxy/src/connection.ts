import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";

interface Waiting {
  readonly res: ServerResponse;
  readonly start: () => void;
}

interface State {
  busy: boolean;
  readonly waiting: Waiting[];
}

/**
 * One request at a time per client connection, as nginx does: a pipelined request is answered only
 * after the one before it has been answered, so one connection never has more than one request at
 * the upstream, and a client that closes its connection leaves no request running behind it.
 *
 * Node's HTTP parser reads every pipelined request a packet holds, so the ones behind the current
 * request are parked here, not started; more than `maxWaiting` parked on one connection is no
 * client's honest use, and the connection is closed.
 */
export class ConnectionSerializer {
  private readonly states = new WeakMap<Socket, State>();

  constructor(
    private readonly maxWaiting: number,
    private readonly onOverflow: (socket: Socket) => void,
  ) {}

  /** Runs `start` now, or when the connection's current response has ended. */
  run(req: IncomingMessage, res: ServerResponse, start: () => void): void {
    const socket = req.socket;
    let state = this.states.get(socket);
    if (state === undefined) {
      const created: State = { busy: false, waiting: [] };
      state = created;
      this.states.set(socket, created);
      // A closed connection answers none of its parked requests: drop them, nothing was started.
      socket.once("close", () => {
        created.waiting.length = 0;
      });
    }
    if (socket.destroyed) return;
    if (!state.busy) {
      this.begin(state, res, start);
      return;
    }
    if (state.waiting.length >= this.maxWaiting) {
      state.waiting.length = 0;
      this.onOverflow(socket);
      socket.destroy();
      return;
    }
    state.waiting.push({ res, start });
  }

  private begin(state: State, res: ServerResponse, start: () => void): void {
    state.busy = true;
    let done = false;
    const next = (): void => {
      if (done) return;
      done = true;
      const following = state.waiting.shift();
      if (following === undefined) {
        state.busy = false;
        return;
      }
      this.begin(state, following.res, following.start);
    };
    // 'finish': the whole response is handed to the socket; 'close': it never will be.
    res.once("finish", next);
    res.once("close", next);
    start();
  }
}
