/** `npm run local` flags: what each one sets, and the message and exit code for each kind of mistake. */
import { checkNpmTookFlags, DEFAULT_HOST, DEFAULT_KEY_NAME, DEFAULT_TOKEN_DELAY_MS, parseArgs, USAGE, UsageError, type LocalOptions } from "../../scripts/local/args";
import { sectionOf } from "../docs/pages";

function options(argv: string[]): LocalOptions {
  const command = parseArgs(argv);
  if (command.kind !== "run") throw new Error("expected a run command");
  return command.options;
}

function usageError(argv: string[]): string {
  try {
    parseArgs(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).exitCode).toBe(2);
    return (error as Error).message;
  }
  throw new Error(`no error for ${argv.join(" ")}`);
}

test("no flags: the emulator, default ports chosen later, loopback, no redirect", () => {
  expect(options([])).toEqual({
    upstream: undefined,
    tokenFile: undefined,
    port: undefined,
    redirect: false,
    redirectPort: undefined,
    host: DEFAULT_HOST,
    model: undefined,
    tokenDelayMs: DEFAULT_TOKEN_DELAY_MS,
    replicas: 1,
    replicaStartDelayMs: 0,
    keys: [{ name: DEFAULT_KEY_NAME }],
  });
});

test("every flag, in both --flag value and --flag=value forms", () => {
  const parsed = options([
    "--upstream=http://127.0.0.1:11434",
    "--token-file",
    "t.txt",
    "--port=0",
    "--redirect-port",
    "9001",
    "--host",
    "[::1]",
    "--model=llama3.2:latest",
  ]);
  expect(parsed.upstream?.href).toBe("http://127.0.0.1:11434/");
  expect(parsed).toMatchObject({ tokenFile: "t.txt", port: 0, redirect: true, redirectPort: 9001, host: "::1", model: "llama3.2:latest" });
  expect(options(["--redirect", "--token-delay-ms", "0"])).toMatchObject({ redirect: true, redirectPort: undefined, tokenDelayMs: 0 });
});

test("--replicas, --replica-start-delay-ms, --keys and a repeated --limit", () => {
  expect(
    options(["--replicas", "3", "--replica-start-delay-ms=5000", "--keys", "alice,ci-bot,bob", "--limit", "alice:rpm=2", "--limit=bob:tpm=1000,concurrency=1", "--limit", "alice:concurrency=3"]),
  ).toMatchObject({
    replicas: 3,
    replicaStartDelayMs: 5000,
    keys: [{ name: "alice", limits: { rpm: 2, concurrency: 3 } }, { name: "ci-bot" }, { name: "bob", limits: { tpm: 1000, concurrency: 1 } }],
  });
});

test("the default key takes limits by its name; --token-file alone generates no key; with --keys, both", () => {
  expect(options(["--limit", "default:rpm=60"]).keys).toEqual([{ name: "default", limits: { rpm: 60 } }]);
  expect(options(["--token-file", "t.txt"]).keys).toEqual([]);
  expect(options(["--token-file", "t.txt", "--keys", "alice"])).toMatchObject({ tokenFile: "t.txt", keys: [{ name: "alice" }] });
});

test("--upstream is the one replica: --replicas 1 is accepted with it", () => {
  expect(options(["--upstream", "http://127.0.0.1:8000", "--replicas", "1"]).replicas).toBe(1);
});

test("--help and -h win over everything else", () => {
  expect(parseArgs(["--port", "1", "--help"])).toEqual({ kind: "help" });
  expect(parseArgs(["-h"])).toEqual({ kind: "help" });
});

