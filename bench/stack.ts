/**
 * Everything the workloads run against: the emulator process, the in-process stamped upstream,
 * two single-role proxy processes (one per upstream), one nginx with the seed's server for each
 * upstream, and the two tiers (a gateway process in front of a sidecar process) for each upstream,
 * with named keys and a redis-server for the per-key limits. Plus the flood process, and on demand
 * a gateway in front of three sidecars (the balancing row).
 */
import { randomInt } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { proxyNodeOptions } from "../infra/k8s/nodeHeap";
import { formatKey, keyDigest, renderKeysFile, type KeyLimits } from "../proxy/src/keys/format";
import { DEFAULT_GATEWAY_RESOURCES, DEFAULT_PROXY_RESOURCES } from "../stacks/configSchema";
import { FloodProcess } from "./flood";
import { startNginx, SEED_TOKEN, type Nginx } from "./nginx";
import { jsonLine, spawnChild, type Child } from "./processes";
import { startRedis, type Redis } from "./redis";
import { StampedUpstream } from "./stamped-upstream";
import { MODEL, type Target } from "./workloads";

export interface Pinning {
  /** The upstream's core. */
  readonly upstream: number | undefined;
  /** The core shared by the proxy, nginx and the load generator. */
  readonly front: number | undefined;
}

/** A gateway in front of several sidecars, all in front of the stamped upstream. */
export interface Balance {
  readonly port: number;
  /** Each sidecar's metrics port, in REPLICAS order. */
  readonly sidecarMetricsPorts: readonly number[];
  stop(): Promise<void>;
}

export interface Stack {
  readonly targets: readonly Target[];
  readonly stamped: StampedUpstream;
  readonly nginx: Nginx;
  /** The two-tier target's keys: one without limits (its token), one with every limit. */
  readonly keys: { readonly plain: string; readonly limited: string };
  /** The request-rate gateway's metrics port (the limits store's state). */
  readonly gatewayMetricsPort: number;
  readonly flood: FloodProcess;
  /** A gateway (front core) in front of `replicas` sidecars (upstream core); stop it when done. */
  startBalance(replicas: number): Promise<Balance>;
  /** Stops the request-rate rows' processes, so their clean-up (V8's idle GCs) cannot disturb the streaming rows. */
  stopRateProcesses(): Promise<void>;
  stop(): Promise<void>;
}

const ROOT = path.resolve(__dirname, "..");
const TSX_LOADER = "tsx";
const START_TIMEOUT_MS = 20_000;
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** The two-tier target's key names in the keys file. */
export const PLAIN_KEY = "bench";
export const LIMITED_KEY = "bench-limited";
/** Every limit set, none ever reached by the bench: the row measures their cost, not refusals. */
export const BENCH_LIMITS: Required<KeyLimits> = { rpm: 10_000_000, tpm: 1_000_000_000, concurrency: 10_000 };
/** Between gateway and sidecars (48 letters and digits, like the stack's generated one). */
const INTERNAL_TOKEN = "benchinternal0123456789abcdefghijklmnopqrstuvwxyz".slice(0, 48);

const randomKey = (): string => formatKey(Array.from({ length: 36 }, () => BASE62[randomInt(62)]).join(""));

async function startEmulator(cpu: number | undefined): Promise<{ child: Child; port: number }> {
  const child = spawnChild("emulator", process.execPath, ["--import", TSX_LOADER, path.join(ROOT, "bench", "upstream-main.ts")], { cpu, cwd: ROOT });
  const port = await child.waitForLine((line) => /^http:\/\/127\.0\.0\.1:(\d+)$/.exec(line.trim())?.[1], START_TIMEOUT_MS);
  return { child, port: Number(port) };
}

interface Listening {
  readonly port: number;
  readonly metricsPort: number;
}

/** The bound ports from the proxy's `listening` log line; "unready" when its upstream (or every replica) was not up. */
export function listeningPorts(line: string): Listening | "unready" | undefined {
  const fields = jsonLine(line);
  if (fields === undefined) return undefined;
  if (fields.msg !== "listening" || typeof fields.port !== "number" || typeof fields.metrics_port !== "number") return undefined;
  return fields.upstream_ready === true ? { port: fields.port, metricsPort: fields.metrics_port } : "unready";
}

interface ProxyBundle {
  readonly bundle: string;
  readonly flags: readonly string[];
  readonly profDir: string | undefined;
}

export interface ProxyProcess extends Listening {
  readonly child: Child;
}

