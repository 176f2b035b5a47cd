/** Command-line flags of `npm run local`: parsed by hand so every error names the flag and a correct example. */
import net from "node:net";
import { KEY_NAME_PATTERN, LIMIT_NAMES, type KeyLimits } from "../../proxy/src/keys/format";
import { flagsTakenByNpm, npmTookFlagsMessage } from "../npmFlags";

export const DEFAULT_PORT = 8080;
export const DEFAULT_REDIRECT_PORT = 8081;
export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_TOKEN_DELAY_MS = 20;
export const DEFAULT_KEY_NAME = "default";
/** Each replica is a sidecar and an emulator in this process: past a few, a laptop only gets slower. */
export const MAX_REPLICAS = 16;
/** Ten minutes, the cluster's default cold start bound: longer shows nothing more. */
export const MAX_REPLICA_START_DELAY_MS = 600_000;

/** A named key to generate, with the limits `--limit` gave it. */
export interface LocalKeySpec {
  readonly name: string;
  readonly limits?: KeyLimits;
}

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
  /** Sidecars, each in front of its own emulator; 1 with --upstream. */
  readonly replicas: number;
  /** Emulators only: how long they answer /health with 503 before turning ready. */
  readonly replicaStartDelayMs: number;
  /** Named keys to generate, in the order given; empty with --token-file alone. */
  readonly keys: readonly LocalKeySpec[];
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

