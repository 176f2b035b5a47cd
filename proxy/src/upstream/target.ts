import { Client } from "undici";
import { ConnectionPool, type PoolOptions } from "./pool";

export interface TargetOptions {
  /** `http://host:port` of the upstream. */
  readonly origin: string;
  /** Prefixed to every forwarded target (usually empty). */
  readonly basePath: string;
  /** Polled for readiness: 200 means ready. */
  readonly healthPath: string;
  /** Longest a health probe may take before it counts as a failure. */
  readonly probeTimeoutMs: number;
  readonly pool: PoolOptions;
  /** Headers for the proxy's own requests besides health (the internal credential, for a gateway). */
  readonly controlHeaders?: () => Readonly<Record<string, string>>;
  readonly onReadyChange?: (target: UpstreamTarget, ready: boolean) => void;
}

/** A small answer read whole: a health probe or the model list. */
export interface ControlAnswer {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly body: Buffer;
}

/** Largest control answer read (a model list is a few KB; more is not a model list). */
const MAX_CONTROL_BODY = 1024 * 1024;

/**
 * One upstream: the pool that carries client requests, plus a separate connection for the proxy's
 * own probes, so a readiness poll never waits behind client traffic and never counts as it.
 */
export class UpstreamTarget {
  readonly pool: ConnectionPool;
  private readonly control: Client;
  private ready = false;
  private polling = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: TargetOptions) {
    this.pool = new ConnectionPool(options.origin, options.pool);
    this.control = new Client(options.origin, {
      pipelining: 1,
      connect: { timeout: options.pool.connectTimeoutMs, keepAlive: true, keepAliveInitialDelay: options.pool.tcpKeepAliveMs },
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 4_000,
    });
  }

  get origin(): string {
    return this.options.origin;
  }

  get basePath(): string {
    return this.options.basePath;
  }

  get isReady(): boolean {
    return this.ready;
  }

  /** Polls readiness every `intervalMs`; resolves after the first probe. */
  start(intervalMs: number): Promise<void> {
    this.timer = setInterval(() => void this.check(), intervalMs);
    this.timer.unref();
    return this.check();
  }

  /** One probe; overlapping probes are skipped so a hung upstream cannot pile them up. */
  async check(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    let ok = false;
    try {
      const answer = await this.get(this.options.healthPath, this.options.probeTimeoutMs, {});
      ok = answer.status === 200;
    } catch {
      ok = false;
    } finally {
      this.polling = false;
    }
    this.setReady(ok);
  }

  /** A refused connection says the upstream is gone: stop sending it requests until a probe says otherwise. */
  markUnready(): void {
    this.setReady(false);
    void this.check();
  }

  /** GETs a small answer on the control connection (the proxy's own requests). */
  async get(path: string, timeoutMs: number, headers: Readonly<Record<string, string>> = this.options.controlHeaders?.() ?? {}): Promise<ControlAnswer> {
    const res = await this.control.request({
      method: "GET",
      path: this.options.basePath + path,
      headers: { ...headers },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_CONTROL_BODY) {
        res.body.destroy();
        throw new Error(`${path} answered more than ${MAX_CONTROL_BODY} bytes`);
      }
      chunks.push(chunk);
    }
    const type = res.headers["content-type"];
    return { status: res.statusCode, contentType: typeof type === "string" ? type : undefined, body: Buffer.concat(chunks) };
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    await Promise.all([this.pool.close(), this.control.destroy()]);
  }

  private setReady(ready: boolean): void {
    if (ready === this.ready || (this.stopped && ready)) return;
    this.ready = ready;
    this.options.onReadyChange?.(this, ready);
  }
}
