/**
 * `npm run local` end to end, as a user runs it: start it, read what it printed, paste the printed
 * curl commands into bash (real curl), check the seed's answers, press Ctrl-C. Every command goes
 * to the gateway, which sends it on to a sidecar in front of an emulator or of the user's server.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, existsSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { VllmEmulator } from "../upstream/emulator";
import {
  commandFor,
  expectSeedCompletion,
  interruptAndCheck,
  listeners,
  parseBanner,
  paste,
  seedText,
  spawnLocal,
  tryConnect,
  type Banner,
  type LocalProcess,
} from "./local-cli";

const SEED_MODEL = "meta-llama/Llama-2-7b-chat-hf";
const OLLAMA_MODEL = "llama3.2:latest";

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

describe("npm run local, in front of the emulator", () => {
  test("prints the endpoint with no scheme, one generated key named default, the keys file of digests in a private directory, and the model", () => {
    const banner = bannerOf("plain");
    expect(banner.endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(Object.keys(banner.keys)).toEqual(["default"]);
    expect(banner.token).toMatch(/^vllmauth_[A-Za-z0-9]{42}$/);
    expect(banner.model).toBe(SEED_MODEL);
    const keysFile = banner.keysFile ?? "";
    expect(statSync(keysFile).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(keysFile)).mode & 0o777).toBe(0o700);
    const text = readFileSync(keysFile, "utf8");
    expect(text).toContain(createHash("sha256").update(banner.token).digest("hex"));
    expect(text).not.toContain(banner.token);
    expect(bannerOf("redirect").token).not.toBe(banner.token);
  });

  test("prints the topology: the gateway in front of one replica, a sidecar in front of the emulator, all on loopback", () => {
    const banner = bannerOf("plain");
    expect(procs.plain.stdout()).toContain("vllm-auth local: a gateway in front of 1 replica, a sidecar in front of the vLLM emulator (no GPU; answers like vLLM)");
    expect(banner.replicas).toHaveLength(1);
    expect(banner.replicas[0]).toMatchObject({ index: 1, kind: "emulator" });
    expect(banner.replicas[0].sidecar).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(banner.replicas[0].upstream).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  test("the sidecar refuses the client's key: only the gateway's internal credential opens it", async () => {
    const banner = bannerOf("plain");
    const direct = await paste(
      `curl -s -o /dev/null -w '%{http_code}' http://${banner.replicas[0].sidecar}/v1/chat/completions -H "Authorization: Bearer ${banner.token}" -H 'Content-Type: application/json' -d '{}'`,
      home,
    );
    expect(direct.stdout).toBe("401");
  });

  test("prints the seed's three commands with the real endpoint and token, in the seed's layout", () => {
    const banner = bannerOf("plain");
    expect(banner.commands).toEqual([...seedText(banner.endpoint, banner.token, SEED_MODEL), `curl -s ${banner.metricsUrl} | grep '^vllm_auth_key_'`]);
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

  test("the printed usage command shows the requests and tokens metered for the key by name", async () => {
    const banner = bannerOf("plain");
    expectSeedCompletion((await paste(banner.commands[2], home)).stdout, SEED_MODEL, /^Hello! I'm LLaMA/);
    const usage = await paste(commandFor(banner, /^# Usage per key/), home);
    expect(usage.stdout).toMatch(/^vllm_auth_key_requests_total\{key="default",route="chat_completions",status="200",role="gateway"\} [1-9]/m);
    expect(usage.stdout).toMatch(/^vllm_auth_key_completion_tokens_total\{key="default",role="gateway"\} [1-9]/m);
  });

  test("Ctrl-C stops it with exit code 0, closes every listener of both tiers and the emulator, and removes the temporary files", async () => {
    const banner = bannerOf("plain");
    expect(listeners(banner)).toHaveLength(5);
    await interruptAndCheck(procs.plain, listeners(banner));
    expect(existsSync(path.dirname(banner.keysFile ?? ""))).toBe(false);
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
    const follow = commandFor(banner, /-L follows it/);
    expect(banner.commands[3]).toBe(follow);
    expect(follow).toMatch(/^curl -L http:\/\/\S+\/v1\/chat\/completions \\\n {4}-H "Authorization: Bearer /);
    expect((await paste(follow, home)).stdout).toBe("Invalid authentication credentials");
  });

  test("Ctrl-C closes the API, metrics and redirect listeners", async () => {
    await interruptAndCheck(procs.redirect, listeners(bannerOf("redirect")));
  });
});

describe("npm run local --upstream URL --token-file PATH", () => {
  test("prints the first token of the given file and that file, no generated key, and one sidecar in front of the server", () => {
    const banner = bannerOf("upstream");
    expect(banner.token).toBe(GIVEN_TOKENS[0]);
    expect(banner.tokensFile).toBe(tokenFile);
    expect(banner.keys).toEqual({});
    expect(banner.keysFile).toBeUndefined();
    expect(procs.upstream.stdout()).toContain(`a gateway in front of 1 replica, a sidecar in front of your server at ${upstream.url}`);
    expect(banner.replicas).toEqual([expect.objectContaining({ index: 1, kind: "your server", upstream: upstream.url })]);
  });

  test("the pasted commands reach the separately started server, and only the authorized chat does", async () => {
    upstream.reset();
    const [models, withoutToken, withToken] = bannerOf("upstream").commands;
    expect(JSON.parse((await paste(models, home)).stdout)).toMatchObject({ object: "list" });
    expect((await paste(withoutToken, home)).stdout).toBe("Invalid authentication credentials");
    expectSeedCompletion((await paste(withToken, home)).stdout, SEED_MODEL, /^Hello! I'm LLaMA/);
    const seen = upstream.requests.filter((r) => r.headers["x-forwarded-proto"] !== undefined);
    // The model list is answered from the gateway's copy; only the generation is forwarded, without the client's token or the internal one.
    expect(seen.map((r) => `${r.method} ${r.target}`)).toEqual(["POST /v1/chat/completions"]);
    expect(seen[0].headers.authorization).toBeUndefined();
  });

  test("the second token in the file works too, and the gateway meters it by its place in the file", async () => {
    const banner = bannerOf("upstream");
    const command = banner.commands[2].replace(GIVEN_TOKENS[0], GIVEN_TOKENS[1]);
    expectSeedCompletion((await paste(command, home)).stdout, SEED_MODEL, /^Hello! I'm LLaMA/);
    const usage = (await paste(commandFor(banner, /^# Usage per key/), home)).stdout;
    expect(usage).toMatch(/^vllm_auth_key_requests_total\{key="token-2",route="chat_completions",status="200",role="gateway"\} 1$/m);
    expect(usage).not.toContain(GIVEN_TOKENS[1]);
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
    expect(banner.commands.slice(0, 3)).toEqual(seedText(banner.endpoint, banner.token, OLLAMA_MODEL));
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