/** The built bundle as its own process, per-request logging off, everything else at its defaults. */
async function startProxy(name: string, proxy: ProxyBundle, roleEnv: Readonly<Record<string, string>>, cpu: number | undefined): Promise<ProxyProcess> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    ...roleEnv,
    HOST: "127.0.0.1",
    PORT: "0",
    METRICS_PORT: "0",
    ACCESS_LOG: "false",
    SHUTDOWN_GRACE_MS: "1000",
  };
  const profile = proxy.profDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${proxy.profDir}`, `--cpu-prof-name=${name}.cpuprofile`];
  const child = spawnChild(name, process.execPath, [...proxy.flags, ...profile, proxy.bundle], { cpu, env, cwd: ROOT });
  const ports = await child.waitForLine(listeningPorts, START_TIMEOUT_MS);
  if (ports === "unready") {
    await child.stop();
    throw new Error(`${name}: started, but its upstream (${roleEnv.UPSTREAM_URL ?? roleEnv.REPLICAS ?? "?"}) was not ready`);
  }
  return { child, ...ports };
}

interface Files {
  readonly tokens: string;
  readonly keys: string;
  readonly internal: string;
}

/** The heap a role's container gets at the stack's default resources, set as the deployment sets it. */
function deployedHeap(memory: string): { readonly NODE_OPTIONS: string } {
  return { NODE_OPTIONS: proxyNodeOptions(memory).value };
}

/** `NODE_OPTIONS` of the proxies, by role (the single proxy faces clients as a gateway does). */
export const DEPLOYED_HEAP = {
  gateway: deployedHeap(DEFAULT_GATEWAY_RESOURCES.memory),
  sidecar: deployedHeap(DEFAULT_PROXY_RESOURCES.memory),
} as const;

/** The proxies' `NODE_OPTIONS` as the results state them: one value when both roles get the same. */
export function deployedNodeOptions(): string {
  const gateway = DEPLOYED_HEAP.gateway.NODE_OPTIONS;
  const sidecar = DEPLOYED_HEAP.sidecar.NODE_OPTIONS;
  return gateway === sidecar ? gateway : `${gateway} (gateway and single), ${sidecar} (sidecar)`;
}

function sidecarEnv(files: Files, upstreamPort: number): Record<string, string> {
  return { ROLE: "sidecar", UPSTREAM_URL: `http://127.0.0.1:${upstreamPort}`, INTERNAL_TOKEN_FILE: files.internal, ...DEPLOYED_HEAP.sidecar };
}

function gatewayEnv(files: Files, replicaPorts: readonly number[], redisUrl: string): Record<string, string> {
  return {
    ROLE: "gateway",
    KEYS_FILE: files.keys,
    INTERNAL_TOKEN_FILE: files.internal,
    REPLICAS: replicaPorts.map((port) => `http://127.0.0.1:${port}`).join(","),
    MODEL_ID: MODEL,
    // As the stack sets it: a store whenever some key has limits.
    REDIS_URL: redisUrl,
    ...DEPLOYED_HEAP.gateway,
  };
}

