import type { Pool } from "undici";

/** Tracks whether vLLM answers its own /health, polled in the background. */
export class UpstreamReadiness {
  private ready = false;
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(
    private readonly pool: Pool,
    private readonly healthPath: string,
    private readonly timeoutMs: number,
    private readonly onChange: (ready: boolean) => void,
  ) {}

  get isReady(): boolean {
    return this.ready;
  }

  start(intervalMs: number): Promise<void> {
    this.timer = setInterval(() => void this.check(), intervalMs);
    this.timer.unref();
    return this.check();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  /** One probe; overlapping probes are skipped so a hung upstream cannot pile them up. */
  async check(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    let ok = false;
    try {
      const res = await this.pool.request({
        method: "GET",
        path: this.healthPath,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      ok = res.statusCode === 200;
      await res.body.dump();
    } catch {
      ok = false;
    } finally {
      this.polling = false;
    }
    this.set(ok);
  }

  private set(ready: boolean): void {
    if (ready === this.ready) return;
    this.ready = ready;
    this.onChange(ready);
  }
}
