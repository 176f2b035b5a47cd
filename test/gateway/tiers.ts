/**
 * Both tiers in one test process, over real sockets: a gateway (ROLE=gateway) in front of sidecars
 * (ROLE=sidecar), each in front of its own vLLM emulator, with generated named keys.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../../proxy/src/config";
import { formatKey, keyDigest, renderKeysFile, type KeyLimits } from "../../proxy/src/keys/format";
import { createLogger } from "../../proxy/src/log";
import { startProxy, type RunningProxy, type StartOptions } from "../../proxy/src/server";
import { VllmEmulator, type EmulatorOptions } from "../upstream/emulator";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
export const randomKey = (): string => formatKey(Array.from(randomBytes(36), (b) => BASE62[b % 62]).join(""));
export const INTERNAL = "internal_0123456789abcdefghijklmnopqrstuvwxyzAB";

export interface Replica {
  readonly emulator: VllmEmulator;
  readonly sidecar: RunningProxy;
  readonly url: string;
  readonly logs: string[];
  stop(): Promise<void>;
}

export interface Tiers {
  readonly gateway: RunningProxy;
  readonly url: string;
  readonly replicas: Replica[];
  /** The generated key of each named key. */
  readonly keys: Readonly<Record<string, string>>;
  readonly dir: string;
  readonly gatewayLogs: string[];
  gatewayLines(): Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export interface TiersOptions {
  readonly replicas?: number;
  readonly emulator?: EmulatorOptions;
  /** Named keys with their limits; default one key `alice`. */
  readonly keys?: Readonly<Record<string, KeyLimits | undefined>>;
  readonly gatewayEnv?: Record<string, string>;
  readonly sidecarEnv?: Record<string, string>;
  /** Internal tokens as the gateway and the sidecars see them (rotation tests). */
  readonly internal?: { readonly gateway: readonly string[]; readonly sidecar: readonly string[] };
  readonly start?: StartOptions;
  /** Replica origins instead of starting any (fake or dead replicas). */
  readonly replicaUrls?: readonly string[];
}

const QUIET = { READY_POLL_MS: "100", TOKENS_POLL_MS: "100", HOST: "127.0.0.1", PORT: "0", METRICS_PORT: "0" } as const;

export async function startReplica(dir: string, index: number, options: TiersOptions = {}): Promise<Replica> {
  const emulator = new VllmEmulator({ quiet: true, ...options.emulator });
  await emulator.start();
  const internalFile = path.join(dir, `internal-sidecar-${index}`);
  writeFileSync(internalFile, `${(options.internal?.sidecar ?? [INTERNAL]).join("\n")}\n`);
  const logs: string[] = [];
  const sidecar = await startProxy(
    loadConfig({ ...QUIET, ROLE: "sidecar", UPSTREAM_URL: emulator.url, INTERNAL_TOKEN_FILE: internalFile, ...options.sidecarEnv }),
    { logger: createLogger((line) => logs.push(line)) },
  );
  return {
    emulator,
    sidecar,
    url: `http://127.0.0.1:${sidecar.port}`,
    logs,
    stop: async () => {
      await sidecar.shutdown(0);
      await emulator.close();
    },
  };
}

export async function startTiers(options: TiersOptions = {}): Promise<Tiers> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "vllm-auth-tiers-"));
  const replicas: Replica[] = [];
  if (options.replicaUrls === undefined) {
    for (let i = 0; i < (options.replicas ?? 1); i++) replicas.push(await startReplica(dir, i, options));
  }
  const keys: Record<string, string> = {};
  const named = options.keys ?? { alice: undefined };
  for (const name of Object.keys(named)) keys[name] = randomKey();
  writeFileSync(
    path.join(dir, "keys.json"),
    renderKeysFile(Object.entries(named).map(([name, limits]) => ({ name, sha256: keyDigest(keys[name]), ...(limits !== undefined ? { limits } : {}) }))),
  );
  writeFileSync(path.join(dir, "internal-gateway"), `${(options.internal?.gateway ?? [INTERNAL]).join("\n")}\n`);
  const gatewayLogs: string[] = [];
  const gateway = await startProxy(
    loadConfig({
      ...QUIET,
      ROLE: "gateway",
      KEYS_FILE: path.join(dir, "keys.json"),
      INTERNAL_TOKEN_FILE: path.join(dir, "internal-gateway"),
      REPLICAS: (options.replicaUrls ?? replicas.map((r) => r.url)).join(","),
      MODEL_ID: "meta-llama/Llama-2-7b-chat-hf",
      ...options.gatewayEnv,
    }),
    { logger: createLogger((line) => gatewayLogs.push(line)), ...options.start },
  );
  return {
    gateway,
    url: `http://127.0.0.1:${gateway.port}`,
    replicas,
    keys,
    dir,
    gatewayLogs,
    gatewayLines: () => gatewayLogs.map((line) => JSON.parse(line) as Record<string, unknown>),
    close: async () => {
      await gateway.shutdown(0);
      await Promise.all(replicas.map((r) => r.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Client requests an emulator served (the sidecar's own probes carry no X-Forwarded-Proto). */
export function served(replica: Replica): ReturnType<VllmEmulator["requests"]["filter"]> {
  return replica.emulator.requests.filter((r) => r.headers["x-forwarded-proto"] !== undefined);
}
