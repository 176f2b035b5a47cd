/** What `npm run local` prints: the two tiers, the keys, and the seed's commands ready to paste. */
import { LIMIT_NAMES, type KeyLimits } from "../../proxy/src/keys/format";

/** One replica as printed: the sidecar's address and the model server behind it. */
export interface BannerReplica {
  /** 1-based, as the log names it (`replica 2`). */
  readonly index: number;
  /** host:port of the sidecar's API listener. */
  readonly sidecar: string;
  readonly sidecarMetricsUrl: string;
  readonly upstream: string;
}

/** A generated key: its name, the key, its limits. */
export interface BannerKey {
  readonly name: string;
  readonly key: string;
  readonly limits?: KeyLimits;
}

/** --token-file: the user's plaintext tokens, the first of which is printed when no key is generated. */
export interface BannerTokens {
  readonly token: string;
  readonly file: string;
  readonly count: number;
}

export interface BannerInput {
  /** What each replica's sidecar is in front of, e.g. "its own vLLM emulator (...)" or "your server at URL". */
  readonly servers: string;
  readonly model: string;
  /** host:port of the gateway's API listener, no scheme (like `sky serve status --endpoint`). */
  readonly endpoint: string;
  /** host:port of the 308 listener, when --redirect is on. */
  readonly redirectEndpoint?: string;
  readonly metricsUrl: string;
  readonly replicas: readonly BannerReplica[];
  /** Generated keys in the order of --keys; the first is used in the seed's commands. */
  readonly keys: readonly BannerKey[];
  /** The gateway's keys file (names and digests), when keys were generated. */
  readonly keysFile?: string;
  readonly tokens?: BannerTokens;
  /** --replica-start-delay-ms: the emulators turn ready this long after start. */
  readonly startDelayMs: number;
  /** The gateway's COLD_START_TIMEOUT_MS: longest a request is held. */
  readonly holdTimeoutMs: number;
  /** Listening on every interface: say that other machines can reach it. */
  readonly allInterfaces: boolean;
  readonly notes: readonly string[];
}

/** Single-quotes for the shell; a quote inside becomes '\''. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The seed's double quotes when the token cannot be expanded by the shell, single quotes otherwise. */
function authorizationArg(token: string): string {
  const header = `Authorization: Bearer ${token}`;
  return /^[A-Za-z0-9._~+\/=-]+$/.test(token) ? `"${header}"` : shellQuote(header);
}

/** The seed's request body, with the model name substituted. */
export function chatJson(model: string): string {
  return `{"model": ${JSON.stringify(model)}, "messages": [{"role": "user", "content": "Who are you?"}]}`;
}

/** One curl command in the seed's layout: first line, then continuations indented by `indent`, ending in `\`. */
function command(first: string, rest: readonly string[], indent = "    "): string {
  return [first, ...rest.map((line) => `${indent}${line}`)].join(" \\\n");
}

const postArgs = (model: string): string[] => ["-X POST", "-H 'Content-Type: application/json'", `-d ${shellQuote(chatJson(model))}`];

export interface SeedCommands {
  readonly models: string;
  readonly withoutToken: string;
  readonly withToken: string;
  /** Through the redirect: `-L` with the token, which curl drops at the 308. */
  readonly followWithToken?: string;
}

export function seedCommands(endpoint: string, token: string, model: string, redirect: boolean): SeedCommands {
  const chat = `http://${endpoint}/v1/chat/completions`;
  const auth = `-H ${authorizationArg(token)}`;
  return {
    models: `curl -L http://${endpoint}/v1/models`,
    withoutToken: command(`curl -L ${chat}`, postArgs(model)),
    withToken: command(`curl --location-trusted ${chat}`, [auth, ...postArgs(model)]),
    followWithToken: redirect ? command(`curl -L ${chat}`, [auth, ...postArgs(model)]) : undefined,
  };
}

/** "rpm 2, concurrency 1": a key's limits as the keys table and the comments name them. */
export function limitsText(limits: KeyLimits | undefined): string {
  if (limits === undefined) return "";
  return LIMIT_NAMES.filter((name) => limits[name] !== undefined)
    .map((name) => `${name} ${limits[name]}`)
    .join(", ");
}

