/**
 * What an upstream may send that a strict HTTP client chokes on, and what a client may send that
 * RFC 9112 says to refuse: interim 1xx answers, 204/304 with a Content-Length, an answer given
 * before the request body was read, an answer in a transfer coding besides chunked, a request line
 * without a version, two Host headers.
 */
import net from "node:net";
import { TOKEN, chatBody, rawExchange, rawStatus } from "./harness";
import { startFront, type Front } from "./front";
import { RawUpstream, type RawRequest } from "./raw-upstream";

const chatRequest = (extraHeaders = "", body = chatBody()): string =>
  `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\n` +
  `Content-Length: ${Buffer.byteLength(body)}\r\n${extraHeaders}\r\n${body}`;

const OK_BODY = '{"id":"cmpl-1","object":"chat.completion","choices":[]}';
const ok = (extra = ""): string => `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n${extra}content-length: ${OK_BODY.length}\r\n\r\n${OK_BODY}`;

/** Sends `first`, waits for its whole answer, then `second` on the same connection; returns both answers' text. */
function twoOnOneConnection(port: number, first: string, second: string): Promise<{ first: string; second: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let text = "";
    let firstText = "";
    let phase = 0;
    const timer = setTimeout(() => finish(false), 1500);
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ first: firstText, second: phase === 1 ? text : "", closed });
    };
    socket.on("connect", () => socket.write(first));
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      // Each answer here is complete once its declared body has arrived.
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) return;
      const length = /content-length: (\d+)/i.exec(text.slice(0, end));
      const complete = text.length >= end + 4 + (length === null ? 0 : Number(length[1]));
      if (!complete) return;
      if (phase === 0) {
        firstText = text;
        text = "";
        phase = 1;
        socket.write(second);
      } else finish(false);
    });
    socket.on("close", () => finish(true));
    socket.on("error", reject);
  });
}

describe("interim and body-less answers from the upstream", () => {
  let upstream: RawUpstream;
  let front: Front;
  let script: (request: RawRequest) => void;
  beforeAll(async () => {
    upstream = await RawUpstream.start((request) => script(request));
    front = await startFront({ UPSTREAM_URL: upstream.url });
  });
  afterAll(async () => {
    await front.close();
    await upstream.close();
  });

  test("an unsolicited 100 Continue before the answer is dropped: the client gets the 200, not a 502", async () => {
    script = ({ socket }) => socket.write(`HTTP/1.1 100 Continue\r\n\r\n${ok()}`);
    const res = await rawExchange(front.port, chatRequest("Connection: close\r\n"));
    expect(rawStatus(res.text)).toBe(200);
    expect(res.text).not.toContain("100 Continue");
    expect(res.text.endsWith(OK_BODY)).toBe(true);
  });

  test("an answer in a transfer coding besides chunked gets 502 and none of its bytes reach the client", async () => {
    let closed = false;
    script = ({ socket }) => {
      socket.once("close", () => (closed = true));
      socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: gzip, chunked\r\n\r\n${OK_BODY.length.toString(16)}\r\n${OK_BODY}\r\n`);
    };
    const res = await rawExchange(front.port, chatRequest("Connection: close\r\n"));
    expect(rawStatus(res.text)).toBe(502);
    expect(res.text).toContain("upstream_bad_response");
    expect(res.text).not.toContain(OK_BODY);
    // The rest of such an answer is never read: the upstream connection is dropped.
    expect(closed).toBe(true);
  });

  test("several interim answers (102, 103 with headers), even split across packets, are all dropped", async () => {
    script = ({ socket }) => {
      socket.write("HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early");
      setTimeout(() => socket.write(` Hints\r\nLink: </x>; rel=preload\r\n\r\n${ok()}`), 20);
    };
    const res = await rawExchange(front.port, chatRequest("Connection: close\r\n"));
    expect(rawStatus(res.text)).toBe(200);
    expect(res.text).not.toMatch(/HTTP\/1\.1 10[23]/);
  });

  test.each([304, 204])("a %i that announces a Content-Length is relayed without a body, and the connection stays usable", async (status) => {
    let calls = 0;
    script = ({ socket }) => {
      calls++;
      socket.write(calls === 1 ? `HTTP/1.1 ${status} X\r\netag: "v1"\r\ncontent-length: 42\r\n\r\n` : ok());
    };
    const { first, second, closed } = await twoOnOneConnection(front.port, chatRequest(), chatRequest());
    expect(rawStatus(first)).toBe(status);
    expect(first).toContain('etag: "v1"');
    expect(first.split("\r\n\r\n")[1]).toBe("");
    expect(closed).toBe(false);
    expect(rawStatus(second)).toBe(200);
    expect(second.endsWith(OK_BODY)).toBe(true);
  });
});

describe("an upstream that answers before reading the whole body", () => {
  let upstream: RawUpstream;
  let front: Front;
  beforeAll(async () => {
    upstream = await RawUpstream.start(({ socket }) => {
      // vLLM-style early refusal: answered on the headers, the body left unread.
      const body = '{"error":{"message":"too long","code":413}}';
      socket.write(`HTTP/1.1 413 Payload Too Large\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
    });
    front = await startFront({ UPSTREAM_URL: upstream.url });
  });
  afterAll(async () => {
    await front.close();
    await upstream.close();
  });

  test("the answer reaches the client with Connection: close and the connection ends, so no next request is lost in the unread body", async () => {
    const socket = net.connect(front.port, "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    let text = "";
    socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.on("error", () => undefined);
    // Declares 1 MiB, sends only the first 256 KiB: the proxy streams it and the upstream answers at once.
    const size = 1024 * 1024;
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`,
    );
    socket.write(Buffer.alloc(256 * 1024, 0x61));
    await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error("connection left open")), 3000))]);
    expect(rawStatus(text)).toBe(413);
    expect(text.toLowerCase()).toContain("connection: close");
    // A fresh connection works as usual.
    const again = await rawExchange(front.port, "GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect(rawStatus(again.text)).toBe(200);
  });
});

describe("request lines and Host headers RFC 9112 refuses", () => {
  let upstream: RawUpstream;
  let front: Front;
  beforeAll(async () => {
    upstream = await RawUpstream.start(({ socket }) => socket.write(ok()));
    front = await startFront({ UPSTREAM_URL: upstream.url });
  });
  afterAll(async () => {
    await front.close();
    await upstream.close();
  });

  test("a request line without an HTTP version gets 400 and is never forwarded", async () => {
    const res = await rawExchange(front.port, "GET /v1/models\r\n\r\n");
    expect(rawStatus(res.text)).toBe(400);
    expect(res.text).toContain("HTTP/1.0 or HTTP/1.1");
    const chat = await rawExchange(front.port, `POST /v1/chat/completions\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`);
    expect(rawStatus(chat.text)).toBe(400);
    expect(upstream.forwarded).toHaveLength(0);
  });

  test("two Host headers get 400, equal or not, and nothing is forwarded", async () => {
    for (const hosts of ["Host: a\r\nHost: b\r\n", "Host: a\r\nhost: a\r\n"]) {
      const body = chatBody();
      const res = await rawExchange(
        front.port,
        `POST /v1/chat/completions HTTP/1.1\r\n${hosts}Authorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      expect(rawStatus(res.text)).toBe(400);
      expect(res.text).toContain("more than one Host header");
    }
    expect(upstream.forwarded).toHaveLength(0);
  });

  test("HTTP/1.0 without a Host header is still served", async () => {
    const res = await rawExchange(front.port, "GET /v1/models HTTP/1.0\r\n\r\n");
    expect(rawStatus(res.text)).toBe(200);
  });
});
