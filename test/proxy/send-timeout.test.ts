/**
 * A client that stops reading its answer is closed after SEND_TIMEOUT_MS, and the upstream request
 * behind it ends; a slow client that keeps taking bytes is not.
 */
import net from "node:net";
import { startFront, type Front } from "./front";
import { TOKEN, chatBody, eventually } from "./harness";
import { RawUpstream, type RawRequest } from "./raw-upstream";

const SEND_TIMEOUT_MS = 800;
const EVENT = `data: ${"x".repeat(64 * 1024)}\n\n`;
const CHUNK = `${Buffer.byteLength(EVENT).toString(16)}\r\n${EVENT}\r\n`;

/** Answers a stream of `events` large events, written as fast as the proxy takes them; records when its socket closed. */
function streamingUpstream(events: number): { respond: (request: RawRequest) => void; closedAt: () => number | undefined } {
  let closedAt: number | undefined;
  return {
    closedAt: () => closedAt,
    respond: (request) => {
      const { socket } = request;
      socket.on("close", () => (closedAt = Date.now()));
      socket.write("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n");
      let sent = 0;
      const pump = (): void => {
        while (!socket.destroyed && sent < events) {
          sent++;
          if (!socket.write(CHUNK)) return void socket.once("drain", pump);
        }
        if (sent === events && !socket.destroyed) socket.write("0\r\n\r\n");
      };
      pump();
    },
  };
}

function sendStreamRequest(socket: net.Socket): void {
  const body = chatBody({ stream: true });
  socket.write(
    `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length}\r\n\r\n${body}`,
  );
}

let upstream: RawUpstream | undefined;
let front: Front | undefined;
afterEach(async () => {
  await front?.close();
  await upstream?.close();
  front = undefined;
  upstream = undefined;
});

test("a client that stops reading a stream is closed after SEND_TIMEOUT_MS, and its upstream request ends", async () => {
  const stream = streamingUpstream(100_000);
  upstream = await RawUpstream.start(stream.respond);
  front = await startFront({ UPSTREAM_URL: upstream.url, SEND_TIMEOUT_MS: String(SEND_TIMEOUT_MS) });
  const client = net.connect(front.port, "127.0.0.1");
  client.on("error", () => undefined);
  // Reads nothing: the proxy's send queue to it fills and stays full.
  client.pause();
  const started = Date.now();
  sendStreamRequest(client);
  const running = front;
  await eventually(() => stream.closedAt() !== undefined, 5_000);
  const elapsed = (stream.closedAt() ?? 0) - started;
  expect(elapsed).toBeGreaterThanOrEqual(SEND_TIMEOUT_MS);
  expect(elapsed).toBeLessThan(SEND_TIMEOUT_MS * 3);
  await eventually(() => running.proxy.handler.inflightCount === 0, 2_000);
  expect(running.logs.some((line) => line.msg === "send_timeout")).toBe(true);
  client.destroy();
});

test("a slow client that keeps taking bytes, with pauses shorter than SEND_TIMEOUT_MS, gets the whole stream", async () => {
  // Far more than the socket buffers on both sides hold, so the client's pauses leave the proxy's send queue full.
  const events = 200;
  const stream = streamingUpstream(events);
  upstream = await RawUpstream.start(stream.respond);
  front = await startFront({ UPSTREAM_URL: upstream.url, SEND_TIMEOUT_MS: String(SEND_TIMEOUT_MS) });
  const client = net.connect(front.port, "127.0.0.1");
  const perPeriod = 2 * 1024 * 1024;
  let received = 0;
  let budget = perPeriod;
  let head = "";
  let tail = "";
  // Takes at most `perPeriod` bytes, then pauses until the next period: about 5 MiB/s, with pauses of most of a period.
  const pacer = setInterval(() => {
    budget = perPeriod;
    client.resume();
  }, SEND_TIMEOUT_MS / 2);
  const outcome = new Promise<string>((resolve) => {
    client.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (head.length < 64) head += chunk.toString("latin1", 0, 64);
      tail = (tail + chunk.toString("latin1", Math.max(0, chunk.length - 16))).slice(-16);
      if (tail.endsWith("0\r\n\r\n")) resolve("complete");
      budget -= chunk.length;
      if (budget <= 0) client.pause();
    });
    client.on("close", () => resolve("closed"));
  });
  const started = Date.now();
  sendStreamRequest(client);
  const result = await outcome;
  const elapsed = Date.now() - started;
  clearInterval(pacer);
  client.destroy();
  expect(result).toBe("complete");
  expect(head.startsWith("HTTP/1.1 200")).toBe(true);
  expect(received).toBeGreaterThan(events * EVENT.length);
  // Several periods passed with the client paused and the queue full.
  expect(elapsed).toBeGreaterThan(2 * SEND_TIMEOUT_MS);
  expect(front.logs.some((line) => line.msg === "send_timeout")).toBe(false);
});

test("SEND_TIMEOUT_MS below 100 is refused with the variable's name", async () => {
  await expect(startFront({ UPSTREAM_URL: "http://127.0.0.1:1", SEND_TIMEOUT_MS: "5" })).rejects.toThrow(/SEND_TIMEOUT_MS/);
});
