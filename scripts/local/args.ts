/** Command-line flags of `npm run local`: parsed by hand so every error names the flag and a correct example. */
import net from "node:net";
import { flagsTakenByNpm, npmTookFlagsMessage } from "../npmFlags";

export const DEFAULT_PORT = 8080;
export const DEFAULT_REDIRECT_PORT = 8081;
export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_TOKEN_DELAY_MS = 20;

export interface LocalOptions {
  /** Root URL of an OpenAI-compatible server; absent: the built-in vLLM emulator. */
  readonly upstream?: URL;
  readonly tokenFile?: string;
  /** Absent: 8080, or a free port when 8080 is taken. */
  readonly port?: number;
  readonly redirect: boolean;
  /** Absent: 8081, or a free port when 8081 is taken. */
  readonly redirectPort?: number;
  readonly host: string;
  readonly model?: string;
  readonly tokenDelayMs: number;
}

export type Command = { readonly kind: "help" } | { readonly kind: "run"; readonly options: LocalOptions };

/** A bad command line: the message says what to write instead; exit code 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export const USAGE = `Usage: npm run local -- [flags]

Starts the vllm-auth proxy on this machine, in front of the built-in vLLM emulator (no GPU needed)
or of an OpenAI-compatible server you already run, and prints the commands to try it.

Flags:
  --upstream URL        root URL of your server, e.g. http://127.0.0.1:8000 (vLLM, llama.cpp)
                        or http://127.0.0.1:11434 (Ollama); default: start the vLLM emulator
  --token-file PATH     use the tokens in PATH (one per line, 16+ characters);
                        default: generate one into a temporary file removed on exit
  --port N              API port; default ${DEFAULT_PORT}, or a free port if ${DEFAULT_PORT} is taken; 0: any free port
  --redirect            also start the 308 redirect listener, as the cluster's port 80
  --redirect-port N     redirect listener port (implies --redirect); default ${DEFAULT_REDIRECT_PORT}, or a free port
  --host H              address to listen on; default ${DEFAULT_HOST} (0.0.0.0: every interface)
  --model NAME          model name: the emulator serves it; with --upstream it goes into the
                        printed commands (default: the first model the upstream lists)
  --token-delay-ms N    emulator only: milliseconds per generated token; default ${DEFAULT_TOKEN_DELAY_MS}
  -h, --help            show this help

Stop with Ctrl-C.`;

type FlagName = "upstream" | "token-file" | "port" | "redirect" | "redirect-port" | "host" | "model" | "token-delay-ms" | "help";

const VALUE_EXAMPLES: Readonly<Record<FlagName, string | undefined>> = {
  upstream: "--upstream http://127.0.0.1:8000",
  "token-file": "--token-file ./tokens.txt",
  port: "--port 8080",
  redirect: undefined,
  "redirect-port": "--redirect-port 8081",
  host: "--host 127.0.0.1",
  model: "--model meta-llama/Llama-2-7b-chat-hf",
  "token-delay-ms": "--token-delay-ms 20",
  help: undefined,
};

const isFlagName = (name: string): name is FlagName => Object.hasOwn(VALUE_EXAMPLES, name);

function wholeNumber(flag: FlagName, value: string, max: number): number {
  if (!/^\d+$/.test(value) || Number(value) > max) {
    throw new UsageError(`--${flag}: expected a whole number from 0 to ${max}, got ${JSON.stringify(value)}; write e.g. ${VALUE_EXAMPLES[flag]}`);
  }
  return Number(value);
}

function upstreamUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--upstream: ${JSON.stringify(value)} is not a URL; write e.g. ${VALUE_EXAMPLES.upstream}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`--upstream: expected an http:// or https:// URL, got ${JSON.stringify(value)}`);
  }
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    throw new UsageError(`--upstream: expected scheme, host, port and path only (no credentials, query or fragment), got ${JSON.stringify(value)}`);
  }
  // The proxy forwards /v1/... below this URL: an OpenAI base URL here would ask for /v1/v1/models.
  if (/\/v1\/?$/.test(url.pathname)) {
    const root = value.replace(/\/v1\/?$/, "");
    throw new UsageError(`--upstream takes the server's root URL, not its OpenAI base URL: write --upstream ${root}`);
  }
  return url;
}

function hostValue(value: string): string {
  const bare = value.startsWith("[") && value.endsWith("]") ? value.slice(1, -1) : value;
  if (net.isIP(bare) === 0 && !/^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(bare)) {
    throw new UsageError(`--host: expected an IP address or host name, got ${JSON.stringify(value)}; write e.g. ${VALUE_EXAMPLES.host}`);
  }
  return bare;
}

function modelValue(value: string): string {
  if (value.trim() === "" || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new UsageError(`--model: expected a model name, got ${JSON.stringify(value)}; write e.g. ${VALUE_EXAMPLES.model}`);
  }
  return value;
}

/** Splits `--flag value` / `--flag=value` into pairs, rejecting unknown, repeated and valueless flags. */
function readPairs(argv: readonly string[]): Map<FlagName, string | true> {
  const seen = new Map<FlagName, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h") {
      seen.set("help", true);
      continue;
    }
    if (!arg.startsWith("--")) {
      throw new UsageError(`unexpected argument ${JSON.stringify(arg)}: every option is a --flag; see npm run local -- --help`);
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (!isFlagName(name)) throw new UsageError(`unknown flag --${name}; see npm run local -- --help`);
    if (seen.has(name)) throw new UsageError(`--${name} is given twice; keep one`);
    const example = VALUE_EXAMPLES[name];
    if (example === undefined) {
      if (eq !== -1) throw new UsageError(`--${name} takes no value; write just --${name}`);
      seen.set(name, true);
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) value = argv[++i];
    if (value === undefined || value === "") throw new UsageError(`--${name} needs a value; write e.g. ${example}`);
    seen.set(name, value);
  }
  return seen;
}

