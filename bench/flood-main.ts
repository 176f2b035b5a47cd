/**
 * The unauthenticated flood, as its own process so that the measuring client never shares an event
 * loop with it: commands as JSON lines on stdin (`start` with a FloodSpec, `stop`), events as JSON
 * lines on stdout. It floods `GET /v1/models` without a credential, reads and counts every answer,
 * and reconnects at once whenever the server closes a connection.
 */
import net from "node:net";
import { createInterface } from "node:readline";
import { FLOOD_REQUEST, ResponseCounter, type FloodCommand, type FloodEvent, type FloodResult, type FloodSpec } from "./flood-protocol";

interface Counts {
  written: number;
  statuses: Record<string, number>;
  opened: number;
  closedByServer: number;
  connectErrors: number;
}

const send = (event: FloodEvent): void => {
  process.stdout.write(`${JSON.stringify(event)}\n`);
};

/** One flooding connection: writes while it may, counts answers, reconnects when the server closes it. */
class FloodConnection {
  private socket: net.Socket | undefined;
  private outstanding = 0;
  private counter = new ResponseCounter();

  constructor(
    private readonly spec: FloodSpec,
    private readonly batch: Buffer,
    private readonly counts: Counts,
    private readonly running: () => boolean,
  ) {}

  open(): void {
    if (!this.running()) return;
    this.outstanding = 0;
    this.counter = new ResponseCounter();
    let connected = false;
    let closedByUs = false;
    const socket = net.connect({ host: "127.0.0.1", port: this.spec.port, noDelay: true });
    this.socket = socket;
    this.counts.opened++;
    socket.on("connect", () => {
      connected = true;
      this.fill();
    });
    socket.on("data", (data: Buffer) => {
      let statuses: number[];
      try {
        statuses = this.counter.push(data);
      } catch {
        closedByUs = true;
        socket.destroy();
        return;
      }
      for (const status of statuses) this.counts.statuses[status] = (this.counts.statuses[status] ?? 0) + 1;
      this.outstanding -= statuses.length;
      this.fill();
    });
    socket.on("drain", () => this.fill());
    socket.on("error", () => undefined);
    socket.on("close", () => {
      const last = this.counter.end();
      if (last !== undefined) this.counts.statuses[last] = (this.counts.statuses[last] ?? 0) + 1;
      if (this.socket === socket) this.socket = undefined;
      if (!this.running()) return;
      if (!connected) this.counts.connectErrors++;
      else if (!closedByUs) this.counts.closedByServer++;
      // At once, as an attacker would; setImmediate only lets the close's own callbacks run first.
      setImmediate(() => this.open());
    });
  }

  stop(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  /** Writes batches while the socket takes them and the connection's unanswered requests stay bounded. */
  private fill(): void {
    const socket = this.socket;
    if (socket === undefined || !this.running() || socket.destroyed || socket.connecting) return;
    while (this.outstanding + this.spec.perWrite <= this.spec.maxOutstanding) {
      this.outstanding += this.spec.perWrite;
      this.counts.written += this.spec.perWrite;
      if (!socket.write(this.batch)) return;
    }
  }
}

class Flood {
  private connections: FloodConnection[] = [];
  private counts: Counts = { written: 0, statuses: {}, opened: 0, closedByServer: 0, connectErrors: 0 };
  private active = false;
  private startedAt = 0;
  private spec: FloodSpec | undefined;

  start(spec: FloodSpec): void {
    this.stop();
    this.spec = spec;
    this.counts = { written: 0, statuses: {}, opened: 0, closedByServer: 0, connectErrors: 0 };
    this.active = true;
    this.startedAt = performance.now();
    const batch = Buffer.from(FLOOD_REQUEST.repeat(spec.perWrite));
    this.connections = Array.from({ length: spec.connections }, () => new FloodConnection(spec, batch, this.counts, () => this.active));
    for (const connection of this.connections) connection.open();
  }

  stop(): FloodResult | undefined {
    if (!this.active || this.spec === undefined) return undefined;
    this.active = false;
    const seconds = (performance.now() - this.startedAt) / 1000;
    for (const connection of this.connections) connection.stop();
    this.connections = [];
    const { written, statuses, opened, closedByServer, connectErrors } = this.counts;
    return { mode: this.spec.mode, seconds, written, statuses: { ...statuses }, opened, closedByServer, connectErrors };
  }
}

const flood = new Flood();
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  let command: FloodCommand;
  try {
    command = JSON.parse(line) as FloodCommand;
  } catch {
    send({ event: "error", message: `not a command: ${line.slice(0, 80)}` });
    return;
  }
  if (command.op === "start") {
    flood.start(command.spec);
    send({ event: "started" });
    return;
  }
  const result = flood.stop();
  if (result === undefined) send({ event: "error", message: "stop without a running flood" });
  else send({ event: "stopped", result });
});
// The bench went away: so does the flood.
lines.on("close", () => {
  flood.stop();
  process.exit(0);
});
process.on("SIGTERM", () => {
  flood.stop();
  process.exit(0);
});
send({ event: "ready" });
