/** The bench's side of the flood process: start it pinned and niced, start and stop floods, read their counts. */
import path from "node:path";
import { parseFloodEvent, type FloodEvent, type FloodResult, type FloodSpec } from "./flood-protocol";
import { spawnChild, type Child } from "./processes";

const ROOT = path.resolve(__dirname, "..");
/** The flood yields to the process it shares a core with (the upstream): it attacks the front, not the machine. */
export const FLOOD_NICE = 10;
const ANSWER_TIMEOUT_MS = 20_000;

export class FloodProcess {
  private constructor(private readonly child: Child) {}

  static async start(cpu: number | undefined): Promise<FloodProcess> {
    const child = spawnChild("flood", process.execPath, ["--import", "tsx", path.join(ROOT, "bench", "flood-main.ts")], {
      cpu,
      cwd: ROOT,
      nice: FLOOD_NICE,
      stdin: true,
    });
    const flood = new FloodProcess(child);
    try {
      await flood.next("ready");
    } catch (error) {
      await child.stop();
      throw error;
    }
    return flood;
  }

  get pid(): number {
    return this.child.pid;
  }

  async begin(spec: FloodSpec): Promise<void> {
    const started = this.next("started");
    this.child.send(JSON.stringify({ op: "start", spec }));
    await started;
  }

  async end(): Promise<FloodResult> {
    const stopped = this.next("stopped");
    this.child.send(JSON.stringify({ op: "stop" }));
    const event = await stopped;
    if (event.event !== "stopped") throw new Error("flood: no result");
    return event.result;
  }

  stop(): Promise<void> {
    return this.child.stop();
  }

  private async next(kind: FloodEvent["event"]): Promise<FloodEvent> {
    const event = await this.child.waitForLine((line) => {
      const parsed = parseFloodEvent(line);
      return parsed !== undefined && (parsed.event === kind || parsed.event === "error") ? parsed : undefined;
    }, ANSWER_TIMEOUT_MS);
    if (event.event === "error") throw new Error(`flood: ${event.message}`);
    return event;
  }
}
