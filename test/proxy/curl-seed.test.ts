/**
 * The seed README's three curl commands, run with the real curl binary against proxy + emulator,
 * directly and through the 308 redirect listener.
 */
import { MODEL, TOKEN, forwarded, startStack, type Stack } from "./harness";
import { curl, freePorts } from "./support";

const CHAT_JSON = `{"model": "${MODEL}", "messages": [{"role": "user", "content": "Who are you?"}]}`;

interface ChatCompletion {
  object: string;
  model: string;
  choices: Array<{ index: number; message: { role: string; content: string }; finish_reason: string }>;
}

function expectCompletion(stdout: string): void {
  const completion = JSON.parse(stdout) as ChatCompletion;
  expect(completion.object).toBe("chat.completion");
  expect(completion.model).toBe(MODEL);
  expect(completion.choices[0].message.role).toBe("assistant");
  expect(completion.choices[0].message.content).toMatch(/^Hello! I'm LLaMA/);
  expect(completion.choices[0].finish_reason).toBe("stop");
}

describe("the seed's curl commands against the API port", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.upstream.reset());

  test("curl -L /v1/models prints vLLM's model list without a token", async () => {
    const res = await curl(["-sS", "-L", `${stack.url}/v1/models`], stack.dir);
    expect(res.code).toBe(0);
    const list = JSON.parse(res.stdout) as { object: string; data: Array<{ id: string; object: string; owned_by: string }> };
    expect(list.object).toBe("list");
    expect(list.data).toHaveLength(1);
    expect(list.data[0]).toMatchObject({ id: MODEL, object: "model", owned_by: "vllm" });
  });

  test("curl -L chat POST without a token prints exactly the seed's error and reaches nothing", async () => {
    const res = await curl(
      ["-sS", "-L", `${stack.url}/v1/chat/completions`, "-X", "POST", "-H", "Content-Type: application/json", "-d", CHAT_JSON],
      stack.dir,
    );
    expect(res.code).toBe(0);
    expect(res.stdout).toBe("Invalid authentication credentials");
    expect(forwarded(stack)).toHaveLength(0);
  });

  test("curl --location-trusted chat POST with the bearer token prints a chat.completion", async () => {
    const res = await curl(
      [
        "-sS",
        "--location-trusted",
        `${stack.url}/v1/chat/completions`,
        "-H",
        `Authorization: Bearer ${TOKEN}`,
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        CHAT_JSON,
      ],
      stack.dir,
    );
    expect(res.code).toBe(0);
    expectCompletion(res.stdout);
    const seen = forwarded(stack);
    expect(seen).toHaveLength(1);
    expect(seen[0].body.toString("utf8")).toBe(CHAT_JSON);
    expect(seen[0].headers.authorization).toBeUndefined();
  });
});

describe("the seed's curl commands through the redirect listener", () => {
  let stack: Stack;
  let apiPort: number;
  let redirectUrl: string;

  beforeAll(async () => {
    const [port, redirectPort] = await freePorts(2);
    apiPort = port;
    redirectUrl = `http://127.0.0.1:${redirectPort}`;
    stack = await startStack({
      env: { PORT: String(port), REDIRECT_PORT: String(redirectPort), REDIRECT_TO: `http://127.0.0.1:${port}` },
    });
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.upstream.reset());

  const chatArgs = (flag: string): string[] => [
    "-sS",
    flag,
    `${redirectUrl}/v1/chat/completions`,
    "-H",
    `Authorization: Bearer ${TOKEN}`,
    "-X",
    "POST",
    "-H",
    "Content-Type: application/json",
    "-d",
    CHAT_JSON,
    "--write-out",
    "%{stderr}redirects=%{num_redirects}",
  ];

  test("the listeners are on the ports that were asked for", () => {
    expect(stack.port).toBe(apiPort);
    expect(stack.proxy.redirectPort).toBe(Number(new URL(redirectUrl).port));
  });

  test("curl -L /v1/models follows the 308 and prints the model list", async () => {
    const res = await curl(["-sS", "-L", `${redirectUrl}/v1/models`], stack.dir);
    expect(res.code).toBe(0);
    expect((JSON.parse(res.stdout) as { data: Array<{ id: string }> }).data[0].id).toBe(MODEL);
  });

  test("curl -L drops the token at the redirect to another port and gets the seed's error", async () => {
    const res = await curl(chatArgs("-L"), stack.dir);
    expect(res.code).toBe(0);
    expect(res.stderr).toBe("redirects=1");
    expect(res.stdout).toBe("Invalid authentication credentials");
    expect(forwarded(stack)).toHaveLength(0);
  });

  test("curl --location-trusted keeps the token across the redirect and prints the completion", async () => {
    const res = await curl(chatArgs("--location-trusted"), stack.dir);
    expect(res.code).toBe(0);
    expect(res.stderr).toBe("redirects=1");
    expectCompletion(res.stdout);
  });

  test("the 308 keeps the method and the body: vLLM receives the same POST and JSON", async () => {
    const res = await curl(chatArgs("--location-trusted"), stack.dir);
    expect(res.code).toBe(0);
    const seen = forwarded(stack);
    expect(seen).toHaveLength(1);
    expect(seen[0].method).toBe("POST");
    expect(seen[0].target).toBe("/v1/chat/completions");
    expect(seen[0].headers["content-type"]).toBe("application/json");
    expect(seen[0].body.toString("utf8")).toBe(CHAT_JSON);
  });

  test("the 308 Location comes from REDIRECT_TO, never from a forged Host header", async () => {
    const res = await curl(
      ["-sS", "-o", "/dev/null", "-D", "-", "-H", "Host: evil.example:666", `${redirectUrl}/v1/models?limit=2&x=%2F`],
      stack.dir,
    );
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^HTTP\/1\.1 308 /);
    const location = /^location: (.*)\r$/im.exec(res.stdout);
    expect(location?.[1]).toBe(`http://127.0.0.1:${apiPort}/v1/models?limit=2&x=%2F`);
    expect(res.stdout).not.toContain("evil.example");
    expect(forwarded(stack)).toHaveLength(0);
  });
});

describe("the redirect listener's operations", () => {
  test("each redirect is logged and counted like an API request, with no token in the line", async () => {
    const [port, redirectPort] = await freePorts(2);
    const stack = await startStack({
      env: { PORT: String(port), REDIRECT_PORT: String(redirectPort), REDIRECT_TO: `http://127.0.0.1:${port}` },
    });
    try {
      const res = await curl(["-sS", "-o", "/dev/null", "-w", "%{http_code}", `http://127.0.0.1:${redirectPort}/v1/${TOKEN}?q=1`], stack.dir);
      expect(res.stdout).toBe("308");
      const line = stack.logs.find((l) => l.msg === "request" && l.listener === "redirect");
      expect(line).toMatchObject({ method: "GET", status: 308, route: "redirect" });
      expect(stack.logText()).not.toContain(TOKEN);
      const metric = await stack.proxy.metrics.registry.getSingleMetricAsString("vllm_auth_requests_total");
      expect(metric).toContain('route="redirect",method="GET",status="308"');
    } finally {
      await stack.close();
    }
  });
});
