import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Dispatcher } from "undici";

/** What the gateway decides when vLLM's response headers arrive. */
export interface RelayHooks {
  /** Returns the headers to send the client (hop-by-hop removed) and whether to flush at once. */
  responseHeaders(statusCode: number, headers: IncomingHttpHeaders): { headers: OutgoingHttpHeaders; flush: boolean };
  onBytes(count: number): void;
}

/**
 * Relays one upstream response into the client's response through undici's dispatch API.
 * Unlike `pool.request`, whose abort only destroys the body stream until more data arrives, the
 * dispatch controller's `abort` destroys the upstream socket at once, in every phase: vLLM sees the
 * disconnect immediately and stops generating.
 */
export class ResponseRelay implements Dispatcher.DispatchHandler {
  readonly done: Promise<void>;
  private controller: Dispatcher.DispatchController | undefined;
  private abortReason: Error | undefined;
  private settle!: { resolve: () => void; reject: (error: Error) => void };

  constructor(
    private readonly res: ServerResponse,
    private readonly hooks: RelayHooks,
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
  }

  /** The client left: cut the upstream request now, whatever phase it is in. */
  abort(reason: Error): void {
    this.abortReason = reason;
    this.controller?.abort(reason);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortReason !== undefined) controller.abort(this.abortReason);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    // 1xx informational answers are vLLM's business, not the client's.
    if (statusCode < 200) return;
    const decided = this.hooks.responseHeaders(statusCode, headers);
    this.res.writeHead(statusCode, decided.headers);
    if (decided.flush) this.res.flushHeaders();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.hooks.onBytes(chunk.length);
    if (!this.res.write(chunk)) {
      // Back-pressure: stop reading from vLLM until the client catches up.
      controller.pause();
      this.res.once("drain", () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.res.end();
    this.settle.resolve();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.settle.reject(error);
  }
}
