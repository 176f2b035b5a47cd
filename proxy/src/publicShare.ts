/** How long an anonymous request may wait for its share before it is shed. */
const MAX_WAIT_MS = 1_000;
/** How often waiting anonymous requests are released, at the share's rate. */
const RELEASE_EVERY_MS = 10;

interface Waiter {
  readonly since: number;
  readonly resolve: (admitted: boolean) => void;
}

/**
 * The share of this process that requests without a valid key may use (the model list, refusals):
 * at most `perSecond`, released at that pace; one second's worth may wait, for a second at most,
 * past that they are shed. Always on, not only while keyed requests run: a flood that has the event
 * loop to itself would keep a keyed client from even being read, so it could never be noticed in
 * time. Pacing rather than refusing at once keeps a flood's connections open and idle instead of
 * reconnecting, which costs the proxy more than answering. Requests with a valid key never use it.
 */
export class PublicShare {
  private tokens: number;
  private last = performance.now();
  private readonly waiting: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly perSecond: number) {
    this.tokens = perSecond;
  }

  /** Whether an anonymous request may be answered: now (true), after a wait (a promise), or never (false: shed it). */
  admit(): boolean | Promise<boolean> {
    const now = performance.now();
    this.refill(now);
    if (this.tokens >= 1 && this.waiting.length === 0) {
      this.tokens -= 1;
      return true;
    }
    if (this.waiting.length >= this.perSecond) return false;
    return new Promise<boolean>((resolve) => {
      this.waiting.push({ since: now, resolve });
      this.timer ??= setInterval(() => this.release(), RELEASE_EVERY_MS);
    });
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.last) * this.perSecond) / 1000);
    this.last = now;
  }

  private release(): void {
    const now = performance.now();
    this.refill(now);
    while (this.waiting.length > 0) {
      const first = this.waiting[0];
      if (now - first.since > MAX_WAIT_MS) {
        this.waiting.shift();
        first.resolve(false);
        continue;
      }
      if (this.tokens < 1) break;
      this.tokens -= 1;
      this.waiting.shift();
      first.resolve(true);
    }
    if (this.waiting.length === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
