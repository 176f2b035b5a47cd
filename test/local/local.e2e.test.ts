/**
 * `npm run local` end to end, as a user runs it: start it, read what it printed, paste the printed
 * curl commands into bash (real curl), check the seed's answers, press Ctrl-C.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, existsSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { VllmEmulator } from "../upstream/emulator";
import { hostPort, parseBanner, paste, spawnLocal, tryConnect, type Banner, type LocalProcess } from "./local-cli";

const SEED_MODEL = "meta-llama/Llama-2-7b-chat-hf";
const OLLAMA_MODEL = "llama3.2:latest";

/** The seed README's three commands, with the endpoint, token and model as placeholders. */
const seedText = (endpoint: string, token: string, model: string): string[] => {
  const body = `'{"model": "${model}", "messages": [{"role": "user", "content": "Who are you?"}]}'`;
  return [
    `curl -L http://${endpoint}/v1/models`,
    `curl -L http://${endpoint}/v1/chat/completions \\\n    -X POST \\\n    -H 'Content-Type: application/json' \\\n    -d ${body}`,
    `curl --location-trusted http://${endpoint}/v1/chat/completions \\\n    -H "Authorization: Bearer ${token}" \\\n    -X POST \\\n    -H 'Content-Type: application/json' \\\n    -d ${body}`,
  ];
};

interface Completion {
  object: string;
  model: string;
  choices: Array<{ message: { role: string; content: string }; finish_reason: string }>;
}

/** A stand-in for Ollama's OpenAI API: no /health (404), /v1/models and a chat completion. */
function startOllamaLike(): Promise<{ url: string; paths: string[]; close(): Promise<void> }> {
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    paths.push(`${req.method} ${req.url}`);
    req.resume();
    req.on("end", () => {
      const json = (body: unknown): void => {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
      };
      if (req.method === "GET" && req.url === "/v1/models") {
        json({ object: "list", data: [{ id: OLLAMA_MODEL, object: "model", created: 1, owned_by: "library" }] });
      } else if (req.method === "POST" && req.url === "/v1/chat/completions") {
        json({
          id: "chatcmpl-1",
          object: "chat.completion",
          created: 1,
          model: OLLAMA_MODEL,
          choices: [{ index: 0, message: { role: "assistant", content: "Hi, I am a local model." }, finish_reason: "stop" }],
        });
      } else {
        res.writeHead(404, { "content-type": "text/plain" }).end("404 page not found");
      }
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        paths,
        close: () => {
          server.closeAllConnections();
          return new Promise<void>((done) => server.close(() => done()));
        },
      });
    });
  });
}

/** Ctrl-C, then: exit code, and every listener it printed refuses connections. */
async function interruptAndCheck(proc: LocalProcess, ports: ReadonlyArray<{ host: string; port: number }>): Promise<void> {
  proc.interrupt();
  const exit = await proc.exited;
  expect(exit).toEqual({ code: 0, signal: null });
  expect(proc.stderr()).toContain("npm run local: stopped");
  for (const { host, port } of ports) expect(await tryConnect(host, port)).toBe("ECONNREFUSED");
}

const listeners = (banner: Banner): Array<{ host: string; port: number }> => [
  hostPort(banner.endpoint),
  hostPort(new URL(banner.metricsUrl).host),
  ...(banner.redirect === undefined ? [] : [hostPort(banner.redirect)]),
];

let home: string;
let upstream: VllmEmulator;
let ollama: Awaited<ReturnType<typeof startOllamaLike>>;
let tokenFile: string;
const GIVEN_TOKENS = ["given_token_0123456789abcdefghijklmnopqrstuvwxyz", "second_token_0123456789abcdefghij"];
const procs: Record<"plain" | "redirect" | "upstream" | "ollama" | "badFlag" | "missingFile", LocalProcess> = {} as never;
const banners: Partial<Record<keyof typeof procs, Banner>> = {};

beforeAll(async () => {
  home = mkdtempSync(path.join(os.tmpdir(), "vllm-auth-local-test-"));
  tokenFile = path.join(home, "my-tokens.txt");
  writeFileSync(tokenFile, `# mine\n${GIVEN_TOKENS.join("\n")}\n`, { mode: 0o600 });
  upstream = new VllmEmulator({ quiet: true });
  await upstream.start();
  ollama = await startOllamaLike();
  // Started together: each start costs npm + tsx (~1-2 s), which run in parallel.
  procs.plain = spawnLocal(["--port", "0", "--token-delay-ms", "0"]);
  procs.redirect = spawnLocal(["--port", "0", "--redirect", "--redirect-port", "0", "--token-delay-ms", "0"]);
  procs.upstream = spawnLocal(["--port", "0", "--upstream", upstream.url, "--token-file", tokenFile]);
  procs.ollama = spawnLocal(["--port", "0", "--upstream", ollama.url]);
  procs.badFlag = spawnLocal(["--port", "eighty"]);
  procs.missingFile = spawnLocal(["--token-file", path.join(home, "nope.txt")]);
  const started = ["plain", "redirect", "upstream", "ollama"] as const;
  const texts = await Promise.all(started.map((name) => procs[name].banner()));
  started.forEach((name, i) => {
    banners[name] = parseBanner(texts[i]);
  });
});

