import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { loadConfig } from "../../proxy/src/config";
import { createLogger } from "../../proxy/src/log";
import { startProxy } from "../../proxy/src/server";
import { MODEL, TOKEN, chatBody, forwarded, rawExchange, rawStatus, startStack, type Stack } from "./harness";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { MAX_HEADER_BYTES: "4096", HEADERS_TIMEOUT_MS: "600", REQUEST_TIMEOUT_MS: "5000" } });
});
afterAll(() => stack.close());
beforeEach(() => stack.upstream.reset());

const auth = `Authorization: Bearer ${TOKEN}\r\n`;

describe("request framing", () => {
  test("Content-Length together with Transfer-Encoding: 400 and the connection closed", async () => {
    const body = chatBody();
    const res = await rawExchange(
      stack.port,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
      1000,
    );
    expect(rawStatus(res.text)).toBe(400);
    expect(res.closed).toBe(true);
    expect(forwarded(stack)).toHaveLength(0);
  });

  test("two different Content-Length values: 400", async () => {
    const body = chatBody();
    const res = await rawExchange(
      stack.port,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: ${body.length}\r\nContent-Length: 5\r\n\r\n${body}`,
      1000,
    );
    expect(rawStatus(res.text)).toBe(400);
    expect(forwarded(stack)).toHaveLength(0);
  });

  test("headers over the limit: 431, never forwarded", async () => {
    const res = await rawExchange(stack.port, `GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(8192)}\r\n\r\n`, 1000);
    expect(rawStatus(res.text)).toBe(431);
    expect(forwarded(stack)).toHaveLength(0);
  });

  test("a client that sends its headers one byte at a time is cut off by the headers timeout", async () => {
    const started = Date.now();
    const result = await new Promise<{ text: string; elapsed: number }>((resolve) => {
      const socket = net.connect(stack.port, "127.0.0.1");
      const request = `GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Slow: ${"s".repeat(200)}\r\n\r\n`;
      let sent = 0;
      let text = "";
      const drip = setInterval(() => {
        if (sent < request.length && !socket.destroyed) socket.write(request[sent++]);
      }, 50);
      socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
      socket.on("error", () => undefined);
      socket.on("close", () => {
        clearInterval(drip);
        resolve({ text, elapsed: Date.now() - started });
      });
    });
    // HEADERS_TIMEOUT_MS is 600: the socket goes well before the 11 s the drip would take.
    expect(result.elapsed).toBeLessThan(3000);
    expect([0, 408]).toContain(rawStatus(result.text));
    expect(forwarded(stack)).toHaveLength(0);
  });

  test("Expect: 100-continue without a token is refused before the body is invited", async () => {
    const res = await rawExchange(
      stack.port,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n`,
      400,
    );
    expect(res.text).not.toContain("100 Continue");
    expect(rawStatus(res.text)).toBe(401);
  });

  test("Expect: 100-continue with a token gets 100 Continue and the body reaches vLLM without the Expect header", async () => {
    const body = chatBody();
    const socket = net.connect(stack.port, "127.0.0.1");
    let text = "";
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (text.includes("100 Continue") && !text.includes("\r\n\r\nHTTP")) socket.write(body);
    });
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
    );
    await new Promise((resolve) => socket.on("close", resolve));
    expect(text.startsWith("HTTP/1.1 100 Continue")).toBe(true);
    expect(text).toContain("HTTP/1.1 200");
    const [seen] = forwarded(stack);
    expect(seen.headers.expect).toBeUndefined();
    expect(seen.body.toString()).toBe(body);
  });
});

/** The JSON error body of a raw answer, or undefined when it has none. */
function rawErrorCode(text: string): string | undefined {
  const body = text.slice(text.indexOf("\r\n\r\n") + 4);
  try {
    return (JSON.parse(body) as { error: { code: string } }).error.code;
  } catch {
    return undefined;
  }
}

