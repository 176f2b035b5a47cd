/** loadConfig: the documented defaults, every refusal message, and a result nobody can change. */
import { ConfigError, loadConfig } from "../../proxy/src/config";

const BASE = { TOKENS_FILE: "/etc/vllm-auth/tokens" } as const;

/** The problems loadConfig reports for `env`, or a failure when it accepts it. */
function problems(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe("defaults", () => {
  const config = loadConfig(BASE);

  test("the documented listener and upstream defaults", () => {
    expect(config.upstreamUrl.href).toBe("http://127.0.0.1:8000/");
    expect(config.port).toBe(8080);
    expect(config.metricsPort).toBe(9090);
    expect(config.host).toBe("0.0.0.0");
    expect(config.upstreamHealthPath).toBe("/health");
    expect(config.tokensFile).toBe("/etc/vllm-auth/tokens");
    expect(config.redirect).toBeUndefined();
    expect(config.forwardedProto).toBe("http");
    expect(config.accessLog).toBe(true);
  });

  test("keep-alive outlives the NLB's 350 s idle timeout", () => {
    expect(config.keepAliveTimeoutMs).toBeGreaterThan(350_000);
  });

  test("upstream timeouts allow long generations", () => {
    expect(config.upstreamHeadersTimeoutMs).toBeGreaterThanOrEqual(10 * 60_000);
    expect(config.upstreamBodyTimeoutMs).toBeGreaterThanOrEqual(60_000);
  });

  test("client-side limits are bounded and consistent", () => {
    expect(config.maxBodyBytes).toBe(10 * 1024 * 1024);
    expect(config.maxHeaderBytes).toBeGreaterThanOrEqual(8 * 1024);
    expect(config.headersTimeoutMs).toBeGreaterThan(0);
    expect(config.headersTimeoutMs).toBeLessThanOrEqual(config.requestTimeoutMs);
    expect(config.readyPollMs).toBeGreaterThan(0);
    expect(config.tokensPollMs).toBeGreaterThan(0);
    expect(config.shutdownGraceMs).toBeGreaterThan(0);
  });

  test("blank values count as unset", () => {
    const blank = loadConfig({ ...BASE, PORT: "  ", UPSTREAM_URL: "", METRICS_PORT: "" });
    expect(blank.port).toBe(8080);
    expect(blank.metricsPort).toBe(9090);
    expect(blank.upstreamUrl.href).toBe("http://127.0.0.1:8000/");
  });
});

describe("values that are accepted", () => {
  test("every variable is read", () => {
    const config = loadConfig({
      ...BASE,
      UPSTREAM_URL: "http://vllm.internal:8001/base",
      UPSTREAM_HEALTH_PATH: "/v1/models",
      HOST: "127.0.0.1",
      PORT: "0",
      METRICS_PORT: "9100",
      REDIRECT_PORT: "8081",
      REDIRECT_TO: "https://llm.example.com",
      MAX_BODY_BYTES: "1024",
      MAX_HEADER_BYTES: "2048",
      HEADERS_TIMEOUT_MS: "500",
      REQUEST_TIMEOUT_MS: "1000",
      KEEP_ALIVE_TIMEOUT_MS: "360000",
      UPSTREAM_CONNECT_TIMEOUT_MS: "100",
      UPSTREAM_HEADERS_TIMEOUT_MS: "200",
      UPSTREAM_BODY_TIMEOUT_MS: "300",
      UPSTREAM_CONNECTIONS: "8",
      READY_POLL_MS: "50",
      TOKENS_POLL_MS: "60",
      SHUTDOWN_GRACE_MS: "0",
      ACCESS_LOG: "false",
    });
    expect(config).toMatchObject({
      upstreamHealthPath: "/v1/models",
      host: "127.0.0.1",
      port: 0,
      metricsPort: 9100,
      redirect: { port: 8081, to: "https://llm.example.com" },
      forwardedProto: "https",
      maxBodyBytes: 1024,
      maxHeaderBytes: 2048,
      headersTimeoutMs: 500,
      requestTimeoutMs: 1000,
      keepAliveTimeoutMs: 360_000,
      upstreamConnectTimeoutMs: 100,
      upstreamHeadersTimeoutMs: 200,
      upstreamBodyTimeoutMs: 300,
      upstreamConnections: 8,
      readyPollMs: 50,
      tokensPollMs: 60,
      shutdownGraceMs: 0,
      accessLog: false,
    });
    expect(config.upstreamUrl.href).toBe("http://vllm.internal:8001/base");
  });

  test("a redirect to an http origin forwards as http, and FORWARDED_PROTO overrides", () => {
    expect(loadConfig({ ...BASE, REDIRECT_PORT: "8081", REDIRECT_TO: "http://127.0.0.1:8080" }).forwardedProto).toBe("http");
    expect(loadConfig({ ...BASE, FORWARDED_PROTO: "https" }).forwardedProto).toBe("https");
  });

  test("port 0 may repeat: each listener gets its own ephemeral port", () => {
    expect(loadConfig({ ...BASE, PORT: "0", METRICS_PORT: "0", REDIRECT_PORT: "0", REDIRECT_TO: "https://a.example" }).port).toBe(0);
  });

  test("ACCESS_LOG accepts true/false and 1/0", () => {
    expect(loadConfig({ ...BASE, ACCESS_LOG: "1" }).accessLog).toBe(true);
    expect(loadConfig({ ...BASE, ACCESS_LOG: "0" }).accessLog).toBe(false);
    expect(loadConfig({ ...BASE, ACCESS_LOG: "true" }).accessLog).toBe(true);
  });
});

describe("refusals name the variable and what it expected", () => {
  test("TOKENS_FILE is required", () => {
    expect(problems({})).toEqual([
      "TOKENS_FILE is required: the path of a file with one API token per line (or KEYS_FILE, a file of named keys)",
    ]);
  });

  test.each([
    ["PORT", "abc", 'PORT="abc": expected a whole number from 0 to 65535'],
    ["PORT", "65536", 'PORT="65536": expected a whole number from 0 to 65535'],
    ["PORT", "-1", 'PORT="-1": expected a whole number from 0 to 65535'],
    ["PORT", "80.5", 'PORT="80.5": expected a whole number from 0 to 65535'],
    ["METRICS_PORT", "x", 'METRICS_PORT="x": expected a whole number from 0 to 65535'],
    ["MAX_BODY_BYTES", "-1", 'MAX_BODY_BYTES="-1": expected a whole number from 1 to 1073741824'],
    ["MAX_BODY_BYTES", "0", 'MAX_BODY_BYTES="0": expected a whole number from 1 to 1073741824'],
    ["MAX_HEADER_BYTES", "100", 'MAX_HEADER_BYTES="100": expected a whole number from 1024 to 1048576'],
    ["HEADERS_TIMEOUT_MS", "10", 'HEADERS_TIMEOUT_MS="10": expected a whole number from 100 to 3600000'],
    ["REQUEST_TIMEOUT_MS", "soon", 'REQUEST_TIMEOUT_MS="soon": expected a whole number from 100 to 3600000'],
    ["KEEP_ALIVE_TIMEOUT_MS", "5s", 'KEEP_ALIVE_TIMEOUT_MS="5s": expected a whole number from 100 to 86400000'],
    ["UPSTREAM_CONNECT_TIMEOUT_MS", "1", 'UPSTREAM_CONNECT_TIMEOUT_MS="1": expected a whole number from 10 to 3600000'],
    ["UPSTREAM_HEADERS_TIMEOUT_MS", "x", 'UPSTREAM_HEADERS_TIMEOUT_MS="x": expected a whole number from 10 to 86400000'],
    ["UPSTREAM_BODY_TIMEOUT_MS", "x", 'UPSTREAM_BODY_TIMEOUT_MS="x": expected a whole number from 10 to 86400000'],
    ["UPSTREAM_CONNECTIONS", "0", 'UPSTREAM_CONNECTIONS="0": expected a whole number from 1 to 65535'],
    ["READY_POLL_MS", "5", 'READY_POLL_MS="5": expected a whole number from 10 to 3600000'],
    ["TOKENS_POLL_MS", "x", 'TOKENS_POLL_MS="x": expected a whole number from 10 to 3600000'],
    ["SHUTDOWN_GRACE_MS", "-5", 'SHUTDOWN_GRACE_MS="-5": expected a whole number from 0 to 86400000'],
    ["ACCESS_LOG", "yes", 'ACCESS_LOG="yes": expected true or false'],
    ["FORWARDED_PROTO", "ftp", 'FORWARDED_PROTO="ftp": expected http or https'],
  ])("%s=%s", (name, value, message) => {
    expect(problems({ ...BASE, [name]: value })).toEqual([message]);
  });

  test.each([
    ["not a url", 'UPSTREAM_URL="not a url": expected an http URL such as http://127.0.0.1:8000'],
    ["ftp://vllm:21", 'UPSTREAM_URL="ftp://vllm:21": expected an http:// or https:// URL'],
    ["http://user:pw@vllm:8000", 'UPSTREAM_URL="http://user:pw@vllm:8000": expected scheme, host, port and path only (no credentials, query or fragment)'],
    ["http://vllm:8000/?x=1", 'UPSTREAM_URL="http://vllm:8000/?x=1": expected scheme, host, port and path only (no credentials, query or fragment)'],
    ["http://vllm:8000/#top", 'UPSTREAM_URL="http://vllm:8000/#top": expected scheme, host, port and path only (no credentials, query or fragment)'],
  ])("UPSTREAM_URL=%s", (value, message) => {
    expect(problems({ ...BASE, UPSTREAM_URL: value })).toEqual([message]);
  });

  test.each(["health", "/a//b", "/a/../b", "/health?full=1", "/health#x", "/he alth", "/%2e%2e/health"])(
    "UPSTREAM_HEALTH_PATH=%s is not a plain path",
    (value) => {
      expect(problems({ ...BASE, UPSTREAM_HEALTH_PATH: value })).toEqual([
        `UPSTREAM_HEALTH_PATH=${JSON.stringify(value)}: expected a plain path such as /health`,
      ]);
    },
  );

  test("REDIRECT_PORT=1e3", () => {
    expect(problems({ ...BASE, REDIRECT_PORT: "1e3", REDIRECT_TO: "https://llm.example.com" })).toEqual([
      'REDIRECT_PORT="1e3": expected a whole number from 0 to 65535',
    ]);
  });

  test.each([
    [{ REDIRECT_TO: "https://llm.example.com" }],
    [{ REDIRECT_PORT: "8081" }],
  ])("the redirect needs both REDIRECT_PORT and REDIRECT_TO: %j", (env) => {
    expect(problems({ ...BASE, ...env })).toEqual(["REDIRECT_PORT and REDIRECT_TO: set both (for the 308 listener) or neither"]);
  });

  test.each(["https://llm.example.com/", "https://llm.example.com/v1", "https://llm.example.com?x=1", "https://llm.example.com#f", "ftp://llm.example.com", "https://user@llm.example.com", "llm.example.com"])(
    "REDIRECT_TO=%s is not an origin",
    (to) => {
      expect(problems({ ...BASE, REDIRECT_PORT: "8081", REDIRECT_TO: to })).toEqual([
        `REDIRECT_TO=${JSON.stringify(to)}: expected an origin with no path or trailing slash, such as https://llm.example.com`,
      ]);
    },
  );

  test("the headers timeout may not exceed the request timeout", () => {
    expect(problems({ ...BASE, HEADERS_TIMEOUT_MS: "5000", REQUEST_TIMEOUT_MS: "1000" })).toEqual([
      "HEADERS_TIMEOUT_MS (5000) must not exceed REQUEST_TIMEOUT_MS (1000)",
    ]);
  });

  test.each([
    [{ PORT: "9090" }, "PORT, METRICS_PORT and REDIRECT_PORT must differ (got 9090, 9090)"],
    [{ REDIRECT_PORT: "8080", REDIRECT_TO: "https://a.example" }, "PORT, METRICS_PORT and REDIRECT_PORT must differ (got 8080, 9090, 8080)"],
  ])("listeners may not share a port: %j", (env, message) => {
    expect(problems({ ...BASE, ...env })).toEqual([message]);
  });

  test("every problem is reported at once, in one ConfigError", () => {
    let caught: unknown;
    try {
      loadConfig({ PORT: "abc", REDIRECT_TO: "https://a.example", MAX_BODY_BYTES: "-1", ACCESS_LOG: "maybe" });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const error = caught as ConfigError;
    expect(error.code).toBe("PROXY_CONFIG_INVALID");
    expect(error.problems).toHaveLength(5);
    for (const name of ["PORT", "TOKENS_FILE", "REDIRECT_TO", "MAX_BODY_BYTES", "ACCESS_LOG"]) {
      expect(error.message).toContain(name);
    }
    expect(error.message.split("\n")[0]).toBe("invalid proxy configuration:");
  });
});

describe("the result cannot change after start-up", () => {
  test("the config object is frozen", () => {
    const config = loadConfig(BASE);
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(config.port).toBe(8080);
  });

  test("each call parses afresh: a later environment does not change an earlier result", () => {
    const env: Record<string, string> = { ...BASE, PORT: "8001" };
    const first = loadConfig(env);
    env.PORT = "8002";
    expect(first.port).toBe(8001);
    expect(loadConfig(env).port).toBe(8002);
  });
});
