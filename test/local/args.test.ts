/** `npm run local` flags: what each one sets, and the message and exit code for each kind of mistake. */
import { checkNpmTookFlags, DEFAULT_HOST, DEFAULT_TOKEN_DELAY_MS, parseArgs, USAGE, UsageError, type LocalOptions } from "../../scripts/local/args";
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
  expect(helpFlags).toHaveLength(9);
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
  ])("%j with %j: write %s", (argv, env, command) => {
    expect(() => checkNpmTookFlags(argv, npm(env))).toThrow(`write ${command}`);
  });

  test("no hint outside npm run local, or when npm took none of its flags", () => {
    expect(() => checkNpmTookFlags(["9000"], { npm_config_port: "true" })).not.toThrow();
    expect(() => checkNpmTookFlags(["9000"], { npm_lifecycle_event: "test", npm_config_port: "true" })).not.toThrow();
    expect(() => checkNpmTookFlags([], npm({ npm_config_cache: "/tmp/npm" }))).not.toThrow();
  });
});
