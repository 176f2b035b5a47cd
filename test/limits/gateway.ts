/** Drives `gateway-process.ts`: a second gateway in its own process, killable like a crashed pod. */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";

export type RemoteAdmission =
  | { readonly ok: true; readonly lease: number; readonly headers: Record<string, string> }
  | { readonly ok: false; readonly limit: string; readonly retryAfterMs: number; readonly headers: Record<string, string> };

interface Reply {
  readonly id?: number;
  readonly event?: string;
  readonly up?: boolean;
}

export class GatewayProcess {
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: Reply & Record<string, unknown>) => void>();
  private storeUp = false;
  private readonly upWaiters: Array<() => void> = [];

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on("line", (line) => {
      const reply = JSON.parse(line) as Reply & Record<string, unknown>;
      if (reply.event === "storeUp") {
        this.storeUp = reply.up === true;
        if (this.storeUp) this.upWaiters.splice(0).forEach((wake) => wake());
        return;
      }
      const resolve = this.waiting.get(reply.id ?? 0);
      this.waiting.delete(reply.id ?? 0);
      resolve?.(reply);
    });
  }

  /** Starts the process and waits until its limiter has reached the store. */
  static async start(env: { REDIS_URL: string; GATEWAY_REPLICAS?: string; LEASE_MS?: string; TIMEOUT_MS?: string }): Promise<GatewayProcess> {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(__dirname, "gateway-process.ts")], {
      env: { ...process.env, ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const gateway = new GatewayProcess(child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the gateway process did not reach the store: ${stderr}`)), 20_000);
      child.once("exit", (code) => reject(new Error(`the gateway process exited with ${code}: ${stderr}`)));
      gateway.upWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return gateway;
  }

  private call(message: Record<string, unknown>): Promise<Reply & Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.stdin.write(`${JSON.stringify({ id, ...message })}\n`);
    });
  }

  async admit(name: string, limits: { rpm?: number; tpm?: number; concurrency?: number }): Promise<RemoteAdmission> {
    return (await this.call({ op: "admit", name, limits })) as unknown as RemoteAdmission;
  }

  async settle(lease: number, tokens: number): Promise<void> {
    await this.call({ op: "settle", lease, tokens });
  }

  /** SIGKILL: the gateway dies without settling anything. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGKILL");
    await exited;
  }
}