export interface StackOptions {
  readonly nginxBinary: string;
  readonly redisBinary: string;
  readonly proxyBundle: string;
  readonly proxyFlags: readonly string[];
  readonly pin: Pinning;
  /** Run the proxies under --cpu-prof, writing into this directory. */
  readonly profDir: string | undefined;
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const { nginxBinary, pin } = options;
  const proxy: ProxyBundle = { bundle: options.proxyBundle, flags: options.proxyFlags, profDir: options.profDir };
  const dir = mkdtempSync(path.join(os.tmpdir(), "vllm-auth-bench-"));
  const files: Files = { tokens: path.join(dir, "tokens"), keys: path.join(dir, "keys.json"), internal: path.join(dir, "internal") };
  const keys = { plain: randomKey(), limited: randomKey() };
  writeFileSync(files.tokens, `${SEED_TOKEN}\n`, { mode: 0o600 });
  writeFileSync(
    files.keys,
    renderKeysFile([
      { name: PLAIN_KEY, sha256: keyDigest(keys.plain) },
      { name: LIMITED_KEY, sha256: keyDigest(keys.limited), limits: BENCH_LIMITS },
    ]),
    { mode: 0o600 },
  );
  writeFileSync(files.internal, `${INTERNAL_TOKEN}\n`, { mode: 0o600 });
  const started: Array<{ stop(): Promise<void> }> = [];
  const stamped = new StampedUpstream();
  let nginxPrefix: string | undefined;
  try {
    const emulator = await startEmulator(pin.upstream);
    started.push(emulator.child);
    await stamped.start();
    started.push({ stop: () => stamped.close() });
    const redis: Redis = await startRedis(options.redisBinary, pin.upstream);
    started.push(redis);
    const single = (upstreamPort: number): Record<string, string> => ({ UPSTREAM_URL: `http://127.0.0.1:${upstreamPort}`, TOKENS_FILE: files.tokens, ...DEPLOYED_HEAP.gateway });
    const proxyRate = await startProxy("proxy-rate", proxy, single(emulator.port), pin.front);
    started.push(proxyRate.child);
    const proxyStream = await startProxy("proxy-stream", proxy, single(stamped.port), pin.front);
    started.push(proxyStream.child);
    // A sidecar lives in the GPU pod beside vLLM, the gateway on a CPU node: the sidecar shares the upstream's core.
    const sidecarRate = await startProxy("sidecar-rate", proxy, sidecarEnv(files, emulator.port), pin.upstream);
    started.push(sidecarRate.child);
    const gatewayRate = await startProxy("gateway-rate", proxy, gatewayEnv(files, [sidecarRate.port], redis.url), pin.front);
    started.push(gatewayRate.child);
    const sidecarStream = await startProxy("sidecar-stream", proxy, sidecarEnv(files, stamped.port), pin.upstream);
    started.push(sidecarStream.child);
    const gatewayStream = await startProxy("gateway-stream", proxy, gatewayEnv(files, [sidecarStream.port], redis.url), pin.front);
    started.push(gatewayStream.child);
    const nginx = await startNginx(nginxBinary, [emulator.port, stamped.port], pin.front);
    nginxPrefix = nginx.prefix;
    started.push(nginx);
    // The attacker's process shares the upstream's core, niced: it must not starve the measuring client on the front's core.
    const flood = await FloodProcess.start(pin.upstream);
    started.push(flood);
    const [nginxRate, nginxStream] = nginx.servers;
    const targets: Target[] = [
      { name: "direct", ratePort: emulator.port, streamPort: stamped.port, ratePids: () => [emulator.child.pid], streamPids: () => [], token: SEED_TOKEN },
      {
        name: "proxy",
        ratePort: proxyRate.port,
        streamPort: proxyStream.port,
        ratePids: () => [proxyRate.child.pid],
        streamPids: () => [proxyStream.child.pid],
        token: SEED_TOKEN,
      },
      { name: "nginx", ratePort: nginxRate.port, streamPort: nginxStream.port, ratePids: () => nginx.pids(), streamPids: () => nginx.pids(), token: SEED_TOKEN },
      {
        name: "tiers",
        ratePort: gatewayRate.port,
        streamPort: gatewayStream.port,
        ratePids: () => [gatewayRate.child.pid, sidecarRate.child.pid],
        streamPids: () => [gatewayStream.child.pid, sidecarStream.child.pid],
        token: keys.plain,
      },
    ];
    const startBalance = async (replicas: number): Promise<Balance> => {
      const parts: Child[] = [];
      try {
        const sidecars: ProxyProcess[] = [];
        for (let i = 0; i < replicas; i++) {
          const sidecar = await startProxy(`balance-sidecar-${i + 1}`, { ...proxy, profDir: undefined }, sidecarEnv(files, stamped.port), pin.upstream);
          parts.push(sidecar.child);
          sidecars.push(sidecar);
        }
        const gateway = await startProxy("balance-gateway", { ...proxy, profDir: undefined }, gatewayEnv(files, sidecars.map((s) => s.port), redis.url), pin.front);
        parts.push(gateway.child);
        return {
          port: gateway.port,
          sidecarMetricsPorts: sidecars.map((s) => s.metricsPort),
          stop: async () => {
            for (const part of parts.reverse()) await part.stop();
          },
        };
      } catch (error) {
        for (const part of parts.reverse()) await part.stop().catch(() => undefined);
        throw error;
      }
    };
    return {
      targets,
      stamped,
      nginx,
      keys,
      gatewayMetricsPort: gatewayRate.metricsPort,
      flood,
      startBalance,
      stopRateProcesses: async () => {
        await flood.stop();
        await proxyRate.child.stop();
        await gatewayRate.child.stop();
        await sidecarRate.child.stop();
        await emulator.child.stop();
      },
      stop: async () => {
        for (const item of started.reverse()) await item.stop();
        rmSync(dir, { recursive: true, force: true });
        rmSync(nginx.prefix, { recursive: true, force: true });
      },
    };
  } catch (error) {
    for (const item of started.reverse()) await item.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    if (nginxPrefix !== undefined) rmSync(nginxPrefix, { recursive: true, force: true });
    throw error;
  }
}
