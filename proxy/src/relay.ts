import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Dispatcher } from "undici";
import { isChunkedOnly } from "./framing";
import { UpstreamCodingError } from "./upstream/errors";

/** What the request handler decides when the upstream's response headers arrive. */
export type HeadDecision =
  /** Relay: the headers for the client (hop-by-hop removed) and whether to flush at once. */
  | { readonly relay: true; readonly headers: OutgoingHttpHeaders; readonly flush: boolean }
  /** Drop this answer and try again (nothing reached the model server), e.g. a sidecar refusing an old internal credential. */
  | { readonly relay: false };

export interface RelayHooks {
  responseHeaders(statusCode: number, headers: IncomingHttpHeaders): HeadDecision;
  /** The bytes to send the client for an upstream chunk (metering may remove what the client did not ask for). */
  transform(chunk: Buffer): Buffer;
  onBytes(count: number): void;
  /** The whole answer has arrived, just before the client's response ends: settle what depends on it first. */
  beforeEnd?(): void;
}

/** The upstream answer was dropped for a retry (see HeadDecision). */
export class RetryAnswer extends Error {
  constructor(readonly status: number) {
    super(`upstream answered ${status}; retrying`);
    this.name = "RetryAnswer";
  }
}

/**
 * Relays one upstream response into the client's response through undici's dispatch API.
 * Unlike `request`, whose abort only destroys the body stream until more data arrives, the
 * dispatch controller's `abort` destroys the upstream socket at once, in every phase: vLLM sees the
 * disconnect immediately and stops generating.
 */
export class ResponseRelay implements Dispatcher.DispatchHandler {
  readonly done: Promise<void>;
  private controller: Dispatcher.DispatchController | undefined;
  private abortReason: Error | undefined;
  private started = false;
  private settle!: { resolve: () => void; reject: (error: Error) => void };

  constructor(
    private readonly res: ServerResponse,
    private readonly hooks: RelayHooks,
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
  }

  /** Whether any byte of the answer reached the client: past that, nothing may be retried or rewritten. */
  get responseStarted(): boolean {
    return this.started;
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

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    // Interim answers never reach here (upstream/headFilter.ts drops them); this guards the rest.
    if (statusCode < 200) return;
    const coding = headers["transfer-encoding"];
    if (coding !== undefined && !isChunkedOnly(coding)) {
      controller.abort(new UpstreamCodingError(String(coding)));
      return;
    }
    const decided = this.hooks.responseHeaders(statusCode, headers);
    if (!decided.relay) {
      controller.abort(new RetryAnswer(statusCode));
      return;
    }
    this.started = true;
    this.res.writeHead(statusCode, decided.headers);
    if (decided.flush) this.res.flushHeaders();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const out = this.hooks.transform(chunk);
    if (out.length === 0) return;
    this.hooks.onBytes(out.length);
    if (!this.res.write(out)) {
      // Back-pressure: stop reading from vLLM until the client catches up.
      controller.pause();
      this.res.once("drain", () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.hooks.beforeEnd?.();
    this.res.end();
    this.settle.resolve();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.settle.reject(error);
  }
}