/** Status lines, the rate-limit headers and an error body: what shows a limit at work in `curl -i` output. */
const RATE_LIMIT_LINES = `grep -iE '^(HTTP/|retry-after|x-ratelimit-|\\{"error)'`;

/** Longest loop printed for tpm, whose count is not known in advance (tpm charges what each answer used). */
export const TPM_DEMO_MAX_REQUESTS = 100;

/** Which limit a key's printed demonstration runs into, and how many requests it sends. */
export function limitDemo(limits: KeyLimits | undefined): { readonly limit: "rpm" | "tpm" | "concurrency"; readonly requests: number } | undefined {
  if (limits === undefined) return undefined;
  if (limits.rpm !== undefined) return { limit: "rpm", requests: limits.rpm + 1 };
  if (limits.concurrency !== undefined) return { limit: "concurrency", requests: limits.concurrency + 1 };
  if (limits.tpm !== undefined) return { limit: "tpm", requests: Math.min(limits.tpm + 1, TPM_DEMO_MAX_REQUESTS) };
  return undefined;
}

/**
 * Commands that run a limited key into its 429, straight at the API port (a 308 in between would
 * add its own status line). rpm: one request more than the limit, one after the other; concurrency:
 * one more than the limit at once; tpm: one after the other until the first 429.
 */
export function limitCommand(endpoint: string, key: BannerKey, model: string): string | undefined {
  const demo = limitDemo(key.limits);
  if (demo === undefined) return undefined;
  const chat = `http://${endpoint}/v1/chat/completions`;
  const auth = `-H ${authorizationArg(key.key)}`;
  if (demo.limit === "concurrency") {
    const curl = command(`  curl -s -i ${chat}`, [auth, ...postArgs(model)], "      ");
    return [`( for i in $(seq 1 ${demo.requests}); do`, `${curl} | ${RATE_LIMIT_LINES} &`, "done; wait )"].join("\n");
  }
  const curl = command(`  answer=$(curl -s -i ${chat}`, [auth, ...postArgs(model)], "      ");
  return [`for i in $(seq 1 ${demo.requests}); do`, `${curl})`, `  echo "$answer" | ${RATE_LIMIT_LINES}`, '  case $answer in "HTTP/1.1 429"*) break ;; esac', "done"].join("\n");
}

function limitComment(key: BannerKey): string[] {
  const demo = limitDemo(key.limits);
  const has = `# ${key.name} has ${limitsText(key.limits)}`;
  const shown = "its status, retry-after and x-ratelimit-* headers, and the 429's error";
  if (demo?.limit === "concurrency") {
    return [`${has}: ${demo.requests} requests at once; the one over the limit gets 429 at once, with`, `# ${shown} (the others take as long as a generation).`];
  }
  const count = demo?.limit === "rpm" ? `${demo.requests} requests one after the other` : `requests one after the other until the first 429 (at most ${demo?.requests ?? 0})`;
  return [`${has}: ${count}; for each answer,`, `# ${shown}.`];
}

function header(input: BannerInput): string {
  const n = input.replicas.length;
  const replicas = n === 1 ? "1 replica, a sidecar" : `${n} replicas, each a sidecar`;
  return `vllm-auth local: a gateway in front of ${replicas} in front of ${input.servers}`;
}

/** Two-space indented `name   value` lines, names padded to one column. */
function table(rows: ReadonlyArray<readonly [string, string]>): string[] {
  const width = Math.max(...rows.map(([name]) => name.length), 9);
  return rows.map(([name, value]) => `  ${name.padEnd(width)}  ${value}`);
}

function credentialRows(input: BannerInput): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  if (input.keysFile !== undefined) {
    rows.push(["keys", `${input.keysFile}   (names and SHA-256 digests, never the keys; removed on exit; the gateway reloads it)`]);
  }
  const nameWidth = Math.max(0, ...input.keys.map((k) => k.name.length));
  for (const key of input.keys) {
    const limits = limitsText(key.limits);
    rows.push(["key", `${key.name.padEnd(nameWidth)}  ${key.key}${limits === "" ? "" : `   (${limits})`}`]);
  }
  if (input.tokens !== undefined) {
    rows.push(["tokens", `${input.tokens.file}   (${input.tokens.count} token(s), accepted by the gateway (TOKENS_FILE); it reloads the file when it changes)`]);
    if (input.keys.length === 0) rows.push(["token", input.tokens.token]);
  }
  return rows;
}

