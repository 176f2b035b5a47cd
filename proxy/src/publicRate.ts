/**
 * A token bucket for requests that carry no valid credential (the model list, refusals): the
 * share of this process that anonymous clients may use, so a flood of them sheds with 503 instead
 * of taking the event loop from clients with keys. One second's worth of burst.
 */
export class PublicRate {
  private tokens: number;
  private last = performance.now();

  constructor(private readonly perSecond: number) {
    this.tokens = perSecond;
  }

  /** Takes one request's share; false when the anonymous share is used up for now. */
  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.last) * this.perSecond) / 1000);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