describe("requests Node's parser accepts and the proxy refuses", () => {
  test("a transfer coding other than chunked alone gets 501 and the connection closed: vLLM would take the coded bytes for the body", async () => {
    for (const coding of ["gzip, chunked", "deflate,chunked", "identity, chunked"]) {
      const body = chatBody();
      const res = await rawExchange(
        stack.port,
        `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: ${coding}\r\n\r\n` +
          `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
        1000,
      );
      expect([coding, rawStatus(res.text)]).toEqual([coding, 501]);
      expect(rawErrorCode(res.text)).toBe("unsupported_transfer_coding");
      expect(res.closed).toBe(true);
    }
    expect(forwarded(stack)).toHaveLength(0);
  });

  test("Transfer-Encoding: chunked in any letter case is still relayed", async () => {
    const body = chatBody();
    const res = await rawExchange(
      stack.port,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n` +
        `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
      2000,
    );
    expect(rawStatus(res.text)).toBe(200);
    expect(forwarded(stack)[0].body.toString()).toBe(body);
  });

  test("an Expect value other than 100-continue gets 417 with a JSON error, before any token check, and nothing is forwarded", async () => {
    for (const credentials of [auth, ""]) {
      const res = await rawExchange(
        stack.port,
        `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${credentials}Content-Type: application/json\r\nContent-Length: 2\r\nExpect: 200-ok\r\n\r\n{}`,
        500,
      );
      expect(rawStatus(res.text)).toBe(417);
      expect(rawErrorCode(res.text)).toBe("expectation_failed");
    }
    expect(forwarded(stack)).toHaveLength(0);
  });

  test("an HTTP/1.1 request without Host gets 400 with a JSON error that names the header", async () => {
    const res = await rawExchange(stack.port, `GET /v1/models HTTP/1.1\r\nConnection: close\r\n\r\n`, 500);
    expect(rawStatus(res.text)).toBe(400);
    expect(res.text).toContain("needs a Host header");
    // HTTP/1.0 has no Host requirement.
    const old = await rawExchange(stack.port, `GET /v1/models HTTP/1.0\r\n\r\n`, 500);
    expect(rawStatus(old.text)).toBe(200);
  });

  test("a Host value that is not a host[:port] gets 400; an empty Host and host:port forms are accepted", async () => {
    for (const bad of ["a b", "x/y", "a@b", "[::1", "x:8o"]) {
      const res = await rawExchange(stack.port, `GET /v1/models HTTP/1.1\r\nHost: ${bad}\r\nConnection: close\r\n\r\n`, 500);
      expect([bad, rawStatus(res.text)]).toEqual([bad, 400]);
    }
    for (const good of ["", "example.com", "example.com:443", "10.0.0.1:8000", "[::1]:8000", "xn--bcher-kva.example"]) {
      const res = await rawExchange(stack.port, `GET /v1/models HTTP/1.1\r\nHost: ${good}\r\nConnection: close\r\n\r\n`, 500);
      expect([good, rawStatus(res.text)]).toEqual([good, 200]);
    }
  });

  test("a second Authorization or Host header after 2000 other header lines is still seen", async () => {
    const filler = "a:\r\n".repeat(2100);
    const twoKeys = await rawExchange(
      stack.port,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${auth}${filler}Authorization: Bearer not-a-key\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
      500,
    );
    expect(rawStatus(twoKeys.text)).toBe(401);
    const twoHosts = await rawExchange(stack.port, `GET /v1/models HTTP/1.1\r\nHost: x\r\n${filler}Host: y\r\n\r\n`, 500);
    expect(rawStatus(twoHosts.text)).toBe(400);
    expect(forwarded(stack)).toHaveLength(0);
  });
});

describe("hop-by-hop headers", () => {
  test("Connection-listed and hop-by-hop request headers never reach vLLM", async () => {
    const body = chatBody();
    const res = await rawExchange(
      stack.port,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\n` +
        `Connection: close, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: h2c\r\n` +
        `Proxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\nX-Kept: yes\r\n` +
        `X-Forwarded-For: 6.6.6.6\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    expect(rawStatus(res.text)).toBe(200);
    const [seen] = forwarded(stack);
    for (const name of ["x-secret", "keep-alive", "te", "upgrade", "proxy-authorization", "proxy-connection", "authorization"]) {
      expect(seen.headers[name]).toBeUndefined();
    }
    expect(seen.headers["x-kept"]).toBe("yes");
    // This proxy is the first HTTP hop: a client's X-Forwarded-For is replaced, not trusted.
    expect(seen.headers["x-forwarded-for"]).toBe("127.0.0.1");
    expect(seen.headers["x-forwarded-proto"]).toBe("http");
  });

  test("hop-by-hop response headers from vLLM never reach the client", async () => {
    // An upstream that answers with every hop-by-hop header it can.
    const upstream = http.createServer((req, res) => {
      if (req.url === "/health") return void res.end();
      res.writeHead(200, {
        "content-type": "application/json",
        connection: "keep-alive, X-Internal",
        "x-internal": "secret-topology",
        "keep-alive": "timeout=5",
        "proxy-authenticate": "Basic",
        trailer: "X-Checksum",
        upgrade: "h2c",
        "x-model": MODEL,
      });
      res.end('{"ok":true}');
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    const port = (upstream.address() as AddressInfo).port;
    const proxy = await startProxy(
      loadConfig({ UPSTREAM_URL: `http://127.0.0.1:${port}`, TOKENS_FILE: stack.tokensFile, HOST: "127.0.0.1", PORT: "0", METRICS_PORT: "0" }),
      { logger: createLogger(() => undefined) },
    );
    try {
      const body = chatBody();
      const res = await rawExchange(
        proxy.port,
        `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      );
      const head = res.text.split("\r\n\r\n")[0].toLowerCase();
      expect(rawStatus(res.text)).toBe(200);
      for (const name of ["x-internal", "keep-alive", "proxy-authenticate", "trailer", "upgrade"]) {
        expect(head).not.toContain(`\r\n${name}:`);
      }
      expect(head).toContain("x-model:");
    } finally {
      await proxy.shutdown(0);
      upstream.close();
    }
  });
});
