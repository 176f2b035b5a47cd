/** The reason every wait and upstream request of a request is cut with when its client leaves. */
export const CLIENT_LEFT = new Error("client closed the connection");

/**
 * Whether a request's client is still there. The AbortSignal that waits (a hold, a full connection
 * line) need is made only when one is needed: an AbortController per request is among the costliest
 * things on the proxy's hot path, and most requests never wait.
 */
export class Presence {
  private controller: AbortController | undefined;
  private handlers: Array<() => void> | undefined;
  private gone = false;

  get left(): boolean {
    return this.gone;
  }

  /** Aborted when the client leaves. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.gone) this.controller.abort(CLIENT_LEFT);
    }
    return this.controller.signal;
  }

  /** The client left: cut whatever waits for it. */
  leave(): void {
    if (this.gone) return;
    this.gone = true;
    this.controller?.abort(CLIENT_LEFT);
    const handlers = this.handlers;
    this.handlers = undefined;
    if (handlers !== undefined) for (const handler of handlers) handler();
  }

  /** Runs `handler` when the client leaves (at once if it has). */
  onLeave(handler: () => void): void {
    if (this.gone) handler();
    else (this.handlers ??= []).push(handler);
  }

  offLeave(handler: () => void): void {
    const i = this.handlers?.indexOf(handler) ?? -1;
    if (i >= 0) this.handlers?.splice(i, 1);
  }
}