Runs the cluster's two tiers on this machine and prints the commands to try them: a gateway
(checks client keys, applies per-key limits, meters usage, sends each request to the least busy
ready replica, holds requests while none is ready) in front of replicas, each a sidecar (accepts
only the gateway's internal credential) in front of its own vLLM emulator (no GPU needed), or in
front of an OpenAI-compatible server you already run.

Flags:
  --replicas N          replicas, each a sidecar in front of its own emulator; default 1 (at most ${MAX_REPLICAS})
  --replica-start-delay-ms N
                        the emulators turn ready N ms after start (as vLLM loading a model): the
                        gateway holds requests until then, then serves them; default 0
  --keys NAMES          one generated key per name, comma-separated, e.g. alice,bob (lowercase
                        letters, digits, dashes); the first is used in the printed commands;
                        default: one key named ${DEFAULT_KEY_NAME}
  --limit NAME:LIMIT=N  a per-key limit, LIMIT = rpm, tpm or concurrency, e.g. alice:rpm=2 or
                        alice:rpm=2,tpm=1000; repeatable; the printed commands show its 429
  --upstream URL        root URL of your server, e.g. http://127.0.0.1:8000 (vLLM, llama.cpp)
                        or http://127.0.0.1:11434 (Ollama); it becomes the one replica: the
                        gateway in front of one sidecar in front of your server, as on the
                        cluster (keys, limits and holding work as there); default: emulators
  --token-file PATH     also accept the plaintext tokens in PATH (one per line, 16+ characters)
                        at the gateway (TOKENS_FILE); without --keys, no key is generated and
                        the first token is used in the printed commands
  --port N              API port; default ${DEFAULT_PORT}, or a free port if ${DEFAULT_PORT} is taken; 0: any free port
  --redirect            also start the 308 redirect listener, as the cluster's port 80
  --redirect-port N     redirect listener port (implies --redirect); default ${DEFAULT_REDIRECT_PORT}, or a free port
  --host H              the gateway's address; default ${DEFAULT_HOST} (0.0.0.0: every interface);
                        sidecars and emulators stay on 127.0.0.1, reachable only through it
  --model NAME          model name: the emulators serve it; with --upstream it goes into the
                        printed commands (default: the first model the upstream lists)
  --token-delay-ms N    emulators only: milliseconds per generated token; default ${DEFAULT_TOKEN_DELAY_MS}
  -h, --help            show this help

Stop with Ctrl-C: everything stops and the temporary files (keys, internal credential) are removed.`;

type FlagName =
  | "replicas"
  | "replica-start-delay-ms"
  | "keys"
  | "limit"
  | "upstream"
  | "token-file"
  | "port"
  | "redirect"
  | "redirect-port"
  | "host"
  | "model"
  | "token-delay-ms"
  | "help";

const VALUE_EXAMPLES: Readonly<Record<FlagName, string | undefined>> = {
  replicas: "--replicas 3",
  "replica-start-delay-ms": "--replica-start-delay-ms 5000",
  keys: "--keys alice,bob",
  limit: "--limit alice:rpm=2",
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

/** Flags that may be given more than once; each occurrence adds to the others. */
const REPEATABLE: ReadonlySet<FlagName> = new Set<FlagName>(["limit"]);

const isFlagName = (name: string): name is FlagName => Object.hasOwn(VALUE_EXAMPLES, name);

function wholeNumber(flag: FlagName, value: string, max: number, min = 0): number {
  if (!/^\d+$/.test(value) || Number(value) > max || Number(value) < min) {
    throw new UsageError(`--${flag}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(value)}; write e.g. ${VALUE_EXAMPLES[flag]}`);
  }
  return Number(value);
}

/** `--keys alice,bob`: names the proxy's keys file accepts, each once, in the order given. */
function keyNames(value: string): string[] {
  const names = value.split(",").map((name) => name.trim());
  const seen = new Set<string>();
  for (const name of names) {
    if (name === "") throw new UsageError(`--keys: an empty name in ${JSON.stringify(value)}; write names separated by single commas, e.g. ${VALUE_EXAMPLES.keys}`);
    if (!KEY_NAME_PATTERN.test(name)) {
      throw new UsageError(
        `--keys: ${JSON.stringify(name)} is not a key name (lowercase letters, digits and dashes, at most 32, no dash first or last); write e.g. ${VALUE_EXAMPLES.keys}`,
      );
    }
    if (seen.has(name)) throw new UsageError(`--keys: ${name} is listed twice; write each name once, e.g. ${VALUE_EXAMPLES.keys}`);
    seen.add(name);
  }
  return names;
}

type LimitName = (typeof LIMIT_NAMES)[number];
const isLimitName = (name: string): name is LimitName => (LIMIT_NAMES as readonly string[]).includes(name);

/** One `--limit NAME:LIMIT=N[,LIMIT=N]`: the key's name and the limits it sets. */
function limitValue(value: string): { name: string; limits: Partial<Record<LimitName, number>> } {
  const example = VALUE_EXAMPLES.limit;
  const colon = value.indexOf(":");
  if (colon <= 0 || colon === value.length - 1) {
    throw new UsageError(`--limit: expected NAME:LIMIT=N (LIMIT: ${LIMIT_NAMES.join(", ")}), got ${JSON.stringify(value)}; write e.g. ${example}`);
  }
  const name = value.slice(0, colon);
  if (!KEY_NAME_PATTERN.test(name)) {
    throw new UsageError(`--limit ${value}: ${JSON.stringify(name)} is not a key name (lowercase letters, digits and dashes); write e.g. ${example}`);
  }
  const limits: Partial<Record<LimitName, number>> = {};
  for (const part of value.slice(colon + 1).split(",")) {
    const match = /^([a-z]+)=(.*)$/.exec(part.trim());
    if (match === null) {
      throw new UsageError(`--limit ${value}: expected LIMIT=N after the name, got ${JSON.stringify(part)}; write e.g. ${example} or --limit ${name}:rpm=2,tpm=1000`);
    }
    const [, limit, amount] = match;
    if (!isLimitName(limit)) throw new UsageError(`--limit ${value}: unknown limit ${JSON.stringify(limit)} (known: ${LIMIT_NAMES.join(", ")}); write e.g. --limit ${name}:rpm=2`);
    if (!/^\d+$/.test(amount) || Number(amount) < 1 || Number(amount) > 1_000_000_000) {
      throw new UsageError(`--limit ${value}: ${limit} must be a whole number from 1 to 1000000000, got ${JSON.stringify(amount)}; write e.g. --limit ${name}:${limit}=2`);
    }
    if (limits[limit] !== undefined) throw new UsageError(`--limit ${value}: ${limit} is given twice; keep one`);
    limits[limit] = Number(amount);
  }
  return { name, limits };
}

/** The keys to generate: --keys, or `default` unless --token-file stands alone; with the --limit values merged in. */
function keySpecs(keysText: string | undefined, limitTexts: readonly string[], tokenFile: string | undefined): LocalKeySpec[] {
  const names = keysText !== undefined ? keyNames(keysText) : tokenFile !== undefined ? [] : [DEFAULT_KEY_NAME];
  const limits = new Map<string, Partial<Record<LimitName, number>>>();
  for (const text of limitTexts) {
    const { name, limits: set } = limitValue(text);
    if (!names.includes(name)) {
      if (names.length === 0) {
        throw new UsageError(`--limit ${text}: limits apply to named keys, and --token-file alone generates none; add --keys ${name}`);
      }
      const fix = keysText === undefined ? `name the keys with --keys ${name}, or write --limit ${DEFAULT_KEY_NAME}:${text.slice(text.indexOf(":") + 1)}` : `add it, e.g. --keys ${[...names, name].join(",")}`;
      throw new UsageError(`--limit ${text}: no key named ${name} (keys: ${names.join(", ")}); ${fix}`);
    }
    const merged = { ...limits.get(name) };
    for (const limit of LIMIT_NAMES) {
      const amount = set[limit];
      if (amount === undefined) continue;
      if (merged[limit] !== undefined) throw new UsageError(`--limit: ${name}'s ${limit} is set twice (${merged[limit]} and ${amount}); keep one`);
      merged[limit] = amount;
    }
    limits.set(name, merged);
  }
  return names.map((name) => {
    const set = limits.get(name);
    return set === undefined ? { name } : { name, limits: Object.freeze(set) };
  });
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
  // The gateway's MODEL_ID takes no spaces, quotes or backslashes; no served model name has them.
  if (value.trim() === "" || /[\s"\\\u0000-\u001f\u007f]/.test(value)) {
    throw new UsageError(`--model: expected a model name without spaces or quotes, got ${JSON.stringify(value)}; write e.g. ${VALUE_EXAMPLES.model}`);
  }
  return value;
}

