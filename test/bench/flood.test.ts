/** The flood's answer counting: what the bench reports the front answered an unauthenticated flood. */
import { floodRates, mergeFloodResults, parseFloodEvent, ResponseCounter, type FloodResult } from "../../bench/flood-protocol";
import { listeningPorts } from "../../bench/stack";
import { sumMetric } from "../../bench/scrape";

const ok = (body: string, extra = ""): string => `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
const shed = '{"error":{"message":"The server is overloaded.","code":"overloaded"}}';
const overloaded = `HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: ${shed.length}\r\n\r\n${shed}`;

describe("ResponseCounter", () => {
  test("pipelined answers in one read are counted in order, with their statuses", () => {
    const counter = new ResponseCounter();
    expect(counter.push(Buffer.from(ok('{"data":[]}') + ok("{}") + overloaded))).toEqual([200, 200, 503]);
  });

  test("an answer split anywhere, even inside its head or body, counts once when its last byte arrives", () => {
    const text = Buffer.from(ok('{"object":"list","data":[{"id":"m"}]}') + overloaded);
    for (let cut = 1; cut < text.length; cut++) {
      const counter = new ResponseCounter();
      expect([...counter.push(text.subarray(0, cut)), ...counter.push(text.subarray(cut))]).toEqual([200, 503]);
    }
  });

  test("chunked bodies, with trailers or without, end at their last chunk", () => {
    const chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";
    const trailers = "HTTP/1.1 502 Bad Gateway\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nX-Trailer: 1\r\n\r\n";
    const counter = new ResponseCounter();
    const bytes = Buffer.from(chunked + trailers);
    const statuses: number[] = [];
    for (let i = 0; i < bytes.length; i += 7) statuses.push(...counter.push(bytes.subarray(i, i + 7)));
    expect(statuses).toEqual([200, 502]);
  });

  test("204 and 304 have no body; an interim 100 is not an answer", () => {
    const counter = new ResponseCounter();
    const text = "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 99\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n" + ok("{}");
    expect(counter.push(Buffer.from(text))).toEqual([304, 204, 200]);
  });

  test("a body without length or chunking ends with the connection (HTTP/1.0 style)", () => {
    const counter = new ResponseCounter();
    expect(counter.push(Buffer.from("HTTP/1.0 403 Forbidden\r\nServer: x\r\n\r\nInvalid authentication"))).toEqual([]);
    expect(counter.push(Buffer.from(" credentials"))).toEqual([]);
    expect(counter.end()).toBe(403);
    expect(counter.end()).toBeUndefined();
  });

  test("bytes that are not an HTTP answer are refused (the flood gives the connection up)", () => {
    expect(() => new ResponseCounter().push(Buffer.from("SSH-2.0-OpenSSH\r\n\r\n"))).toThrow("not a status line");
  });
});

const result = (over: Partial<FloodResult>): FloodResult => ({
  mode: "pipeline",
  seconds: 2,
  written: 0,
  statuses: {},
  opened: 0,
  closedByServer: 0,
  connectErrors: 0,
  ...over,
});

test("the flood's rates: written, answered, 200s, 503s and closed connections per second", () => {
  const rates = floodRates(result({ seconds: 4, written: 40_000, statuses: { "200": 8_000, "503": 2_000, "404": 4 }, closedByServer: 2_000 }));
  expect(rates).toEqual({ writtenPerSecond: 10_000, answeredPerSecond: 2_501, okPerSecond: 2_000, shedPerSecond: 500, closedPerSecond: 500 });
});

test("rounds of one flood add up", () => {
  const merged = mergeFloodResults("connections", [
    result({ mode: "connections", seconds: 2, written: 10, statuses: { "200": 5, "503": 1 }, opened: 3, closedByServer: 1 }),
    result({ mode: "connections", seconds: 3, written: 20, statuses: { "200": 7 }, opened: 4, connectErrors: 2 }),
  ]);
  expect(merged).toEqual({ mode: "connections", seconds: 5, written: 30, statuses: { "200": 12, "503": 1 }, opened: 7, closedByServer: 1, connectErrors: 2 });
});

test("the flood process's stdout: its events are read, anything else is ignored", () => {
  expect(parseFloodEvent('{"event":"ready"}')).toEqual({ event: "ready" });
  expect(parseFloodEvent('{"event":"stopped","result":{"mode":"pipeline"}}')).toEqual({ event: "stopped", result: { mode: "pipeline" } });
  expect(parseFloodEvent("(node:12) Warning: something")).toBeUndefined();
  expect(parseFloodEvent('{"msg":"listening"}')).toBeUndefined();
  expect(parseFloodEvent("{not json")).toBeUndefined();
});

test("a proxy's listening line gives its API and metrics ports, or says its upstream was not ready", () => {
  expect(listeningPorts('{"level":"info","msg":"listening","role":"gateway","port":4100,"metrics_port":4101,"upstream_ready":true}')).toEqual({ port: 4100, metricsPort: 4101 });
  expect(listeningPorts('{"level":"info","msg":"listening","port":4100,"metrics_port":4101,"upstream_ready":false}')).toBe("unready");
  expect(listeningPorts('{"level":"info","msg":"upstream_ready"}')).toBeUndefined();
  expect(listeningPorts("plain text")).toBeUndefined();
});

test("a metric is summed over the samples whose labels match", () => {
  const text = [
    "# HELP vllm_auth_requests_total Requests.",
    "# TYPE vllm_auth_requests_total counter",
    'vllm_auth_requests_total{route="chat_completions",method="POST",status="200",role="sidecar"} 41',
    'vllm_auth_requests_total{route="chat_completions",method="POST",status="503",role="sidecar"} 2',
    'vllm_auth_requests_total{route="health",method="GET",status="200",role="sidecar"} 9',
    'vllm_auth_requests_total_other{route="chat_completions",status="200"} 1000',
    "vllm_auth_limits_store_up 1",
  ].join("\n");
  expect(sumMetric(text, "vllm_auth_requests_total", { route: "chat_completions", status: "200" })).toBe(41);
  expect(sumMetric(text, "vllm_auth_requests_total", { route: "chat_completions" })).toBe(43);
  expect(sumMetric(text, "vllm_auth_requests_total")).toBe(52);
  expect(sumMetric(text, "vllm_auth_limits_store_up")).toBe(1);
  expect(sumMetric(text, "vllm_auth_limits_fallback_total")).toBe(0);
});