export function renderBanner(input: BannerInput): string {
  const first = input.keys[0];
  const credential = first?.key ?? input.tokens?.token;
  if (credential === undefined) throw new Error("renderBanner: no key and no token to print");
  const entry = input.redirectEndpoint ?? input.endpoint;
  const commands = seedCommands(entry, credential, input.model, input.redirectEndpoint !== undefined);
  const rows: Array<[string, string]> = [
    [
      "endpoint",
      `${input.endpoint}   (the gateway${input.allInterfaces ? ", listening on every interface" : ""}: checks keys, applies limits, sends each request to the least busy replica)`,
    ],
    ...(input.redirectEndpoint === undefined ? [] : [["redirect", `${input.redirectEndpoint}   (308 to http://${input.endpoint}, like the cluster's port 80)`] as [string, string]]),
    ["model", input.model],
    ["metrics", `${input.metricsUrl}   (the gateway's: per-key usage, held requests, replicas)`],
    ...input.replicas.map(
      (r): [string, string] => [`replica ${r.index}`, `sidecar ${r.sidecar} -> ${r.upstream}   (sidecar metrics ${r.sidecarMetricsUrl})`],
    ),
    ...credentialRows(input),
    ...input.notes.map((note): [string, string] => ["note", note]),
  ];
  const lines = ["", header(input), "", ...table(rows), ""];
  if (input.startDelayMs > 0) {
    lines.push(
      `The emulators turn ready ${input.startDelayMs} ms after start, like vLLM pods loading the model: until then the`,
      `gateway holds requests (up to ${Math.round(input.holdTimeoutMs / 1000)} s, then 503 with Retry-After) and serves them the moment a replica is`,
      "ready. Paste the chat command now to see it held; the log says replica_ready when it is served.",
      "",
    );
  }
  const whose = first === undefined ? "" : ` with the key ${first.name}`;
  lines.push(
    input.redirectEndpoint === undefined
      ? `The seed's three commands, ready to paste${whose}:`
      : `The seed's three commands, ready to paste${whose}, through the redirect listener ${input.redirectEndpoint}:`,
    "",
    "# Public: the model list needs no token.",
    commands.models,
    "",
    '# Protected: without a token the answer is 401 "Invalid authentication credentials".',
    commands.withoutToken,
    "",
    "# With the token: a chat completion.",
    commands.withToken,
    "",
  );
  if (commands.followWithToken !== undefined) {
    lines.push(
      "# The 308 answers every request with the same path at the API port; -L follows it but curl sends",
      "# Authorization only to the host and port it was given, so even with the token this gets",
      '# "Invalid authentication credentials". --location-trusted (above) resends the token after the redirect.',
      commands.followWithToken,
      "",
    );
  }
  for (const key of input.keys.slice(1)) {
    lines.push(`# The same chat completion with ${key.name}'s key.`, seedCommands(entry, key.key, input.model, false).withToken, "");
  }
  for (const key of input.keys) {
    const demo = limitCommand(input.endpoint, key, input.model);
    if (demo !== undefined) lines.push(...limitComment(key), demo, "");
  }
  // --token-file's tokens are metered too, named token-1, token-2, ... by their place in the file.
  lines.push("# Usage per key (requests by route and status, prompt and completion tokens), from the gateway's metrics.", `curl -s ${input.metricsUrl} | grep '^vllm_auth_key_'`, "");
  const apiKey = /^[A-Za-z0-9._~+\/=-]+$/.test(credential) ? credential : shellQuote(credential);
  lines.push(
    "OpenAI SDKs and tools (straight to the API port):",
    "",
    `export OPENAI_BASE_URL=http://${input.endpoint}/v1`,
    `export OPENAI_API_KEY=${apiKey}`,
    "",
    "Press Ctrl-C to stop.",
    "",
  );
  return lines.join("\n");
}