/** Splits `--flag value` / `--flag=value` into pairs, rejecting unknown, repeated (unless repeatable) and valueless flags. */
function readPairs(argv: readonly string[]): Map<FlagName, Array<string | true>> {
  const seen = new Map<FlagName, Array<string | true>>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h") {
      seen.set("help", [true]);
      continue;
    }
    if (!arg.startsWith("--")) {
      throw new UsageError(`unexpected argument ${JSON.stringify(arg)}: every option is a --flag; see npm run local -- --help`);
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (!isFlagName(name)) throw new UsageError(`unknown flag --${name}; see npm run local -- --help`);
    if (seen.has(name) && !REPEATABLE.has(name)) throw new UsageError(`--${name} is given twice; keep one`);
    const example = VALUE_EXAMPLES[name];
    if (example === undefined) {
      if (eq !== -1) throw new UsageError(`--${name} takes no value; write just --${name}`);
      seen.set(name, [true]);
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) value = argv[++i];
    if (value === undefined || value === "") throw new UsageError(`--${name} needs a value; write e.g. ${example}`);
    seen.set(name, [...(seen.get(name) ?? []), value]);
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
  const texts = (name: FlagName): string[] => (pairs.get(name) ?? []).filter((value): value is string => typeof value === "string");
  const text = (name: FlagName): string | undefined => texts(name)[0];
  const upstreamText = text("upstream");
  const portText = text("port");
  const redirectPortText = text("redirect-port");
  const delayText = text("token-delay-ms");
  const modelText = text("model");
  const upstream = upstreamText === undefined ? undefined : upstreamUrl(upstreamText);
  if (upstream !== undefined && delayText !== undefined) {
    throw new UsageError("--token-delay-ms sets the built-in emulator's speed and has no effect with --upstream; drop one of them");
  }
  const replicasText = text("replicas");
  const startDelayText = text("replica-start-delay-ms");
  const replicas = replicasText === undefined ? 1 : wholeNumber("replicas", replicasText, MAX_REPLICAS, 1);
  if (upstream !== undefined && replicas !== 1) {
    throw new UsageError(`--replicas ${replicas} starts that many vLLM emulators; with --upstream your server is the one replica: drop --replicas or --upstream`);
  }
  if (upstream !== undefined && startDelayText !== undefined) {
    throw new UsageError("--replica-start-delay-ms delays the built-in emulators and has no effect with --upstream (your server turns ready when it does); drop one of them");
  }
  const tokenFile = text("token-file");
  const port = portText === undefined ? undefined : wholeNumber("port", portText, 65535);
  const redirectPort = redirectPortText === undefined ? undefined : wholeNumber("redirect-port", redirectPortText, 65535);
  if (port !== undefined && port !== 0 && port === redirectPort) {
    throw new UsageError(`--port and --redirect-port must differ (both are ${port}); write e.g. --port 8080 --redirect-port 8081`);
  }
  return {
    kind: "run",
    options: {
      upstream,
      tokenFile,
      port,
      redirect: pairs.has("redirect") || redirectPort !== undefined,
      redirectPort,
      host: hostValue(text("host") ?? DEFAULT_HOST),
      model: modelText === undefined ? undefined : modelValue(modelText),
      tokenDelayMs: delayText === undefined ? DEFAULT_TOKEN_DELAY_MS : wholeNumber("token-delay-ms", delayText, 60_000),
      replicas,
      replicaStartDelayMs: startDelayText === undefined ? 0 : wholeNumber("replica-start-delay-ms", startDelayText, MAX_REPLICA_START_DELAY_MS),
      keys: keySpecs(text("keys"), texts("limit"), tokenFile),
    },
  };
}