/** `npm run local --port 9000` (no `--`): npm kept --port and passed only 9000; say to put `--` first. */
export function checkNpmTookFlags(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): void {
  const taken = flagsTakenByNpm("local", Object.keys(VALUE_EXAMPLES), env);
  if (taken.length > 0) {
    throw new UsageError(npmTookFlagsMessage("local", taken, argv, (flag) => isFlagName(flag) && VALUE_EXAMPLES[flag] !== undefined));
  }
}

/** Parses the arguments after `npm run local --`; throws UsageError on anything it cannot use. */
export function parseArgs(argv: readonly string[]): Command {
  const pairs = readPairs(argv);
  if (pairs.has("help")) return { kind: "help" };
  const text = (name: FlagName): string | undefined => {
    const value = pairs.get(name);
    return typeof value === "string" ? value : undefined;
  };
  const upstreamText = text("upstream");
  const portText = text("port");
  const redirectPortText = text("redirect-port");
  const delayText = text("token-delay-ms");
  const modelText = text("model");
  const upstream = upstreamText === undefined ? undefined : upstreamUrl(upstreamText);
  if (upstream !== undefined && delayText !== undefined) {
    throw new UsageError("--token-delay-ms sets the built-in emulator's speed and has no effect with --upstream; drop one of them");
  }
  const port = portText === undefined ? undefined : wholeNumber("port", portText, 65535);
  const redirectPort = redirectPortText === undefined ? undefined : wholeNumber("redirect-port", redirectPortText, 65535);
  if (port !== undefined && port !== 0 && port === redirectPort) {
    throw new UsageError(`--port and --redirect-port must differ (both are ${port}); write e.g. --port 8080 --redirect-port 8081`);
  }
  return {
    kind: "run",
    options: {
      upstream,
      tokenFile: text("token-file"),
      port,
      redirect: pairs.has("redirect") || redirectPort !== undefined,
      redirectPort,
      host: hostValue(text("host") ?? DEFAULT_HOST),
      model: modelText === undefined ? undefined : modelValue(modelText),
      tokenDelayMs: delayText === undefined ? DEFAULT_TOKEN_DELAY_MS : wholeNumber("token-delay-ms", delayText, 60_000),
    },
  };
}
