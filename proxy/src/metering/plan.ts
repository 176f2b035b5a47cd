/**
 * Decides, from a request body, what the gateway forwards to vLLM and what it must later hide from
 * the client so that every streamed generation reports its token usage, even one cut short.
 *
 * vLLM v0.29.0 (vllm/entrypoints/openai/chat_completion/serving.py, completion/serving.py and
 * vllm/entrypoints/serve/utils/api_utils.py `should_include_usage`): `stream_options.include_usage`
 * adds a final chunk with `"choices":[]` and the `usage`; `continuous_usage_stats` (honoured only with
 * include_usage) adds `usage` to every chunk. `StreamOptions` (vllm/entrypoints/openai/engine/protocol.py)
 * defaults include_usage to true and continuous_usage_stats to false, so `"stream_options":{}` already
 * asks for the final usage chunk. Request fields are pydantic `bool | None` in lax mode: 1, "yes",
 * "true" ... count as true (pydantic's conversion table), so this module reads them the same way.
 */
import { findMember, scanObject, skipValue, type Member } from "./json-scan";

/** The routes whose responses carry a `usage` object. */
export type MeteredRoute = "chat_completions" | "completions" | "responses" | "embeddings";

export const METERED_ROUTES: ReadonlySet<string> = new Set<MeteredRoute>(["chat_completions", "completions", "responses", "embeddings"]);

/** What the gateway forwards and what it must hide from the client, decided from the request body. */
export interface UsagePlan {
  /** The body to forward: the client's bytes, unless usage had to be asked for. */
  readonly body: Buffer;
  /** vLLM will answer with server-sent events. */
  readonly streamed: boolean;
  /** The client did not ask for `stream_options.include_usage`: drop the final usage-only chunk. */
  readonly hideUsageChunk: boolean;
  /** The client did not ask for continuous usage stats: cut the `usage` member out of every chunk. */
  readonly hideChunkUsage: boolean;
  /** Choices per prompt (`n`), to sum a cut stream's per-choice counts. */
  readonly choicesPerPrompt: number;
}

const UTF8_BOM = [0xef, 0xbb, 0xbf];
const ASK_FOR_USAGE = '"include_usage":true,"continuous_usage_stats":true';

/** pydantic's lax `bool` on a JSON value: true, false, or undefined when pydantic refuses it (vLLM answers 400). */
export function laxBool(raw: string): boolean | undefined {
  if (raw === "true") return true;
  if (raw === "false") return false;
  if (raw[0] !== '"') {
    // Numbers: only 0 and 1 (int or float, however written); NaN and Infinity are refused.
    const n = /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(raw) ? Number(raw) : Number.NaN;
    return n === 1 ? true : n === 0 ? false : undefined;
  }
  if (raw.length > 64) return undefined;
  let text: unknown;
  try {
    text = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof text !== "string") return undefined;
  const lower = text.toLowerCase();
  if (["1", "on", "t", "true", "y", "yes"].includes(lower)) return true;
  if (["0", "off", "f", "false", "n", "no"].includes(lower)) return false;
  return undefined;
}

/** A `bool | None` field: absent or null reads as `fallback`. */
function optionalBool(body: Buffer, m: Member | undefined, fallback: boolean): boolean | undefined {
  if (m === undefined) return fallback;
  const raw = body.toString("utf8", m.valueStart, m.valueEnd);
  return raw === "null" ? fallback : laxBool(raw);
}

/** Where the JSON text starts: after a UTF-8 BOM (Python's json skips it); -1 for UTF-16/32, which this module does not read. */
function textStart(body: Buffer): number {
  if (body.length >= 3 && UTF8_BOM.every((b, k) => body[k] === b)) return 3;
  // JSON starts with an ASCII byte, so a zero in the first two bytes means UTF-16 or UTF-32 (RFC 4627 section 3).
  if (body.length >= 2 && (body[0] === 0 || body[1] === 0 || body[0] >= 0xfe)) return -1;
  return 0;
}

