import { lookup } from "node:dns/promises";
import type { ReplicaSource } from "../config";
import type { PoolOptions } from "./pool";
import { UpstreamTarget } from "./target";

/** Addresses a DNS name resolves to; injectable so tests can change them. */
export type Resolver = (name: string) => Promise<readonly string[]>;

const systemResolver: Resolver = async (name) => (await lookup(name, { all: true, verbatim: true })).map((a) => a.address);

export interface ReplicaSetOptions {
  readonly source: ReplicaSource;
  readonly healthPath: string;
  readonly probeTimeoutMs: number;
  readonly pollMs: number;
  readonly pool: PoolOptions;
  readonly controlHeaders: () => Readonly<Record<string, string>>;
  /** A replica turned ready or unready, appeared or went: held requests and metrics look again. */
  readonly onChange: (replica: UpstreamTarget, event: "ready" | "unready" | "added" | "removed") => void;
  readonly onResolveFailed?: (error: Error) => void;
  readonly resolve?: Resolver;
}

const originOf = (address: string, port: number): string => (address.includes(":") ? `http://[${address}]:${port}` : `http://${address}:${port}`);

/**
 * The gateway's replicas: discovered from the headless Service's DNS name (CoreDNS answers only
 * ready pods, with a 5 s TTL, and no Kubernetes API access is needed) or a fixed list, each probed
 * on its own `/health`, and picked per request by the fewest requests this gateway has at it.
 */
export class ReplicaSet {
  private readonly replicas = new Map<string, UpstreamTarget>();
  private timer: NodeJS.Timeout | undefined;
  private rotation = 0;
  private resolving = false;
  private stopped = false;

  constructor(private readonly options: ReplicaSetOptions) {}

  /** Every replica known now (for metrics). */
  get all(): readonly UpstreamTarget[] {
    return [...this.replicas.values()];
  }

  get readyCount(): number {
    let n = 0;
    for (const r of this.replicas.values()) if (r.isReady) n++;
    return n;
  }

  /** Discovers the replicas and probes them once; then keeps both going in the background. */
  async start(): Promise<void> {
    const source = this.options.source;
    if (source.kind === "static") {
      await Promise.all(source.urls.map((url) => this.add(url.origin)));
      return;
    }
    await this.resolveOnce();
    this.timer = setInterval(() => void this.resolveOnce(), source.resolveMs);
    this.timer.unref();
  }

  /**
   * The ready replica with the fewest requests from this gateway (in flight plus waiting for a
   * connection); ties go round in turn so equal replicas share evenly. `exclude`: replicas this
   * request already found refusing.
   */
  pick(exclude?: ReadonlySet<UpstreamTarget>): UpstreamTarget | undefined {
    const ready: UpstreamTarget[] = [];
    for (const r of this.replicas.values()) if (r.isReady && exclude?.has(r) !== true) ready.push(r);
    if (ready.length === 0) return undefined;
    const start = this.rotation++ % ready.length;
    let best: UpstreamTarget | undefined;
    let bestLoad = Infinity;
    for (let i = 0; i < ready.length; i++) {
      const r = ready[(start + i) % ready.length];
      const load = r.pool.inflight + r.pool.waiting;
      if (load < bestLoad) {
        best = r;
        bestLoad = load;
      }
    }
    return best;
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    const all = [...this.replicas.values()];
    this.replicas.clear();
    await Promise.all(all.map((r) => r.close()));
  }

  private async resolveOnce(): Promise<void> {
    const source = this.options.source;
    if (source.kind !== "dns" || this.resolving || this.stopped) return;
    this.resolving = true;
    try {
      const addresses = await (this.options.resolve ?? systemResolver)(source.name);
      const wanted = new Set(addresses.map((a) => originOf(a, source.port)));
      await Promise.all([...wanted].filter((o) => !this.replicas.has(o)).map((o) => this.add(o)));
      for (const [origin, replica] of this.replicas) {
        if (wanted.has(origin)) continue;
        // Gone from DNS (not ready, or deleted): no new requests; the ones at it finish, then its connections close.
        this.replicas.delete(origin);
        this.options.onChange(replica, "removed");
        void replica.close();
      }
    } catch (error) {
      // NXDOMAIN while no pod is ready is normal for a headless Service scaled to zero.
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOTFOUND" || code === "ENODATA") {
        for (const [origin, replica] of this.replicas) {
          this.replicas.delete(origin);
          this.options.onChange(replica, "removed");
          void replica.close();
        }
      } else this.options.onResolveFailed?.(error as Error);
    } finally {
      this.resolving = false;
    }
  }

  private async add(origin: string): Promise<void> {
    if (this.stopped || this.replicas.has(origin)) return;
    const replica = new UpstreamTarget({
      origin,
      basePath: "",
      healthPath: this.options.healthPath,
      probeTimeoutMs: this.options.probeTimeoutMs,
      pool: this.options.pool,
      controlHeaders: this.options.controlHeaders,
      onReadyChange: (target, ready) => this.options.onChange(target, ready ? "ready" : "unready"),
    });
    this.replicas.set(origin, replica);
    this.options.onChange(replica, "added");
    await replica.start(this.options.pollMs);
  }
}
