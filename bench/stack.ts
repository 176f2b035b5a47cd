/**
 * Everything the workloads run against: the emulator process, the in-process stamped upstream,
 * two proxy processes (one per upstream) and one nginx with the seed's server for each upstream.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startNginx, SEED_TOKEN, type Nginx } from "./nginx";
import { spawnChild, type Child } from "./processes";
import { StampedUpstream } from "./stamped-upstream";
import type { Target } from "./workloads";

export interface Pinning {
  /** The upstream's core. */
  readonly upstream: number | undefined;
  /** The core shared by the proxy, nginx and the load generator. */
  readonly front: number | undefined;
}

export interface Stack {
  readonly targets: readonly Target[];
  readonly stamped: StampedUpstream;
  readonly nginx: Nginx;
  readonly token: string;
  /** Stops the request-rate rows' proxy and emulator, so their clean-up (V8's idle GCs) cannot disturb the streaming rows. */
  stopRateProcesses(): Promise<void>;
  stop(): Promise<void>;
}

const ROOT = path.resolve(__dirname, "..");
const TSX_LOADER = "tsx";

async function startEmulator(cpu: number | undefined): Promise<{ child: Child; port: number }> {
  const child = spawnChild("emulator", process.execPath, ["--import", TSX_LOADER, path.join(ROOT, "bench", "upstream-main.ts")], { cpu, cwd: ROOT });
  const port = await child.waitForLine((line) => /^http:\/\/127\.0\.0\.1:(\d+)$/.exec(line.trim())?.[1], 20_000);
  return { child, port: Number(port) };
}

/** The bound port from the proxy's `listening` log line; "unready" when its upstream was not up. */
function listeningPort(line: string): number | "unready" | undefined {
  if (!line.startsWith("{")) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const fields = parsed as Record<string, unknown>;
  if (fields.msg !== "listening" || typeof fields.port !== "number") return undefined;
  return fields.upstream_ready === true ? fields.port : "unready";
}

/** The built bundle as its own process, per-request logging off, everything else at its defaults. */
async function startProxy(name: string, proxy: { bundle: string; flags: readonly string[] }, upstreamPort: number, tokensFile: string, cpu: number | undefined, profDir: string | undefined): Promise<{ child: Child; port: number }> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    UPSTREAM_URL: `http://127.0.0.1:${upstreamPort}`,
    TOKENS_FILE: tokensFile,
    HOST: "127.0.0.1",
    PORT: "0",
    METRICS_PORT: "0",
    ACCESS_LOG: "false",
    SHUTDOWN_GRACE_MS: "1000",
  };
  const profile = profDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${name}.cpuprofile`];
  const child = spawnChild(name, process.execPath, [...proxy.flags, ...profile, proxy.bundle], { cpu, env, cwd: ROOT });
  const port = await child.waitForLine(listeningPort, 20_000);
  if (port === "unready") {
    await child.stop();
    throw new Error(`${name}: started, but its upstream 127.0.0.1:${upstreamPort} was not ready`);
  }
  return { child, port };
}

export interface StackOptions {
  readonly nginxBinary: string;
  readonly proxyBundle: string;
  readonly proxyFlags: readonly string[];
  readonly pin: Pinning;
  /** Run the proxies under --cpu-prof, writing into this directory. */
  readonly profDir: string | undefined;
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const { nginxBinary, pin, profDir } = options;
  const proxy = { bundle: options.proxyBundle, flags: options.proxyFlags };
  const dir = mkdtempSync(path.join(os.tmpdir(), "vllm-auth-bench-"));
  const tokensFile = path.join(dir, "tokens");
  writeFileSync(tokensFile, `${SEED_TOKEN}\n`, { mode: 0o600 });
  const started: Array<{ stop(): Promise<void> }> = [];
  const stamped = new StampedUpstream();
  try {
    const emulator = await startEmulator(pin.upstream);
    started.push(emulator.child);
    await stamped.start();
    started.push({ stop: () => stamped.close() });
    const proxyRate = await startProxy("proxy-rate", proxy, emulator.port, tokensFile, pin.front, profDir);
    started.push(proxyRate.child);
    const proxyStream = await startProxy("proxy-stream", proxy, stamped.port, tokensFile, pin.front, profDir);
    started.push(proxyStream.child);
    const nginx = await startNginx(nginxBinary, [emulator.port, stamped.port], pin.front);
    started.push(nginx);
    const [nginxRate, nginxStream] = nginx.servers;
    const targets: Target[] = [
      { name: "direct", ratePort: emulator.port, streamPort: stamped.port, ratePids: () => [emulator.child.pid], streamPids: () => [] },
      { name: "proxy", ratePort: proxyRate.port, streamPort: proxyStream.port, ratePids: () => [proxyRate.child.pid], streamPids: () => [proxyStream.child.pid] },
      { name: "nginx", ratePort: nginxRate.port, streamPort: nginxStream.port, ratePids: () => nginx.pids(), streamPids: () => nginx.pids() },
    ];
    return {
      targets,
      stamped,
      nginx,
      stopRateProcesses: async () => {
        await proxyRate.child.stop();
        await emulator.child.stop();
      },
      token: SEED_TOKEN,
      stop: async () => {
        for (const item of started.reverse()) await item.stop();
        rmSync(dir, { recursive: true, force: true });
        rmSync(nginx.prefix, { recursive: true, force: true });
      },
    };
  } catch (error) {
    for (const item of started.reverse()) await item.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
