/** What `npm run local` prints: where the endpoint is, the token, and the seed's commands ready to paste. */

export interface BannerInput {
  readonly upstream: string;
  readonly model: string;
  /** host:port of the API listener, no scheme (like `sky serve status --endpoint`). */
  readonly endpoint: string;
  /** host:port of the 308 listener, when --redirect is on. */
  readonly redirectEndpoint?: string;
  readonly metricsUrl: string;
  readonly token: string;
  readonly tokenFile: string;
  readonly tokenCount: number;
  readonly temporaryTokenFile: boolean;
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

/** One curl command in the seed's layout: first line, then four-space continuations ending in `\`. */
function command(first: string, rest: readonly string[]): string {
  return [first, ...rest.map((line) => `    ${line}`)].join(" \\\n");
}

export interface SeedCommands {
  readonly models: string;
  readonly withoutToken: string;
  readonly withToken: string;
  /** Through the redirect: `-L` with the token, which curl drops at the 308. */
  readonly followWithToken?: string;
}

export function seedCommands(endpoint: string, token: string, model: string, redirect: boolean): SeedCommands {
  const chat = `http://${endpoint}/v1/chat/completions`;
  const post = ["-X POST", "-H 'Content-Type: application/json'", `-d ${shellQuote(chatJson(model))}`];
  const auth = `-H ${authorizationArg(token)}`;
  return {
    models: `curl -L http://${endpoint}/v1/models`,
    withoutToken: command(`curl -L ${chat}`, post),
    withToken: command(`curl --location-trusted ${chat}`, [auth, ...post]),
    followWithToken: redirect ? command(`curl -L ${chat}`, [auth, ...post]) : undefined,
  };
}

export function renderBanner(input: BannerInput): string {
  const entry = input.redirectEndpoint ?? input.endpoint;
  const commands = seedCommands(entry, input.token, input.model, input.redirectEndpoint !== undefined);
  const fileNote = input.temporaryTokenFile
    ? "generated; removed on exit. Add a line to add a token: the proxy reloads the file"
    : `${input.tokenCount} token(s); the first is shown. The proxy reloads the file when it changes`;
  const lines = [
    "",
    `vllm-auth local: the auth proxy in front of ${input.upstream}`,
    "",
    `  endpoint   ${input.endpoint}${input.allInterfaces ? "   (listening on every interface)" : ""}`,
    ...(input.redirectEndpoint === undefined ? [] : [`  redirect   ${input.redirectEndpoint}   (308 to http://${input.endpoint}, like the cluster's port 80)`]),
    `  token      ${input.token}`,
    `  tokens     ${input.tokenFile}   (${fileNote})`,
    `  model      ${input.model}`,
    `  metrics    ${input.metricsUrl}`,
    ...input.notes.map((note) => `  note       ${note}`),
    "",
    input.redirectEndpoint === undefined
      ? "The seed's three commands, ready to paste:"
      : `The seed's three commands, ready to paste, through the redirect listener ${input.redirectEndpoint}:`,
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
  ];
  if (commands.followWithToken !== undefined) {
    lines.push(
      "# The 308 answers every request with the same path at the API port; -L follows it but curl sends",
      "# Authorization only to the host and port it was given, so even with the token this gets",
      '# "Invalid authentication credentials". --location-trusted (above) resends the token after the redirect.',
      commands.followWithToken,
      "",
    );
  }
  const apiKey = /^[A-Za-z0-9._~+\/=-]+$/.test(input.token) ? input.token : shellQuote(input.token);
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