afterAll(async () => {
  for (const proc of Object.values(procs)) proc?.kill();
  await upstream?.close();
  await ollama?.close();
  if (home !== undefined) rmSync(home, { recursive: true, force: true });
});

function bannerOf(name: keyof typeof procs): Banner {
  const banner = banners[name];
  if (banner === undefined) throw new Error(`${name} printed no banner`);
  return banner;
}

function expectSeedCompletion(stdout: string, model: string, content: RegExp): void {
  const completion = JSON.parse(stdout) as Completion;
  expect(completion.object).toBe("chat.completion");
  expect(completion.model).toBe(model);
  expect(completion.choices[0].message.role).toBe("assistant");
  expect(completion.choices[0].message.content).toMatch(content);
  expect(completion.choices[0].finish_reason).toBe("stop");
}

describe("npm run local, in front of the emulator", () => {
  test("prints the endpoint with no scheme, a strong URL-safe token in a private temporary file, and the model", () => {
    const banner = bannerOf("plain");
    expect(banner.endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(banner.token).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(banner.model).toBe(SEED_MODEL);
    expect(statSync(banner.tokensFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(banner.tokensFile, "utf8")).toContain(`\n${banner.token}\n`);
    expect(bannerOf("redirect").token).not.toBe(banner.token);
  });

  test("prints the seed's three commands with the real endpoint and token, in the seed's layout", () => {
    const banner = bannerOf("plain");
    expect(banner.commands).toEqual(seedText(banner.endpoint, banner.token, SEED_MODEL));
  });

  test("pasted into bash, the three commands give the model list, the seed's error, and a completion", async () => {
    const [models, withoutToken, withToken] = bannerOf("plain").commands;
    const list = await paste(models, home);
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as { data: Array<{ id: string; owned_by: string }> }).data[0]).toMatchObject({ id: SEED_MODEL, owned_by: "vllm" });
    const refused = await paste(withoutToken, home);
    expect(refused).toMatchObject({ code: 0, stdout: "Invalid authentication credentials" });
    const answered = await paste(withToken, home);
    expect(answered.code).toBe(0);
    expectSeedCompletion(answered.stdout, SEED_MODEL, /^Hello! I'm LLaMA/);
  });

  test("the printed OPENAI_BASE_URL and OPENAI_API_KEY work with the OpenAI SDK", async () => {
    const banner = bannerOf("plain");
    expect(banner.exports).toEqual({ OPENAI_BASE_URL: `http://${banner.endpoint}/v1`, OPENAI_API_KEY: banner.token });
    const client = new OpenAI({ baseURL: banner.exports.OPENAI_BASE_URL, apiKey: banner.exports.OPENAI_API_KEY, maxRetries: 0 });
    const completion = await client.chat.completions.create({ model: SEED_MODEL, messages: [{ role: "user", content: "Who are you?" }] });
    expect(completion.choices[0].message.content).toMatch(/^Hello! I'm LLaMA/);
  });

  test("Ctrl-C stops it with exit code 0, closes every listener and removes the temporary token file", async () => {
    const banner = bannerOf("plain");
    const emulatorPort = Number(/emulator at http:\/\/127\.0\.0\.1:(\d+)/.exec(procs.plain.stdout())?.[1]);
    expect(emulatorPort).toBeGreaterThan(0);
    await interruptAndCheck(procs.plain, [...listeners(banner), { host: "127.0.0.1", port: emulatorPort }]);
    expect(existsSync(path.dirname(banner.tokensFile))).toBe(false);
  });
});

describe("npm run local --redirect", () => {
  test("prints the commands against the 308 listener, which points at the API port", async () => {
    const banner = bannerOf("redirect");
    expect(banner.redirect).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(banner.redirect).not.toBe(banner.endpoint);
    expect(banner.commands.slice(0, 3)).toEqual(seedText(banner.redirect ?? "", banner.token, SEED_MODEL));
    const head = await paste(`curl -s -o /dev/null -w '%{http_code} %{redirect_url}' http://${banner.redirect}/v1/models`, home);
    expect(head.stdout).toBe(`308 http://${banner.endpoint}/v1/models`);
  });

  test("through the 308: -L lists models and gets the seed's error, --location-trusted gets a completion", async () => {
    const [models, withoutToken, withToken] = bannerOf("redirect").commands;
    expect((JSON.parse((await paste(models, home)).stdout) as { data: Array<{ id: string }> }).data[0].id).toBe(SEED_MODEL);
    expect((await paste(withoutToken, home)).stdout).toBe("Invalid authentication credentials");
    expectSeedCompletion((await paste(withToken, home)).stdout, SEED_MODEL, /^Hello! I'm LLaMA/);
  });

  test("explains -L versus --location-trusted, and the printed -L command with the token is refused", async () => {
    const banner = bannerOf("redirect");
    expect(procs.redirect.stdout()).toMatch(/-L follows it but curl sends\n# Authorization only to the host and port it was given/);
    expect(banner.commands).toHaveLength(4);
    expect(banner.commands[3]).toMatch(/^curl -L http:\/\/\S+\/v1\/chat\/completions \\\n {4}-H "Authorization: Bearer /);
    expect((await paste(banner.commands[3], home)).stdout).toBe("Invalid authentication credentials");
  });

  test("Ctrl-C closes the API, metrics and redirect listeners", async () => {
    await interruptAndCheck(procs.redirect, listeners(bannerOf("redirect")));
  });
});

describe("npm run local --upstream URL --token-file PATH", () => {
  test("prints the first token of the given file and that file", () => {
    const banner = bannerOf("upstream");
    expect(banner.token).toBe(GIVEN_TOKENS[0]);
    expect(banner.tokensFile).toBe(tokenFile);
    expect(procs.upstream.stdout()).toContain(`in front of your server at ${upstream.url}`);
  });

  test("the pasted commands reach the separately started server, and only the authorized chat does", async () => {
    upstream.reset();
    const [models, withoutToken, withToken] = bannerOf("upstream").commands;
    expect(JSON.parse((await paste(models, home)).stdout)).toMatchObject({ object: "list" });
    expect((await paste(withoutToken, home)).stdout).toBe("Invalid authentication credentials");
    expectSeedCompletion((await paste(withToken, home)).stdout, SEED_MODEL, /^Hello! I'm LLaMA/);
    const seen = upstream.requests.filter((r) => r.headers["x-forwarded-proto"] !== undefined);
    // The model list is answered from the proxy's copy; only the generation is forwarded, without the token.
    expect(seen.map((r) => `${r.method} ${r.target}`)).toEqual(["POST /v1/chat/completions"]);
    expect(seen[0].headers.authorization).toBeUndefined();
  });

  test("the second token in the file works too", async () => {
    const command = bannerOf("upstream").commands[2].replace(GIVEN_TOKENS[0], GIVEN_TOKENS[1]);
    expectSeedCompletion((await paste(command, home)).stdout, SEED_MODEL, /^Hello! I'm LLaMA/);
  });

  test("Ctrl-C stops it, leaves the user's token file and the user's server alone", async () => {
    await interruptAndCheck(procs.upstream, listeners(bannerOf("upstream")));
    expect(readFileSync(tokenFile, "utf8")).toContain(GIVEN_TOKENS[0]);
    expect(await tryConnect("127.0.0.1", upstream.port)).toBe("connected");
  });
});

describe("npm run local --upstream, a server without /health (Ollama)", () => {
  test("warns that /health is not 200 but /v1/models is, and takes the model from the server's list", () => {
    expect(procs.ollama.stderr()).toMatch(/warning: http:\/\/127\.0\.0\.1:\d+\/health answered HTTP 404, not 200, but \S+\/v1\/models answers 200/);
    expect(bannerOf("ollama").model).toBe(OLLAMA_MODEL);
    expect(procs.ollama.stderr()).not.toContain("does not see the upstream ready");
  });

  test("the pasted commands work: the proxy polls /v1/models for readiness", async () => {
    const banner = bannerOf("ollama");
    expect(banner.commands).toEqual(seedText(banner.endpoint, banner.token, OLLAMA_MODEL));
    const [models, withoutToken, withToken] = banner.commands;
    expect((JSON.parse((await paste(models, home)).stdout) as { data: Array<{ id: string }> }).data[0].id).toBe(OLLAMA_MODEL);
    expect((await paste(withoutToken, home)).stdout).toBe("Invalid authentication credentials");
    expectSeedCompletion((await paste(withToken, home)).stdout, OLLAMA_MODEL, /^Hi, I am a local model\.$/);
    expect(ollama.paths).not.toContain("GET /health/v1/models");
    await interruptAndCheck(procs.ollama, listeners(banner));
  });
});

describe("npm run local with bad input", () => {
  test("a bad flag value exits 2 naming the flag and what to write", async () => {
    expect(await procs.badFlag.exited).toEqual({ code: 2, signal: null });
    expect(procs.badFlag.stderr()).toContain('npm run local: --port: expected a whole number from 0 to 65535, got "eighty"; write e.g. --port 8080');
    expect(procs.badFlag.stdout()).not.toContain("Press Ctrl-C");
  });

  test("a missing --token-file exits 2 naming the file", async () => {
    expect(await procs.missingFile.exited).toEqual({ code: 2, signal: null });
    expect(procs.missingFile.stderr()).toMatch(/npm run local: --token-file \S+nope\.txt: no such file/);
  });
});
