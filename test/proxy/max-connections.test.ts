/**
 * MAX_CONNECTIONS over real sockets: connections that only wait cannot keep out a client that comes
 * to ask; the longest-idle one makes room, a busy one never does, and with every connection busy
 * the new one is closed at once.
 */
import net from "node:net";
import { bearer, chatBody, eventually, request, startStack, type Stack } from "./harness";
import { startFront } from "./front";
import { metricValue, parseMetrics } from "./support";

const LIMIT = 6;
const modelsRequest = "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n";

interface Held {
  readonly socket: net.Socket;
  closed: boolean;
  received: string;
}

/** A client connection that sends `first` (if any) and then waits, recording what it gets and whether it was closed. */
async function hold(port: number, first?: string): Promise<Held> {
  const socket = net.connect(port, "127.0.0.1");
  const held: Held = { socket, closed: false, received: "" };
  socket.on("data", (chunk: Buffer) => (held.received += chunk.toString("latin1")));
  socket.on("close", () => (held.closed = true));
  socket.on("error", () => undefined);
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  if (first !== undefined) socket.write(first);
  return held;
}

async function metric(stack: Stack, name: string, labels: Record<string, string> = {}): Promise<number> {
  const res = await request(`http://127.0.0.1:${stack.proxy.metricsPort}`, { path: "/metrics" });
  return metricValue(parseMetrics(res.body), name, labels);
}

const shedCount = (stack: Stack, reason: string): Promise<number> => metric(stack, "vllm_auth_connections_shed_total", { reason });

describe("MAX_CONNECTIONS", () => {
  let stack: Stack;
  const opened: Held[] = [];
  beforeAll(async () => {
    stack = await startStack({ env: { MAX_CONNECTIONS: String(LIMIT) }, upstream: { tokenDelayMs: 0 } });
  });
  afterEach(async () => {
    for (const held of opened.splice(0)) held.socket.destroy();
    stack.upstream.setTokenDelay(0);
    stack.upstream.reset();
    await eventually(async () => (await metric(stack, "vllm_auth_open_connections")) <= 1);
  });
  afterAll(() => stack.close());

  test("a client with a key gets an answer while idle connections fill the limit; the longest-idle one is closed for it", async () => {
    const before = await shedCount(stack, "oldest_idle");
    // Each asks for the model list once, then keeps its connection open, as an idle keep-alive client does.
    for (let i = 0; i < LIMIT; i++) {
      const held = await hold(stack.port, modelsRequest);
      opened.push(held);
      await eventually(() => held.received.includes("HTTP/1.1 200"));
    }
    const chat = await request(stack.url, { method: "POST", path: "/v1/chat/completions", headers: { ...bearer(), "content-type": "application/json" }, body: chatBody() });
    expect(chat.status).toBe(200);
    await eventually(() => opened[0].closed);
    expect(opened.slice(1).every((held) => !held.closed)).toBe(true);
    expect(await shedCount(stack, "oldest_idle")).toBeGreaterThan(before);
    expect(stack.logs.some((line) => line.msg === "connection_shed" && line.reason === "oldest_idle")).toBe(true);
  });

  test("connections that never send a byte are idle too, and make room the same way", async () => {
    for (let i = 0; i < LIMIT + 4; i++) opened.push(await hold(stack.port));
    const models = await request(stack.url, { path: "/v1/models" });
    expect(models.status).toBe(200);
    await eventually(() => opened.filter((held) => held.closed).length >= 5);
    // The ones closed are the first opened.
    expect(opened.slice(0, 5).every((held) => held.closed)).toBe(true);
  });

  test("a busy connection is never closed to make room: with every connection busy, the new one is closed at once", async () => {
    stack.upstream.setTokenDelay(200);
    const before = await shedCount(stack, "all_busy");
    const body = chatBody();
    const chatHead = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: ${bearer().authorization}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    for (let i = 0; i < LIMIT; i++) opened.push(await hold(stack.port, chatHead + body));
    await eventually(() => stack.upstream.requests.filter((r) => r.target === "/v1/chat/completions").length === LIMIT);
    const late = await hold(stack.port, modelsRequest);
    opened.push(late);
    await eventually(() => late.closed);
    expect(late.received).toBe("");
    expect(await shedCount(stack, "all_busy")).toBeGreaterThan(before);
    // Every busy one gets its whole answer.
    await eventually(() => opened.slice(0, LIMIT).every((held) => held.received.includes('"object":"chat.completion"')), 10_000);
    expect(opened.slice(0, LIMIT).some((held) => held.closed)).toBe(false);
  });
});

test("MAX_CONNECTIONS=0 is refused at start-up with the variable's name", async () => {
  await expect(startFront({ UPSTREAM_URL: "http://127.0.0.1:1", MAX_CONNECTIONS: "0" })).rejects.toThrow(/MAX_CONNECTIONS/);
});
