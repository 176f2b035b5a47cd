/** Why a held request was let go without a replica. */
export class HoldRefusedError extends Error {
  constructor(
    readonly reason: "timeout" | "overflow",
    readonly retryAfterSeconds: number,
  ) {
    super(reason === "timeout" ? "no replica became ready in time" : "too many requests are already waiting for a replica");
    this.name = "HoldRefusedError";
  }
}

interface Held {
  wake(): void;
}

/**
 * Requests waiting for a replica while none is ready (a rollout, a restart, a scale from zero):
 * bounded in number and in time, woken in arrival order the moment a replica is ready, and dropped
 * when their client leaves.
 */
export class HoldQueue {
  private readonly held: Held[] = [];

  constructor(
    private readonly max: number,
    private readonly timeoutMs: number,
  ) {}

  get size(): number {
    return this.held.length;
  }

  /** Resolves when a replica may be ready; rejects with HoldRefusedError, or the signal's reason when the client left. */
  hold(signal: AbortSignal, deadline: number): Promise<void> {
    if (this.held.length >= this.max) return Promise.reject(new HoldRefusedError("overflow", 5));
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const remaining = Math.max(0, Math.min(deadline, Date.now() + this.timeoutMs) - Date.now());
      const leave = (): void => {
        const i = this.held.indexOf(entry);
        if (i >= 0) this.held.splice(i, 1);
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
      };
      const onAbort = (): void => {
        leave();
        reject(signal.reason);
      };
      const timer = setTimeout(() => {
        leave();
        reject(new HoldRefusedError("timeout", 30));
      }, remaining);
      const entry: Held = {
        wake: () => {
          leave();
          resolve();
        },
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.held.push(entry);
    });
  }

  /** A replica is ready: every held request tries again, oldest first. */
  wakeAll(): void {
    for (const entry of this.held.slice()) entry.wake();
  }
}
