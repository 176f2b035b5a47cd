/**
 * Request validation and response bodies shaped like vLLM's OpenAI-compatible server.
 * Pure functions: the HTTP side lives in emulator.ts.
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
  includeUsage: boolean;
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
  const options = isObject(body.stream_options) ? body.stream_options : {};
  return {
    ok: true,
    value: {
      kind,
      model: served,
      stream: body.stream === true,
      includeUsage: options.include_usage === true,
      maxTokens: maxTokens.value,
      promptTokens: Math.max(1, promptTokens.value),
    },
  };
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

export function planGeneration(request: GenerationRequest, completionTokens: number): GenerationPlan {
  const count = Math.min(completionTokens, request.maxTokens ?? completionTokens);
  return {
    request,
    id: `${request.kind === "chat" ? "chatcmpl" : "cmpl"}-${hex32()}`,
    created: unixSeconds(),
    tokens: replyTokens(count),
    finishReason: count < completionTokens ? "length" : "stop",
  };
}

function usage(plan: GenerationPlan): JsonObject {
  const completion = plan.tokens.length;
  const prompt = plan.request.promptTokens;
  return { prompt_tokens: prompt, total_tokens: prompt + completion, completion_tokens: completion };
}

function header(plan: GenerationPlan, object: string): JsonObject {
  return { id: plan.id, object, created: plan.created, model: plan.request.model };
}

export function completionBody(plan: GenerationPlan): JsonObject {
  const text = plan.tokens.join("");
  const choice: JsonObject =
    plan.request.kind === "chat"
      ? { index: 0, message: { role: "assistant", content: text }, logprobs: null, finish_reason: plan.finishReason }
      : { index: 0, text, logprobs: null, finish_reason: plan.finishReason };
  const object = plan.request.kind === "chat" ? "chat.completion" : "text_completion";
  return { ...header(plan, object), choices: [choice], usage: usage(plan) };
}

function sse(data: Json): string {
  return `data: ${JSON.stringify(data)}\n\n`;
}

function chatChunk(plan: GenerationPlan, delta: JsonObject, finish: string | null): string {
  const choice: JsonObject = { index: 0, delta, logprobs: null, finish_reason: finish };
  return sse({ ...header(plan, "chat.completion.chunk"), choices: [choice] });
}

function textChunk(plan: GenerationPlan, text: string, finish: string | null): string {
  const choice: JsonObject = { index: 0, text, logprobs: null, finish_reason: finish };
  return sse({ ...header(plan, "text_completion"), choices: [choice] });
}

/** Every SSE event of a streamed answer, in order, ending with `data: [DONE]`. */
export function streamEvents(plan: GenerationPlan): string[] {
  const chat = plan.request.kind === "chat";
  const events = chat
    ? [
        chatChunk(plan, { role: "assistant", content: "" }, null),
        ...plan.tokens.map((t) => chatChunk(plan, { content: t }, null)),
        chatChunk(plan, {}, plan.finishReason),
      ]
    : [...plan.tokens.map((t) => textChunk(plan, t, null)), textChunk(plan, "", plan.finishReason)];
  const object = chat ? "chat.completion.chunk" : "text_completion";
  if (plan.request.includeUsage) events.push(sse({ ...header(plan, object), choices: [], usage: usage(plan) }));
  events.push("data: [DONE]\n\n");
  return events;
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
    usage: { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0 },
  };
}
