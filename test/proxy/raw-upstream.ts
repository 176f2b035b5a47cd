/**
 * An upstream written on raw sockets, for what a real HTTP server library will not send: interim
 * answers nobody asked for, a 304 with a Content-Length, an answer before the body was read.
 * `/health` and `/v1/models` are answered by the helper; every other request goes to `respond`.
 */
import net from "node:net";
import type { AddressInfo } from "node:net";

export interface RawRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Bytes of the body read so far (the helper reads declared bodies unless `respond` answers first). */
  readonly socket: net.Socket;
}

export type Respond = (request: RawRequest) => void;

export const MODELS_BODY = '{"object":"list","data":[{"id":"raw-model","object":"model","created":1,"owned_by":"vllm"}]}';

export class RawUpstream {
  readonly requests: RawRequest[] = [];
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly respond: Respond) {
    this.server = net.createServer((socket) => this.serve(socket));
  }

  static async start(respond: Respond): Promise<RawUpstream> {
    const upstream = new RawUpstream(respond);
    await new Promise<void>((resolve) => upstream.server.listen(0, "127.0.0.1", resolve));
    return upstream;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Requests from clients (the proxy's own probes excluded). */
  get forwarded(): RawRequest[] {
    return this.requests.filter((r) => r.path !== "/health" && r.path !== "/v1/models");
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private serve(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => undefined);
    let buffer = Buffer.alloc(0);
    let skipping = 0;
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (skipping > 0) {
          const n = Math.min(skipping, buffer.length);
          skipping -= n;
          buffer = buffer.subarray(n);
          if (skipping > 0) return;
        }
        const end = buffer.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buffer.subarray(0, end).toString("latin1");
        buffer = buffer.subarray(end + 4);
        const [requestLine, ...lines] = head.split("\r\n");
        const [method, path] = requestLine.split(" ");
        const headers: Record<string, string> = {};
        for (const line of lines) {
          const colon = line.indexOf(":");
          headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        const request: RawRequest = { method, path, headers, socket };
        this.requests.push(request);
        skipping = Number(headers["content-length"] ?? 0);
        if (path === "/health") socket.write("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        else if (path === "/v1/models") socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${MODELS_BODY.length}\r\n\r\n${MODELS_BODY}`);
        else this.respond(request);
      }
    });
  }
}
