/** The text around the figures: machine, pinning, method, what nginx logged, CPU profiles. */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import type { BenchOptions } from "./options";
import { coreCount } from "./processes";
import { renderProfile, summarizeProfile } from "./profile";
import { FLOOD_NICE } from "./flood";
import { FLOOD_RAMP_MS, FLOOD_SETTLE_MS } from "./flood-row";
import { ABORT_WAIT_MS } from "./rounds";
import { BENCH_LIMITS, type Pinning } from "./stack";

const ROOT = path.resolve(__dirname, "..");

/** The commit measured, and whether proxy/src differs from it (the bundle is built from the working tree). */
export function gitState(): string {
  const git = (args: string[]): string => spawnSync("git", args, { cwd: ROOT, encoding: "utf8" }).stdout?.trim() ?? "";
  const commit = git(["rev-parse", "--short", "HEAD"]) || "unknown";
  const dirty = git(["status", "--porcelain", "--", "proxy/src"]) !== "";
  return dirty ? `${commit}, with uncommitted changes in proxy/src` : commit;
}

export function describePinning(pin: Pinning): string {
  if (pin.upstream === undefined || pin.front === undefined) return `none (${coreCount()} core): every process shares the machine`;
  return (
    `taskset: the emulator process, the sidecars (which live beside vLLM in its pod), redis-server and the flood process ` +
    `(nice ${FLOOD_NICE}) on CPU ${pin.upstream}; the single proxy processes, the gateways, nginx (master and worker) and the load ` +
    `generator (this process: autocannon) on CPU ${pin.front} for the request-rate rows. For the streaming rows the upstream and ` +
    `the client are this same process (one clock), so it moves to CPU ${pin.upstream} and the fronts stay where they are.`
  );
}

export function method(opts: BenchOptions): string {
  return [
    "## How it was measured",
    "",
    "- Request-rate rows: autocannon 8 (programmatic API) against the vLLM emulator (`test/upstream/emulator.ts`, no token delay,",
    "  keeping no request records) as a separate process; latencies from autocannon's per-response timings (sub-ms).",
    "- Streaming rows: a vLLM-shaped SSE server in the benchmark process (`bench/stamped-upstream.ts`) stamps each event with",
    "  `performance.now()` just before writing it; a raw `node:net` client in the same process decodes the chunked framing",
    "  itself and records read time − write time. A coalesced read is one socket read that completed more than one event.",
    "  Before each stream (and each batch of aborts) this process collects its own heap, so that its GC is not charged to a front.",
    `- Aborts: after the first event the client destroys its socket; the time until the upstream sees that response's connection close (waited up to ${ABORT_WAIT_MS} ms).`,
    `- Slow streams: ${opts.manyStreams} streams opened over about a second (batches of 100, 100 ms apart), each ${opts.manyEvents} events ${opts.manyIntervalMs} ms apart;`,
    "  memory from /proc/<pid>/status (VmRSS sampled every 100 ms, VmHWM at the end) of the stream-row front.",
    "- Our proxy: `proxy/dist/server.js` (`npm run build`), run with the node flags of `proxy/Dockerfile`'s ENTRYPOINT, one process per upstream, `ACCESS_LOG=false`, every other setting at its default.",
    "- Two tiers: the same bundle as two processes per upstream, a gateway (`ROLE=gateway`, `KEYS_FILE` with two named keys,",
    "  `REPLICAS` = its sidecar, `REDIS_URL`) in front of a sidecar (`ROLE=sidecar`, `UPSTREAM_URL`), sharing an internal credential;",
    "  `ACCESS_LOG=false`, every other setting at its default. CPU and memory are the two processes' together. The gateway answers",
    "  `GET /v1/models` from its own copy, so that row never reaches the sidecar.",
    `- Flood rows: a steady authenticated client (autocannon, ${opts.paying.connections} connections, ${opts.paying.rate} chat requests/s),`,
    `  first alone, then while a separate process (pinned beside the upstream, nice ${FLOOD_NICE}, so that it never starves the measuring`,
    "  client or the front) floods `GET /v1/models` without a key: pipelining (" +
      `${opts.flood.pipelineConnections} connections, ${opts.flood.pipelineDepth} requests per write, up to 10 writes ahead of the answers)`,
    `  or many connections (${opts.flood.manyConnections}, one request at a time each). The flood reads and counts every answer and`,
    `  reconnects at once when the server closes a connection. It starts ${FLOOD_RAMP_MS} ms before the measurement, and ${FLOOD_SETTLE_MS} ms`,
    "  pass before the next one. RSS: VmRSS of the target's processes, sampled every 100 ms while the flood runs.",
    `- Per-key limits: ${opts.limitPairs} pairs of non-streamed chats per round on one keep-alive connection to the two-tier gateway, one`,
    `  with a key that has rpm ${BENCH_LIMITS.rpm}, tpm ${BENCH_LIMITS.tpm} and concurrency ${BENCH_LIMITS.concurrency} (never reached; checked`,
    "  against a local redis-server, Debian's package), one with a key without limits, the order swapped every pair. The row counts only",
    "  when the gateway's `vllm_auth_limits_store_up` was 1 before and after, no request fell back to per-gateway limits, and every",
    "  limited answer carried `x-ratelimit-limit-requests`.",
    `- Balancing: a gateway in front of ${opts.balance.replicas} sidecars (all before the stamped upstream), ${opts.balance.requests} streamed chats of`,
    `  ${opts.balance.events} events ${opts.balance.intervalMs} ms apart, one after the other on one keep-alive client connection; each sidecar's`,
    "  `vllm_auth_requests_total{route=\"chat_completions\",status=\"200\"}` before and after.",
    "- nginx: the seed's `map $http_authorization $is_valid_token` and server block (open `location /v1/models`, guarded `location /`),",
    "  from SkyPilot's examples/serve/authentication/task.yaml, inside Debian's nginx.conf http defaults (sendfile, tcp_nopush, gzip on);",
    "  changed only where the bench must: `listen 127.0.0.1:<port>`, `proxy_pass http://127.0.0.1:<port>` (the seed's `localhost` would",
    "  also try ::1), `daemon off`, `worker_processes 1`, `worker_connections 4096` (Debian: 768), `access_log off`, private pid/log/temp paths.",
    "- Targets run one at a time, in a rotated order each round; figures pool all rounds. The request-rate rounds run first;",
    "  their proxy and emulator are then stopped, so that their idle-time clean-up cannot share a core with the streaming rounds.",
  ].join("\n");
}