function readChoicesPerPrompt(body: Buffer, m: Member | undefined): number {
  if (m === undefined) return 1;
  const n = Number(body.toString("latin1", m.valueStart, m.valueEnd));
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

/** What the client asked of `stream_options`, read as vLLM reads it; undefined when vLLM would refuse the value. */
interface Asked {
  readonly includeUsage: boolean;
  readonly continuous: boolean;
  /** The object's members other than the two flags, as raw `key:value` text, kept when rewriting. */
  readonly others: readonly string[];
}

function readStreamOptions(body: Buffer, m: Member | undefined): Asked | undefined {
  if (m === undefined || body.toString("latin1", m.valueStart, m.valueEnd) === "null") {
    return { includeUsage: false, continuous: false, others: [] };
  }
  const options = scanObject(body, m.valueStart, m.valueEnd);
  if (options === undefined) return undefined;
  const include = findMember(body, options.members, "include_usage");
  const continuous = findMember(body, options.members, "continuous_usage_stats");
  // StreamOptions: include_usage defaults to true, continuous_usage_stats to false; null reads as false.
  const includeUsage = include === undefined ? true : optionalBool(body, include, false);
  const wantsContinuous = optionalBool(body, continuous, false);
  if (includeUsage === undefined || wantsContinuous === undefined) return undefined;
  const others = options.members
    .filter((o) => o !== include && o !== continuous && !isFlag(body, o))
    .map((o) => body.toString("utf8", o.keyStart, o.valueEnd));
  return { includeUsage, continuous: includeUsage && wantsContinuous, others };
}

/** Earlier duplicates of the two flags are dropped too, so the rewritten object has one of each. */
function isFlag(body: Buffer, m: Member): boolean {
  const key = body.toString("utf8", m.keyStart, m.keyEnd);
  return key === '"include_usage"' || key === '"continuous_usage_stats"';
}

function unchanged(body: Buffer, streamed: boolean, choicesPerPrompt = 1): UsagePlan {
  return { body, streamed, hideUsageChunk: false, hideChunkUsage: false, choicesPerPrompt };
}

/**
 * The plan for one request on `route`; undefined when the body is not a JSON object this module can
 * read (forward it unchanged: vLLM answers 400 to all of those except UTF-16/32 bodies, which the
 * gateway should refuse itself since their usage cannot be asked for).
 */
export function planUsage(route: string, body: Buffer): UsagePlan | undefined {
  if (!METERED_ROUTES.has(route)) return undefined;
  const start = textStart(body);
  if (start === -1) return undefined;
  const top = scanObject(body, start, body.length);
  // Trailing bytes other than whitespace make the body invalid JSON for vLLM as well.
  if (top === undefined || skipValue(body, top.open, body.length) !== top.close + 1) return undefined;
  for (let k = top.close + 1; k < body.length; k++) if (![0x20, 0x0a, 0x0d, 0x09].includes(body[k])) return undefined;
  const members = top.members;
  const streamMember = findMember(body, members, "stream");
  const stream = optionalBool(body, streamMember, false);
  // Not a value pydantic takes: vLLM answers 400, nothing is generated.
  if (stream === undefined) return unchanged(body, false);
  if (route === "embeddings" || route === "responses") return unchanged(body, route === "responses" && stream);
  const choicesPerPrompt = readChoicesPerPrompt(body, findMember(body, members, "n"));
  if (!stream) return unchanged(body, false, choicesPerPrompt);
  const optionsMember = findMember(body, members, "stream_options");
  const asked = readStreamOptions(body, optionsMember);
  if (asked === undefined) return unchanged(body, true, choicesPerPrompt);
  if (asked.includeUsage && asked.continuous) return unchanged(body, true, choicesPerPrompt);
  const value = Buffer.from(`{${[...asked.others, ASK_FOR_USAGE].join(",")}}`);
  const forwarded =
    optionsMember === undefined
      ? Buffer.concat([
          body.subarray(0, top.close),
          Buffer.from(members.length === 0 ? '"stream_options":' : ',"stream_options":'),
          value,
          body.subarray(top.close),
        ])
      : Buffer.concat([body.subarray(0, optionsMember.valueStart), value, body.subarray(optionsMember.valueEnd)]);
  return {
    body: forwarded,
    streamed: true,
    hideUsageChunk: !asked.includeUsage,
    hideChunkUsage: !asked.continuous,
    choicesPerPrompt,
  };
}
