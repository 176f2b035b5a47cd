import { Client, buildConnector } from "undici";
import { ResponseHeadFilter } from "./headFilter";

export interface PoolOptions {
  /** Most connections (so requests) at the upstream at once. */
  readonly connections: number;
  /** Most requests waiting for a free connection; past it `acquire` refuses at once. */
  readonly maxWaiting: number;
  readonly connectTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  /** First TCP keep-alive probe after this much silence (keeps load balancer flows alive). */
  readonly tcpKeepAliveMs: number;
}

/** Every connection is taken and the waiting line is full: the proxy sheds the request. */
export class PoolSaturatedError extends Error {
  readonly code = "UPSTREAM_SATURATED";
  constructor(origin: string) {
    super(`every connection to ${origin} is busy and the waiting line is full`);
    this.name = "PoolSaturatedError";
  }
}

/** One connection to the upstream: an undici Client used by one request at a time. */
export interface Connection {
  readonly client: Client;
  readonly filter: ResponseHeadFilter;
}

interface Waiter {
  resolve(connection: Connection): void;
  reject(error: unknown): void;
  cleanup(): void;
}

/**
 * Connections to one upstream origin, each serving one request at a time, with a bounded line of
 * requests waiting for one. Built on undici Clients rather than an undici Pool for three things a
 * Pool does not offer: the bound on waiting requests (a Pool queues without end), the exact count
 * of requests at this upstream (least-request balancing reads it), and knowing which socket a
 * request runs on, so the response-head filter can be armed for it.
 */
export class ConnectionPool {
  private readonly idle: Connection[] = [];
  private readonly waiters: Waiter[] = [];
  private created = 0;
  private busy = 0;
  private closed = false;

  constructor(
    readonly origin: string,
    private readonly options: PoolOptions,
  ) {}

  /** Requests holding a connection now. */
  get inflight(): number {
    return this.busy;
  }

  /** Requests waiting for a connection now. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** A connection now when one is free (no promise, no allocation on the hot path). */
  tryAcquire(): Connection | undefined {
    if (this.closed) return undefined;
    let connection = this.idle.pop();
    if (connection === undefined && this.created < this.options.connections) connection = this.create();
    if (connection === undefined) return undefined;
    this.busy++;
    connection.filter.arm();
    return connection;
  }

  /** A connection, waiting in line when all are busy; refuses at once when the line is full. */
  acquire(signal?: AbortSignal): Promise<Connection> {
    const now = this.tryAcquire();
    if (now !== undefined) return Promise.resolve(now);
    if (this.closed || this.waiters.length >= this.options.maxWaiting) return Promise.reject(new PoolSaturatedError(this.origin));
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Connection>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener("abort", onAbort),
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Gives the connection to the next waiting request, or back to the idle set. */
  release(connection: Connection): void {
    const next = this.waiters.shift();
    if (next !== undefined) {
      next.cleanup();
      connection.filter.arm();
      next.resolve(connection);
      return;
    }
    this.busy--;
    if (this.closed) void connection.client.destroy();
    else this.idle.push(connection);
  }

  /** Closes every connection; waiting requests are refused. */
  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) {
      waiter.cleanup();
      waiter.reject(new PoolSaturatedError(this.origin));
    }
    const idle = this.idle.splice(0);
    await Promise.all(idle.map((c) => c.client.destroy()));
  }

  private create(): Connection {
    const filter = new ResponseHeadFilter();
    const connect = buildConnector({
      timeout: this.options.connectTimeoutMs,
      keepAlive: true,
      keepAliveInitialDelay: this.options.tcpKeepAliveMs,
    });
    const client = new Client(this.origin, {
      pipelining: 1,
      headersTimeout: this.options.headersTimeoutMs,
      bodyTimeout: this.options.bodyTimeoutMs,
      // Below uvicorn's 5 s keep-alive, so a connection vLLM is closing is never reused.
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 4_000,
      connect: (opts, callback) =>
        connect(opts, (error, socket) => {
          if (socket) filter.attach(socket);
          if (error !== null) callback(error, null);
          else callback(null, socket);
        }),
    });
    this.created++;
    return { client, filter };
  }
}