export function profileSections(dir: string | undefined): string[] {
  if (dir === undefined || !existsSync(dir)) return [];
  const files = readdirSync(dir).filter((file) => file.endsWith(".cpuprofile"));
  return files.map((file) => `## CPU profile: ${file} (run under --cpu-prof; figures above include its overhead)\n\n${renderProfile(summarizeProfile(path.join(dir, file)))}`);
}

export function nginxLogSection(errors: readonly string[]): string {
  if (errors.length === 0) return "nginx error log: no [error] or worse lines.";
  return `nginx error log: ${errors.length} [error] or worse lines, first ones:\n\n\`\`\`\n${errors.slice(0, 5).join("\n")}\n\`\`\``;
}

export function settingsLine(opts: BenchOptions): string {
  return (
    `${opts.rounds} rounds; ${opts.seconds} s per request-rate run (after ${opts.warmupSeconds} s warm-up per workload, flood included, and target); ` +
    `chat on ${opts.chatConnections} connections; ${opts.delayStreams} streams of ${opts.streamEvents} events ${opts.streamIntervalMs} ms apart per target and round (after ${opts.streamWarmup.fast} streams of ${opts.streamEvents} events ${opts.streamWarmup.fastIntervalMs} ms apart and ${opts.streamWarmup.shaped} of the measured shape per target as warm-up); ` +
    `${opts.abortTrials} aborts per target; ${opts.manyStreams} slow streams; flood rows ${opts.seconds} s per phase, ` +
    `${opts.paying.rate} authenticated req/s on ${opts.paying.connections} connections, pipelining ${opts.flood.pipelineConnections}×${opts.flood.pipelineDepth}, ` +
    `${opts.flood.manyConnections} flood connections; ${opts.limitPairs} limit pairs per round; ${opts.balance.requests} balancing requests`
  );
}

export function proxyLine(opts: BenchOptions, sourceState: string, nodeFlags: readonly string[], nodeOptions: string): string {
  const bundle =
    opts.proxyBundle === undefined
      ? `proxy/dist/server.js, built by this run from proxy/src at ${sourceState}`
      : `the bundle ${opts.proxyBundle} (given with --proxy-bundle; repository at ${sourceState})`;
  const heap = `, with \`NODE_OPTIONS=${nodeOptions}\` as the deployment sets it for the default memory`;
  const flags = [...nodeFlags, ...opts.proxyFlags];
  if (flags.length === 0) return `${bundle}${heap}`;
  const extra = opts.proxyFlags.length > 0 ? ` plus --proxy-flags ${opts.proxyFlags.join(" ")}` : "";
  return `${bundle}, run as \`node ${flags.join(" ")}\` (the image's ENTRYPOINT flags${extra})${heap}`;
}