test.each([
  [["--port", "eighty"], '--port: expected a whole number from 0 to 65535, got "eighty"; write e.g. --port 8080'],
  [["--port", "70000"], "--port: expected a whole number from 0 to 65535"],
  [["--port", "-1"], '--port: expected a whole number from 0 to 65535, got "-1"'],
  [["--redirect-port", "x"], "write e.g. --redirect-port 8081"],
  [["--port", "9000", "--redirect-port", "9000"], "--port and --redirect-port must differ (both are 9000)"],
  [["--token-delay-ms", "fast"], "write e.g. --token-delay-ms 20"],
  [["--port"], "--port needs a value; write e.g. --port 8080"],
  [["--upstream", "--redirect"], "--upstream needs a value; write e.g. --upstream http://127.0.0.1:8000"],
  [["--upstream", "localhost:8000"], "--upstream: expected an http:// or https:// URL"],
  [["--upstream", "not a url"], '--upstream: "not a url" is not a URL'],
  [["--upstream", "http://u:p@127.0.0.1:8000"], "no credentials, query or fragment"],
  [["--upstream", "http://127.0.0.1:11434/v1/"], "not its OpenAI base URL: write --upstream http://127.0.0.1:11434"],
  [["--upstream", "http://127.0.0.1:8000", "--token-delay-ms", "5"], "--token-delay-ms sets the built-in emulator's speed"],
  [["--host", "bad host!"], '--host: expected an IP address or host name, got "bad host!"'],
  [["--model", " "], "--model: expected a model name"],
  [["--model", "my model"], '--model: expected a model name without spaces or quotes, got "my model"'],
  [["--replicas", "0"], '--replicas: expected a whole number from 1 to 16, got "0"; write e.g. --replicas 3'],
  [["--replicas", "17"], "--replicas: expected a whole number from 1 to 16"],
  [["--replicas", "two"], "write e.g. --replicas 3"],
  [["--replica-start-delay-ms", "5s"], '--replica-start-delay-ms: expected a whole number from 0 to 600000, got "5s"; write e.g. --replica-start-delay-ms 5000'],
  [["--replica-start-delay-ms", "600001"], "--replica-start-delay-ms: expected a whole number from 0 to 600000"],
  [["--upstream", "http://127.0.0.1:8000", "--replicas", "2"], "--replicas 2 starts that many vLLM emulators; with --upstream your server is the one replica: drop --replicas or --upstream"],
  [["--upstream", "http://127.0.0.1:8000", "--replica-start-delay-ms", "100"], "--replica-start-delay-ms delays the built-in emulators and has no effect with --upstream"],
  [["--keys", "Alice"], '--keys: "Alice" is not a key name (lowercase letters, digits and dashes, at most 32, no dash first or last); write e.g. --keys alice,bob'],
  [["--keys", "alice,,bob"], '--keys: an empty name in "alice,,bob"; write names separated by single commas, e.g. --keys alice,bob'],
  [["--keys", "alice,alice"], "--keys: alice is listed twice; write each name once"],
  [["--keys", "a".repeat(33)], "is not a key name"],
  [["--keys", "alice", "--keys", "bob"], "--keys is given twice; keep one"],
  [["--limit", "alice"], '--limit: expected NAME:LIMIT=N (LIMIT: rpm, tpm, concurrency), got "alice"; write e.g. --limit alice:rpm=2'],
  [["--limit", "alice:"], "--limit: expected NAME:LIMIT=N"],
  [["--keys", "alice", "--limit", "alice:rps=2"], '--limit alice:rps=2: unknown limit "rps" (known: rpm, tpm, concurrency); write e.g. --limit alice:rpm=2'],
  [["--keys", "alice", "--limit", "alice:rpm"], '--limit alice:rpm: expected LIMIT=N after the name, got "rpm"; write e.g. --limit alice:rpm=2 or --limit alice:rpm=2,tpm=1000'],
  [["--keys", "alice", "--limit", "alice:rpm=0"], '--limit alice:rpm=0: rpm must be a whole number from 1 to 1000000000, got "0"; write e.g. --limit alice:rpm=2'],
  [["--keys", "alice", "--limit", "alice:tpm=1.5"], "tpm must be a whole number from 1 to 1000000000"],
  [["--keys", "alice", "--limit", "alice:rpm=1,rpm=2"], "--limit alice:rpm=1,rpm=2: rpm is given twice; keep one"],
  [["--keys", "alice", "--limit", "alice:rpm=1", "--limit", "alice:rpm=2"], "--limit: alice's rpm is set twice (1 and 2); keep one"],
  [["--keys", "alice", "--limit", "Alice:rpm=1"], '--limit Alice:rpm=1: "Alice" is not a key name'],
  [["--keys", "alice", "--limit", "bob:rpm=2"], "--limit bob:rpm=2: no key named bob (keys: alice); add it, e.g. --keys alice,bob"],
  [["--limit", "alice:rpm=2"], "--limit alice:rpm=2: no key named alice (keys: default); name the keys with --keys alice, or write --limit default:rpm=2"],
  [["--token-file", "t.txt", "--limit", "alice:rpm=2"], "--limit alice:rpm=2: limits apply to named keys, and --token-file alone generates none; add --keys alice"],
  [["--redirect=yes"], "--redirect takes no value; write just --redirect"],
  [["--verbose"], "unknown flag --verbose; see npm run local -- --help"],
  [["8080"], 'unexpected argument "8080": every option is a --flag'],
  [["--port", "1", "--port", "2"], "--port is given twice; keep one"],
])("%j is refused: %s", (argv, message) => {
  expect(usageError(argv)).toContain(message);
});

