/** A real redis-server for one test file: free port, no persistence, killed in afterAll. */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

export class RedisServer {
  private child: ChildProcess | undefined;
  private readonly dir = mkdtempSync(path.join(os.tmpdir(), "vllm-auth-redis-"));

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort());
    await server.spawn();
    return server;
  }

  /** Starts (again) on the same port. */
  async spawn(): Promise<void> {
    const child = spawn(
      "redis-server",
      ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", this.dir, "--loglevel", "warning"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.child = child;
    let output = "";
    let failed: Error | undefined;
    child.on("error", (error) => (failed = error));
    child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const deadline = Date.now() + 10_000;
    while (!(await this.answersPing())) {
      if (failed !== undefined) {
        throw new Error(`cannot start redis-server (${failed.message}): install it with \`apt-get install -y redis-server\` (.ci/run does)`);
      }
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${output}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not start on ${this.port}: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** PING on a fresh connection, without a client library: true on +PONG. */
  private answersPing(): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const socket = net.connect(this.port, "127.0.0.1");
      let reply = "";
      socket.setTimeout(1000, () => socket.destroy());
      socket.on("error", () => resolve(false));
      socket.on("close", () => resolve(reply === "+PONG\r\n"));
      socket.on("data", (chunk) => {
        reply += chunk.toString();
        if (reply.endsWith("\r\n")) socket.end();
      });
      socket.write("PING\r\n");
    });
  }

  /** SIGKILL: the store dies as in a crash, connections reset. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }

  /** SIGSTOP / SIGCONT: connections stay open, nothing answers. */
  pause(): void {
    this.child?.kill("SIGSTOP");
  }

  resume(): void {
    this.child?.kill("SIGCONT");
  }

  async stop(): Promise<void> {
    this.resume();
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
