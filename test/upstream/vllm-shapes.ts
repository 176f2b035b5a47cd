/**
 * Request validation and response bodies shaped like vLLM's OpenAI-compatible server.
 * Pure functions: the HTTP side lives in emulator.ts.
 *
 * Streamed chunks and their usage follow vLLM v0.29.0: vllm/entrypoints/openai/chat_completion/serving.py
 * (`chat_completion_stream_generator`), completion/serving.py (`completion_stream_generator`), the
 * chunk classes in chat_completion/protocol.py and completion/protocol.py, and `should_include_usage`
 * in vllm/entrypoints/serve/utils/api_utils.py; checked against streams captured from a v0.29.0 server.
 * Members appear in pydantic class order and only when set (`model_dump_json(exclude_unset=True)`).
 * Where the emulator departs from vLLM: it ends every choice with an empty-content chunk carrying
 * `finish_reason` that is not counted as a token (vLLM counts the EOS token of a "stop" and puts a
 * "length" finish on the last token's chunk), and non-streamed choices leave out vLLM's null extras
 * (`refusal`, `stop_reason`, `token_ids`, ...).
 */
import { createHash, randomBytes } from "node:crypto";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export type GenerationKind = "chat" | "completion";

/** What the emulator needs to know about a valid generation request. */
export interface GenerationRequest {
  kind: GenerationKind;
  model: string;
  stream: boolean;
  /** `stream_options.include_usage`: a final chunk with `"choices":[]` and the usage. */
  includeUsage: boolean;
  /** `stream_options.continuous_usage_stats` (with include_usage): usage on every chunk. */
  continuousUsage: boolean;
  maxTokens?: number;
  promptTokens: number;
}

export interface EmbeddingRequest {
  model: string;
  inputs: string[];
  promptTokens: number;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; status: number; message: string };

/** A generation decided up front, so stream and non-stream answers carry the same text. */
export interface GenerationPlan {
  request: GenerationRequest;
  id: string;
  created: number;
  tokens: string[];
  finishReason: "stop" | "length";
  /** vLLM's `system_fingerprint` (`--fingerprint-mode full` by default); null when it sends none. */
  fingerprint: string | null;
}

/** One SSE event and the completion tokens written once it is out. */
export interface StreamEvent {
  readonly text: string;
  readonly tokens: number;
}

const REPLY = "Hello! I'm LLaMA, an AI assistant developed by Meta AI. How can I help you today?";
const REPLY_WORDS = REPLY.split(" ");

const ERROR_TYPES: Record<number, string> = {
  400: "BadRequestError",
  404: "NotFoundError",
  503: "ServiceUnavailableError",
};

/** vLLM's (pre-0.9) error body; FastAPI routes that do not exist use `{"detail": ...}` instead. */
export function errorBody(status: number, message: string): JsonObject {
  return { object: "error", message, type: ERROR_TYPES[status] ?? "InternalServerError", param: null, code: status };
}

export function unixSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function hex32(): string {
  return randomBytes(16).toString("hex");
}

export function modelsBody(model: string, created: number): JsonObject {
  const permission: JsonObject = {
    id: `modelperm-${hex32()}`,
    object: "model_permission",
    created,
    allow_create_engine: false,
    allow_sampling: true,
    allow_logprobs: true,
    allow_search_indices: false,
    allow_view: true,
    allow_fine_tuning: false,
    organization: "*",
    group: null,
    is_blocking: false,
  };
  const card: JsonObject = {
    id: model,
    object: "model",
    created,
    owned_by: "vllm",
    root: model,
    parent: null,
    max_model_len: 4096,
    permission: [permission],
  };
  return { object: "list", data: [card] };
}

