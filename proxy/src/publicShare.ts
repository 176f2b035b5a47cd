/** How long an anonymous request may wait for its share before it is shed. */
const MAX_WAIT_MS = 1_000;
/** Keyed traffic this recent still counts as present: its next request should not meet a flood at full speed. */
const KEYED_RECENT_MS = 1_000;
/** How often waiting anonymous requests are released, at the share's rate. */
const RELEASE_EVERY_MS = 10;

interface Waiter {
  readonly since: number;
  readonly resolve: (admitted: boolean) => void;
}

/**
 * The share of this process that requests without a valid key may use (the model list, refusals)
 * while requests with a key are being served: at most `perSecond`, released at that pace; one
 * second's worth may wait, for a second at most, past that they are shed. With no keyed traffic
 * present, anonymous requests are not held back: there is nobody to protect, and a model-list
 * client stays fast. Pacing rather than refusing at once keeps a flood's connections open and idle
 * instead of reconnecting, which costs the proxy more than answering.
 */
export class PublicShare {
  private tokens: number;
  private last = performance.now();
  private keyedInflight = 0;
  private lastKeyed = -Infinity;
  private readonly waiting: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly perSecond: number) {
    this.tokens = perSecond;
  }

  /** A request with a valid key started; call `keyedDone` when it ends. */
  keyedStart(): void {
    this.keyedInflight++;
    this.lastKeyed = performance.now();
  }

  keyedDone(): void {
    this.keyedInflight--;
    this.lastKeyed = performance.now();
  }

  /** Whether an anonymous request may be answered: now (true), after a wait (a promise), or never (false: shed it). */
  admit(): boolean | Promise<boolean> {
    const now = performance.now();
    this.refill(now);
    if (this.keyedInflight === 0 && now - this.lastKeyed > KEYED_RECENT_MS) return true;
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
    // Keyed traffic gone: everyone waiting may go.
    const open = this.keyedInflight === 0 && now - this.lastKeyed > KEYED_RECENT_MS;
    while (this.waiting.length > 0) {
      const first = this.waiting[0];
      if (now - first.since > MAX_WAIT_MS) {
        this.waiting.shift();
        first.resolve(false);
        continue;
      }
      if (!open && this.tokens < 1) break;
      if (!open) this.tokens -= 1;
      this.waiting.shift();
      first.resolve(true);
    }
    if (this.waiting.length === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
