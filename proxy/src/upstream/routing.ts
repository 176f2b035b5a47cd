import { upstreamNotReady } from "../errors";
import type { Upstreams } from "../handler";
import type { Metrics } from "../metrics";
import type { Presence } from "../presence";
import { HoldQueue, HoldRefusedError } from "./holding";
import type { ReplicaSet } from "./replicas";
import type { UpstreamTarget } from "./target";

/** single and sidecar: one upstream, forwarded to while it answers its health check. */
export class SingleUpstream implements Upstreams {
  readonly retriesRefused = false;

  constructor(private readonly target: UpstreamTarget) {}

  get accepting(): boolean {
    return this.target.isReady;
  }

  choose(): Promise<UpstreamTarget> {
    return this.target.isReady ? Promise.resolve(this.target) : Promise.reject(upstreamNotReady());
  }
}

/**
 * gateway: the least busy ready replica; while none is ready, the request is held (bounded in
 * number and time) and goes out the moment one turns ready.
 */
export class ReplicaUpstreams implements Upstreams {
  readonly accepting = true;
  readonly retriesRefused = true;

  constructor(
    private readonly replicas: ReplicaSet,
    private readonly holds: HoldQueue,
    private readonly coldStartTimeoutMs: number,
    private readonly metrics: Metrics,
  ) {}

  /** Held requests now (the autoscaler's wake-up signal). */
  get held(): number {
    return this.holds.size;
  }

  /** A replica turned ready: held requests go now. */
  replicaReady(): void {
    this.holds.wakeAll();
  }

  async choose(presence: Presence, exclude: ReadonlySet<UpstreamTarget>): Promise<UpstreamTarget> {
    const deadline = Date.now() + this.coldStartTimeoutMs;
    let tried = exclude;
    let held = false;
    for (;;) {
      const replica = this.replicas.pick(tried);
      if (replica !== undefined) {
        if (held) this.metrics.holdOutcomes.inc({ outcome: "served" });
        return replica;
      }
      held = true;
      this.metrics.held.inc();
      try {
        await this.holds.hold(presence.signal, deadline);
      } catch (error) {
        const outcome = error instanceof HoldRefusedError ? error.reason : "client_gone";
        this.metrics.holdOutcomes.inc({ outcome });
        throw error;
      } finally {
        this.metrics.held.dec();
      }
      // Woken by a replica turning ready: the ones that refused before may be back too.
      tried = new Set();
    }
  }
}