/** Returns the JSON object in `body`, or undefined when it is not valid JSON or not an object. */
export function parseJsonObject(body: Buffer): JsonObject | undefined {
  try {
    const value: unknown = JSON.parse(body.toString("utf8"));
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function countWords(text: string): number {
  return text.split(/\s+/).filter((w) => w.length > 0).length;
}

/** Rough prompt size: words of text, one token per token id. */
function countPromptTokens(value: Json): number {
  if (typeof value === "string") return countWords(value);
  if (typeof value === "number") return 1;
  if (Array.isArray(value)) return value.reduce<number>((sum, item) => sum + countPromptTokens(item), 0);
  if (isObject(value)) return countPromptTokens(value.text ?? value.content ?? null);
  return 0;
}

/** Chat templates add a few tokens per message; mimic that so usage looks plausible. */
function chatPromptTokens(messages: Json[]): number {
  return messages.reduce<number>((sum, m) => sum + 4 + countPromptTokens(isObject(m) ? (m.content ?? null) : m), 0);
}

function fail<T>(status: number, message: string): Parsed<T> {
  return { ok: false, status, message };
}

function modelError<T>(body: JsonObject, served: string): Parsed<T> | undefined {
  if (typeof body.model !== "string") return fail(400, "Field required: model");
  if (body.model !== served) return fail(404, `The model \`${body.model}\` does not exist.`);
  return undefined;
}

/** Smallest of max_tokens / max_completion_tokens (openai v6 sends the latter for chat). */
function parseMaxTokens(body: JsonObject): Parsed<number | undefined> {
  let max: number | undefined;
  for (const key of ["max_tokens", "max_completion_tokens"]) {
    const value = body[key];
    if (value === undefined || value === null) continue;
    if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
      return fail(400, `${key} must be at least 1, got ${JSON.stringify(value)}.`);
    }
    max = max === undefined ? value : Math.min(max, value);
  }
  return { ok: true, value: max };
}

export function parseGenerationRequest(kind: GenerationKind, raw: Buffer, served: string): Parsed<GenerationRequest> {
  const body = parseJsonObject(raw);
  if (!body) return fail(400, "Invalid JSON in request body.");
  const badModel = modelError<GenerationRequest>(body, served);
  if (badModel) return badModel;
  const promptTokens = kind === "chat" ? parseChatPrompt(body) : parseCompletionPrompt(body);
  if (!promptTokens.ok) return promptTokens;
  const maxTokens = parseMaxTokens(body);
  if (!maxTokens.ok) return maxTokens;
  const streamOptions = parseStreamOptions(body);
  if (!streamOptions.ok) return streamOptions;
  return {
    ok: true,
    value: {
      kind,
      model: served,
      stream: body.stream === true,
      ...streamOptions.value,
      maxTokens: maxTokens.value,
      promptTokens: Math.max(1, promptTokens.value),
    },
  };
}

/**
 * vLLM's reading of `stream_options` (StreamOptions in vllm/entrypoints/openai/engine/protocol.py:
 * include_usage defaults to true, continuous_usage_stats to false; `should_include_usage` honours
 * continuous stats only with include_usage), and the request validator that refuses options on a
 * request that does not stream.
 */
function parseStreamOptions(body: JsonObject): Parsed<{ includeUsage: boolean; continuousUsage: boolean }> {
  const options = body.stream_options;
  if (options === undefined || options === null) return { ok: true, value: { includeUsage: false, continuousUsage: false } };
  if (!isObject(options)) return fail(400, "stream_options: Input should be a valid dictionary or object.");
  if (Object.keys(options).length > 0 && body.stream !== true) {
    return fail(400, "Stream options can only be defined when `stream=True`.");
  }
  const includeUsage = options.include_usage === undefined || options.include_usage === true;
  return { ok: true, value: { includeUsage, continuousUsage: includeUsage && options.continuous_usage_stats === true } };
}

function parseChatPrompt(body: JsonObject): Parsed<number> {
  if (!Array.isArray(body.messages)) return fail(400, "Field required: messages");
  return { ok: true, value: chatPromptTokens(body.messages) };
}

function parseCompletionPrompt(body: JsonObject): Parsed<number> {
  const prompt = body.prompt;
  if (typeof prompt !== "string" && !Array.isArray(prompt)) return fail(400, "Field required: prompt");
  return { ok: true, value: countPromptTokens(prompt) };
}

export function parseEmbeddingRequest(raw: Buffer, served: string): Parsed<EmbeddingRequest> {
  const body = parseJsonObject(raw);
  if (!body) return fail(400, "Invalid JSON in request body.");
  const badModel = modelError<EmbeddingRequest>(body, served);
  if (badModel) return badModel;
  const input = body.input;
  if (typeof input !== "string" && !Array.isArray(input)) return fail(400, "Field required: input");
  const inputs = embeddingInputs(input);
  return { ok: true, value: { model: served, inputs, promptTokens: Math.max(1, countPromptTokens(input)) } };
}

/** One embedding per string, or per token-id list; a flat token-id list is a single input. */
function embeddingInputs(input: string | Json[]): string[] {
  if (typeof input === "string") return [input];
  if (input.every((item) => typeof item === "number")) return [JSON.stringify(input)];
  return input.map((item) => (typeof item === "string" ? item : JSON.stringify(item)));
}

/** The deterministic reply: words of REPLY cycled, each a token with its leading space. */
export function replyTokens(count: number): string[] {
  return Array.from({ length: count }, (_, i) => (i === 0 ? "" : " ") + REPLY_WORDS[i % REPLY_WORDS.length]);
}

export function planGeneration(request: GenerationRequest, completionTokens: number, fingerprint: string | null = null): GenerationPlan {
  const count = Math.min(completionTokens, request.maxTokens ?? completionTokens);
  return {
    request,
    id: `${request.kind === "chat" ? "chatcmpl" : "cmpl"}-${hex32()}`,
    created: unixSeconds(),
    tokens: replyTokens(count),
    finishReason: count < completionTokens ? "length" : "stop",
    fingerprint,
  };
}

/** UsageInfo's members in class order: prompt_tokens, total_tokens, completion_tokens, then the details. */
function usage(prompt: number, completion: number): JsonObject {
  return { prompt_tokens: prompt, total_tokens: prompt + completion, completion_tokens: completion };
}

function header(plan: GenerationPlan, object: string): JsonObject {
  return { id: plan.id, object, created: plan.created, model: plan.request.model };
}

export function completionBody(plan: GenerationPlan): JsonObject {
  const text = plan.tokens.join("");
  const chat = plan.request.kind === "chat";
  const choice: JsonObject = chat
    ? { index: 0, message: { role: "assistant", content: text }, logprobs: null, finish_reason: plan.finishReason }
    : { index: 0, text, logprobs: null, finish_reason: plan.finishReason };
  // Non-streamed answers are dumped whole (no exclude_unset): every member, nulls included.
  const total = { ...usage(plan.request.promptTokens, plan.tokens.length), prompt_tokens_details: null, completion_tokens_details: null };
  const body: JsonObject = {
    ...header(plan, chat ? "chat.completion" : "text_completion"),
    choices: [choice],
    service_tier: null,
    system_fingerprint: plan.fingerprint,
    usage: total,
  };
  const extras: JsonObject = chat
    ? { prompt_logprobs: null, prompt_token_ids: null, prompt_text: null, kv_transfer_params: null, ec_transfer_params: null, metrics: null }
    : { kv_transfer_params: null, ec_transfer_params: null, metrics: null };
  return { ...body, ...extras };
}

function sse(data: Json): string {
  return `data: ${JSON.stringify(data)}\n\n`;
}

/**
 * One chunk: vLLM sets `usage` on every chunk only with continuous stats, and stamps
 * `system_fingerprint` on a finishing chunk only when no usage chunk follows.
 */
function chunk(plan: GenerationPlan, object: string, choice: JsonObject, tokens: number, tail: JsonObject = {}): string {
  const { promptTokens, continuousUsage, includeUsage } = plan.request;
  const data: JsonObject = { ...header(plan, object), choices: [choice] };
  if (continuousUsage) {
    // chat passes completion_tokens_details (None without a reasoning parser) explicitly, so it is "set"; completions do not.
    data.usage = plan.request.kind === "chat" ? { ...usage(promptTokens, tokens), completion_tokens_details: null } : usage(promptTokens, tokens);
  }
  if (choice.finish_reason !== null && !includeUsage && plan.fingerprint !== null) data.system_fingerprint = plan.fingerprint;
  return sse({ ...data, ...tail });
}

/** Every SSE event of a streamed answer, in order, ending with `data: [DONE]`. */
export function streamEvents(plan: GenerationPlan): StreamEvent[] {
  const chat = plan.request.kind === "chat";
  const object = chat ? "chat.completion.chunk" : "text_completion";
  const events: StreamEvent[] = [];
  const push = (choice: JsonObject, tokens: number, tail?: JsonObject) => events.push({ text: chunk(plan, object, choice, tokens, tail), tokens });
  if (chat) {
    // The first chunk carries the role, plus the prompt_token_ids and prompt_text vLLM passes explicitly (None).
    push({ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }, 0, { prompt_token_ids: null, prompt_text: null });
  }
  plan.tokens.forEach((t, i) => {
    const choice: JsonObject = chat
      ? { index: 0, delta: { content: t }, logprobs: null, finish_reason: null, token_ids: null }
      : { index: 0, text: t, logprobs: null, finish_reason: null, stop_reason: null, prompt_token_ids: null, token_ids: null };
    push(choice, i + 1);
  });
  const count = plan.tokens.length;
  push(
    chat
      ? { index: 0, delta: { content: "" }, logprobs: null, finish_reason: plan.finishReason, stop_reason: null, token_ids: null }
      : { index: 0, text: "", logprobs: null, finish_reason: plan.finishReason, stop_reason: null, prompt_token_ids: null, token_ids: null },
    count,
  );
  if (plan.request.includeUsage) {
    // The usage chunk is dumped with exclude_none: no null members, fingerprint included when set.
    const last: JsonObject = { ...header(plan, object), choices: [], usage: usage(plan.request.promptTokens, count) };
    if (plan.fingerprint !== null) last.system_fingerprint = plan.fingerprint;
    events.push({ text: sse(last), tokens: count });
  }
  events.push({ text: "data: [DONE]\n\n", tokens: count });
  return events;
}

/** vLLM's error event when generation fails mid-stream (ErrorResponse: `{"error":{...}}`), followed by [DONE]. */
export function streamErrorEvent(message: string): string {
  return sse({ error: { message, type: "InternalServerError", param: null, code: 500 } });
}

/** A unit vector derived from the input, so equal inputs embed equally. */
function embed(input: string): number[] {
  const digest = createHash("sha256").update(input).digest();
  const raw = Array.from(digest.subarray(0, 8), (b) => b / 127.5 - 1);
  const norm = Math.hypot(...raw) || 1;
  return raw.map((v) => Math.round((v / norm) * 1e6) / 1e6);
}

export function embeddingBody(request: EmbeddingRequest): JsonObject {
  const data = request.inputs.map((input, index) => ({ object: "embedding", index, embedding: embed(input) }));
  const tokens = request.promptTokens;
  return {
    id: `embd-${hex32()}`,
    object: "list",
    created: unixSeconds(),
    model: request.model,
    data,
    usage: usage(tokens, 0),
  };
}
