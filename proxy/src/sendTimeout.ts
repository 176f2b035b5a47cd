import type { Socket } from "node:net";

/**
 * Closes a client connection that stops taking the answer: its send queue has stayed full, with no
 * drain, for `timeoutMs` (nginx's `send_timeout`). Without it, a client that never reads holds its
 * stream, the upstream request behind it and the key's concurrency slot for as long as the
 * connection stays open: back-pressure pauses the upstream read, and a paused read never times out.
 * The socket's close ends the upstream request like any client that leaves.
 */
export class SendWatchdog {
  /** Each watched connection, with when it last became back-pressured (undefined while it is not). */
  private readonly sockets = new Map<Socket, number | undefined>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly onTimeout: (socket: Socket) => void,
  ) {}

  /** Watches a client connection until it closes (the server's 'connection' event). */
  watch(socket: Socket): void {
    this.sockets.set(socket, undefined);
    // A drain is progress: the client took everything that was queued.
    socket.on("drain", () => {
      if (this.sockets.has(socket)) this.sockets.set(socket, undefined);
    });
    socket.once("close", () => this.sockets.delete(socket));
    // Checked four times per timeout: a stalled client is closed between 1x and 1.25x the timeout.
    this.timer ??= setInterval(() => this.sweep(), Math.max(25, Math.floor(this.timeoutMs / 4)));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [socket, since] of this.sockets) {
      // Not back-pressured: the kernel took every byte so far, whatever the client does next.
      if (!socket.writableNeedDrain) {
        if (since !== undefined) this.sockets.set(socket, undefined);
      } else if (since === undefined) {
        this.sockets.set(socket, now);
      } else if (now - since >= this.timeoutMs) {
        this.sockets.delete(socket);
        this.onTimeout(socket);
        socket.destroy();
      }
    }
  }
}
