/**
 * The limits store for the gateway: Debian's redis-server (the tests' and CI's; Valkey speaks the
 * same protocol), on a free loopback port, no persistence, pinned beside the upstream: in a
 * cluster it is its own pod, not part of the gateway's CPU.
 */
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ensureDebianBinary } from "./nginx";
import { freePort, spawnChild, type Child } from "./processes";

export interface Redis {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

export function ensureRedis(log: (line: string) => void): string {
  return ensureDebianBinary("redis-server", "redis-server", ["/usr/bin/redis-server", "/usr/local/bin/redis-server"], log);
}

/** PING on a fresh connection: true on +PONG. */
function answersPing(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let reply = "";
    socket.setTimeout(1000, () => socket.destroy());
    socket.on("error", () => resolve(false));
    socket.on("close", () => resolve(reply === "+PONG\r\n"));
    socket.on("data", (chunk: Buffer) => {
      reply += chunk.toString();
      if (reply.endsWith("\r\n")) socket.end();
    });
    socket.write("PING\r\n");
  });
}

export async function startRedis(binary: string, cpu: number | undefined): Promise<Redis> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), "vllm-auth-bench-redis-"));
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--loglevel", "warning"];
  const child: Child = spawnChild("redis-server", binary, args, { cpu });
  const deadline = Date.now() + 10_000;
  while (!(await answersPing(port))) {
    if (Date.now() > deadline) {
      await child.stop();
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`redis-server did not answer PING on ${port} within 10 s; last output:\n${child.tail.join("\n")}`);
    }
    await sleep(20);
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    stop: async () => {
      await child.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
