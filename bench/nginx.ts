/**
 * nginx with the seed's configuration: SkyPilot's examples/serve/authentication/task.yaml writes a
 * `map $http_authorization $is_valid_token` and a server with an open `location /v1/models` and a
 * guarded `location /` to Debian's sites-available/default. Here it runs in the foreground from a
 * private prefix, one server block per upstream.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort, spawnChild, waitForPort, childPids, type Child } from "./processes";

/** The seed's token, also used for our proxy so both see the same request bytes. */
export const SEED_TOKEN = "static_secret_token";

export interface NginxServer {
  /** The seed's `listen 8000`, here an ephemeral port on 127.0.0.1. */
  readonly port: number;
  /** The seed's `proxy_pass http://localhost:8087`, here the benchmark's upstream. */
  readonly upstreamPort: number;
}

export interface Nginx {
  readonly child: Child;
  readonly version: string;
  readonly servers: readonly NginxServer[];
  readonly prefix: string;
  /** Master and worker pids (CPU and memory are summed over both). */
  pids(): number[];
  /** `[error]`/`[alert]`/`[crit]`/`[emerg]` lines in the error log so far. */
  errorLines(): string[];
  stop(): Promise<void>;
}

/** A binary at one of `candidates`, else on PATH. */
export function findBinary(name: string, candidates: readonly string[]): string | undefined {
  for (const candidate of candidates) {
    if (existsSync(candidate)) return candidate;
  }
  const found = spawnSync("bash", ["-c", `command -v ${name}`], { encoding: "utf8" });
  return found.status === 0 && found.stdout.trim() !== "" ? found.stdout.trim() : undefined;
}

/** Installs a Debian package when its binary is missing (non-interactive; needs root); returns the binary's path. */
export function ensureDebianBinary(binary: string, pkg: string, candidates: readonly string[], log: (line: string) => void): string {
  const existing = findBinary(binary, candidates);
  if (existing !== undefined) return existing;
  if (process.getuid?.() !== 0) {
    throw new Error(`${binary} is not installed: run \`sudo apt-get update && sudo apt-get install -y ${pkg}\`, then retry`);
  }
  log(`${binary} not found: installing Debian's ${pkg} package (apt-get, non-interactive)`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update"], ["install", "-y", "--no-install-recommends", pkg]]) {
    const result = spawnSync("apt-get", args, { env, stdio: ["ignore", "ignore", "inherit"], timeout: 600_000 });
    if (result.status !== 0) throw new Error(`apt-get ${args.join(" ")} failed (status ${String(result.status)})`);
  }
  const installed = findBinary(binary, candidates);
  if (installed === undefined) throw new Error(`apt-get installed ${pkg} but no ${binary} binary was found`);
  return installed;
}

/** Installs Debian's nginx when missing (non-interactive; needs root); returns the binary's path. */
export function ensureNginx(log: (line: string) => void): string {
  return ensureDebianBinary("nginx", "nginx", ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"], log);
}

export function nginxVersion(binary: string): string {
  // `nginx -v` prints to stderr.
  const result = spawnSync(binary, ["-v"], { encoding: "utf8" });
  return (result.stderr || result.stdout).trim().replace(/^nginx version:\s*/, "");
}

/** The seed's server block, verbatim apart from the listen address and the upstream address. */
function seedServer(server: NginxServer): string {
  const proxied = [
    `proxy_pass http://127.0.0.1:${server.upstreamPort};`,
    "proxy_set_header Host $host;",
    "proxy_set_header X-Real-IP $remote_addr;",
    "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    "proxy_set_header X-Forwarded-Proto $scheme;",
  ];
  return [
    "  server {",
    `    listen 127.0.0.1:${server.port};`,
    "",
    "    # Location for the unprotected readiness probe endpoint",
    "    location /v1/models {",
    ...proxied.map((line) => `      ${line}`),
    "    }",
    "",
    "    location / {",
    "      if ($is_valid_token = 0) {",
    '        return 403 "Invalid authentication credentials";',
    "      }",
    "",
    ...proxied.map((line) => `      ${line}`),
    "    }",
    "  }",
  ].join("\n");
}

/** Debian's nginx.conf http defaults around the seed's map and servers; private paths; foreground. */
export function renderConfig(prefix: string, servers: readonly NginxServer[]): string {
  const mime = existsSync("/etc/nginx/mime.types") ? "  include /etc/nginx/mime.types;" : "";
  return [
    "daemon off;",
    "master_process on;",
    "worker_processes 1;",
    "worker_rlimit_nofile 8192;",
    `pid ${prefix}/nginx.pid;`,
    `error_log ${prefix}/error.log warn;`,
    // Debian's default is 768, which caps the seed at 384 proxied streams; the 1000-stream row needs 2000.
    "events { worker_connections 4096; }",
    "http {",
    "  sendfile on;",
    "  tcp_nopush on;",
    "  types_hash_max_size 2048;",
    mime,
    "  default_type application/octet-stream;",
    "  gzip on;",
    "  access_log off;",
    `  client_body_temp_path ${prefix}/client_body;`,
    `  proxy_temp_path ${prefix}/proxy;`,
    `  fastcgi_temp_path ${prefix}/fastcgi;`,
    `  uwsgi_temp_path ${prefix}/uwsgi;`,
    `  scgi_temp_path ${prefix}/scgi;`,
    "",
    "  map $http_authorization $is_valid_token {",
    "    default                       0;",
    `    "Bearer ${SEED_TOKEN}"  1;`,
    "  }",
    "",
    ...servers.map(seedServer),
    "}",
    "",
  ].join("\n");
}

/** Starts nginx in the foreground with one seed server per upstream port. */
export async function startNginx(binary: string, upstreamPorts: readonly number[], cpu: number | undefined): Promise<Nginx> {
  const prefix = mkdtempSync(path.join(os.tmpdir(), "vllm-auth-bench-nginx-"));
  // Workers run as nobody when the master is root: they must reach the temp paths.
  chmodSync(prefix, 0o755);
  const servers: NginxServer[] = [];
  for (const upstreamPort of upstreamPorts) servers.push({ port: await freePort(), upstreamPort });
  const conf = path.join(prefix, "nginx.conf");
  writeFileSync(conf, renderConfig(prefix, servers));
  execFileSync(binary, ["-t", "-q", "-p", `${prefix}/`, "-e", `${prefix}/error.log`, "-c", conf], { stdio: "inherit" });
  const child = spawnChild("nginx", binary, ["-p", `${prefix}/`, "-e", `${prefix}/error.log`, "-c", conf], { cpu });
  for (const server of servers) await waitForPort(server.port, 10_000);
  const errorLog = path.join(prefix, "error.log");
  return {
    child,
    version: nginxVersion(binary),
    servers,
    prefix,
    pids: () => [child.pid, ...childPids(child.pid)],
    errorLines: () =>
      existsSync(errorLog)
        ? readFileSync(errorLog, "utf8")
            .split("\n")
            .filter((line) => /\[(error|alert|crit|emerg)\]/.test(line))
        : [],
    stop: () => child.stop("SIGTERM"),
  };
}
