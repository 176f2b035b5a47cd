/** The replicas of a local run: one sidecar (ROLE=sidecar) in front of each model server, on loopback only. */
import { loadConfig } from "../../proxy/src/config";
import type { Logger } from "../../proxy/src/log";
import { startProxy, type RunningProxy } from "../../proxy/src/server";

export interface LocalReplica {
  /** 1-based, as the banner and the log name it. */
  readonly index: number;
  /** The sidecar's API origin, as the gateway's REPLICAS lists it. */
  readonly origin: string;
  readonly metricsUrl: string;
  /** The model server it guards. */
  readonly upstream: string;
  readonly sidecar: RunningProxy;
}

export interface SidecarSettings {
  readonly internalTokenFile: string;
  readonly healthPath: string;
  readonly readyPollMs: number;
  readonly graceMs: number;
}

/**
 * Starts a sidecar in front of each URL, in order; if one fails, the ones started are stopped.
 * Loopback only, whatever --host says: as on the cluster, only the gateway reaches them. Their
 * access log is off: the gateway's line already names the key and the replica of each request,
 * and the gateway's health probes would fill the terminal.
 */
export async function startSidecars(upstreams: readonly string[], settings: SidecarSettings, logger: (index: number) => Logger): Promise<LocalReplica[]> {
  const replicas: LocalReplica[] = [];
  try {
    for (const [i, upstream] of upstreams.entries()) {
      const config = loadConfig({
        ROLE: "sidecar",
        UPSTREAM_URL: upstream,
        UPSTREAM_HEALTH_PATH: settings.healthPath,
        INTERNAL_TOKEN_FILE: settings.internalTokenFile,
        HOST: "127.0.0.1",
        PORT: "0",
        METRICS_PORT: "0",
        READY_POLL_MS: String(settings.readyPollMs),
        TOKENS_POLL_MS: "1000",
        SHUTDOWN_GRACE_MS: String(settings.graceMs),
        ACCESS_LOG: "false",
      });
      const sidecar = await startProxy(config, { logger: logger(i + 1) });
      replicas.push({
        index: i + 1,
        origin: `http://127.0.0.1:${sidecar.port}`,
        metricsUrl: `http://127.0.0.1:${sidecar.metricsPort}/metrics`,
        upstream,
        sidecar,
      });
    }
  } catch (error) {
    await Promise.all(replicas.map((r) => r.sidecar.shutdown(0)));
    throw error;
  }
  return replicas;
}
