/** The real proxy in-process in front of any upstream URL, with a token file and captured logs. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../../proxy/src/config";
import { createLogger } from "../../proxy/src/log";
import { startProxy, type RunningProxy, type StartOptions } from "../../proxy/src/server";
import { TOKEN } from "./harness";

export interface Front {
  readonly proxy: RunningProxy;
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly logs: Array<Record<string, unknown>>;
  logText(): string;
  close(graceMs?: number): Promise<void>;
}

/** `env` adds to (or replaces) the defaults; `files` are written into the temporary directory first. */
export async function startFront(
  env: Record<string, string>,
  options: { files?: Record<string, string>; start?: StartOptions; tokens?: readonly string[] } = {},
): Promise<Front> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "vllm-auth-front-"));
  writeFileSync(path.join(dir, "tokens"), `${(options.tokens ?? [TOKEN]).join("\n")}\n`);
  for (const [name, text] of Object.entries(options.files ?? {})) writeFileSync(path.join(dir, name), text);
  const lines: string[] = [];
  const resolved = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.replace("$DIR", dir)]));
  const config = loadConfig({
    HOST: "127.0.0.1",
    PORT: "0",
    METRICS_PORT: "0",
    READY_POLL_MS: "100",
    TOKENS_POLL_MS: "100",
    ...(resolved.ROLE === undefined || resolved.ROLE === "single" ? { TOKENS_FILE: path.join(dir, "tokens") } : {}),
    ...resolved,
  });
  const proxy = await startProxy(config, { logger: createLogger((line) => lines.push(line)), ...options.start });
  return {
    proxy,
    url: `http://127.0.0.1:${proxy.port}`,
    port: proxy.port,
    dir,
    get logs() {
      return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    logText: () => lines.join("\n"),
    close: async (graceMs = 0) => {
      await proxy.shutdown(graceMs);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