test("the proxy page's flag table and --help list the same flags", () => {
  const section = sectionOf("docs/proxy.md", "Trying it locally: npm run local");
  const tableFlags = [...section.matchAll(/^\| (?:`-h`, )?`(--[a-z-]+)/gm)].map((m) => m[1]).sort();
  const helpFlags = [...USAGE.matchAll(/^ {2}(?:-h, )?(--[a-z-]+)/gm)].map((m) => m[1]).sort();
  expect(tableFlags).toEqual(helpFlags);
  expect(helpFlags).toHaveLength(13);
});

describe("npm run local without --", () => {
  const npm = (extra: Record<string, string>) => ({ npm_lifecycle_event: "local", ...extra });

  test("npm run local --port 9000: npm kept --port and passed 9000; the hint gives the command with --", () => {
    let message = "";
    try {
      checkNpmTookFlags(["9000"], npm({ npm_config_port: "true" }));
    } catch (error) {
      expect(error).toBeInstanceOf(UsageError);
      message = (error as Error).message;
    }
    expect(message).toBe(
      "npm took --port for itself (npm passes flags on to a script only after --), so it never reached the script: write npm run local -- --port 9000",
    );
  });

  test.each([
    [["9000"], { npm_config_port: "true", npm_config_redirect: "true" }, "npm run local -- --port 9000 --redirect"],
    [[], { npm_config_port: "9000" }, "npm run local -- --port 9000"],
    [["http://127.0.0.1:8000", "9000"], { npm_config_upstream: "true", npm_config_port: "true" }, "npm run local -- --upstream <value> --port <value> http://127.0.0.1:8000 9000"],
    [["m"], { npm_config_token_file: "true" }, "npm run local -- --token-file m"],
    [["alice,bob"], { npm_config_keys: "true" }, "npm run local -- --keys alice,bob"],
    [[], { npm_config_limit: "alice:rpm=2" }, "npm run local -- --limit alice:rpm=2"],
  ])("%j with %j: write %s", (argv, env, command) => {
    expect(() => checkNpmTookFlags(argv, npm(env))).toThrow(`write ${command}`);
  });

  test("no hint outside npm run local, or when npm took none of its flags", () => {
    expect(() => checkNpmTookFlags(["9000"], { npm_config_port: "true" })).not.toThrow();
    expect(() => checkNpmTookFlags(["9000"], { npm_lifecycle_event: "test", npm_config_port: "true" })).not.toThrow();
    expect(() => checkNpmTookFlags([], npm({ npm_config_cache: "/tmp/npm" }))).not.toThrow();
  });
});
