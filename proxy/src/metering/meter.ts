/**
 * Reads the token usage of one vLLM response as it is relayed, and removes from server-sent events
 * what the gateway asked vLLM for on the client's behalf (see plan.ts).
 *
 * How vLLM v0.29.0 writes usage (vllm/entrypoints/openai/chat_completion/serving.py and
 * completion/serving.py; chunk classes in chat_completion/protocol.py and completion/protocol.py):
 * - every chunk is `data: <json>\n\n`, serialized with pydantic `model_dump_json(exclude_unset=True)`,
 *   members in class order: id, object, created, model, choices, usage, system_fingerprint, ...;
 * - with continuous usage stats each chunk carries `"usage":{...}` right after `choices`; without them
 *   chunks have no `usage` member at all (never `"usage":null`);
 * - per chunk, `usage.completion_tokens` counts the tokens of that chunk's choice so far, and
 *   `usage.prompt_tokens` the tokens of that choice's prompt;
 * - with include_usage, after the last choice finishes, one chunk with `"choices":[]` carries the
 *   total `usage` and `system_fingerprint`; without include_usage, `system_fingerprint` is stamped on
 *   each choice's finishing chunk instead (the chunk whose finish_reason is not null);
 * - an engine error mid-stream is sent as `data: {"error":{...}}`, and every stream ends with `data: [DONE]`.
 * Responses API (vllm/entrypoints/openai/responses/api_router.py): events are `event: <type>\ndata: <json>\n\n`
 * and the usage (`input_tokens`, `output_tokens`) arrives only in the final `response.completed`
 * (or `response.incomplete` / `response.failed`) event's `response.usage`.
 */
import {
  findMember,
  firstObjectElement,
  isEmptyArray,
  readCount,
  scanObject,
  skipSpace,
  valueIs,
  type Member,
  type ScannedObject,
} from "./json-scan";
import type { UsagePlan } from "./plan";

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
}

/**
 * Where `usage()` comes from: the response's own total (`final`), the last per-chunk counts of a
 * stream that ended early (`partial`), nothing readable (`none`), or a response the meter gave up on
 * because it exceeded its bounds (`too_large`: a JSON body over MAX_JSON_BYTES, an event over MAX_EVENT_BYTES).
 */
export type UsageSource = "final" | "partial" | "none" | "too_large";

/**
 * vLLM's `system_fingerprint` (one per server configuration), learnt from the responses relayed: a
 * stream whose usage chunk is hidden gets it back on its finishing chunks, where vLLM would have put it.
 * `undefined` until learnt; `null` when vLLM sends none (`--fingerprint-mode none`).
 */
export class FingerprintMemo {
  raw: Buffer | null | undefined = undefined;
}

/** The memo every meter uses unless given its own (one gateway talks to replicas of one configuration). */
export const sharedFingerprint = new FingerprintMemo();

/** Non-streamed bodies are kept (as the chunks already relayed) up to this size to read `usage` at the end. */
export const MAX_JSON_BYTES = 8 * 1024 * 1024;
/** An SSE event longer than this is passed through unread and the stream is no longer metered. */
export const MAX_EVENT_BYTES = 1024 * 1024;

const EMPTY = Buffer.alloc(0);
const FINGERPRINT_KEY = Buffer.from('"system_fingerprint":');
const LF = 0x0a;
const CR = 0x0d;
const FINAL_RESPONSE_EVENTS = ['"response.completed"', '"response.incomplete"', '"response.failed"'];

type BodyKind = "sse" | "json" | "other";

function bodyKind(contentType: string | undefined): BodyKind {
  const type = (contentType ?? "").split(";", 1)[0].trim().toLowerCase();
  if (type === "text/event-stream") return "sse";
  if (type === "application/json") return "json";
  return "other";
}

/** Index after the blank line that ends the event starting at or after `from`, or -1 when incomplete. */
function eventEnd(data: Buffer, from: number): number {
  let p = data.indexOf(LF, from);
  while (p !== -1) {
    const next = data[p + 1];
    if (next === LF) return p + 2;
    if (next === CR && data[p + 2] === LF) return p + 3;
    p = data.indexOf(LF, p + 1);
  }
  return -1;
}

/** The single `data:` field of the event [s, e), as [start, end); undefined for none, several, or a continued field. */
function dataField(data: Buffer, s: number, e: number): { start: number; end: number } | undefined {
  let found: { start: number; end: number } | undefined;
  let line = s;
  while (line < e) {
    let lineEnd = data.indexOf(LF, line);
    if (lineEnd === -1 || lineEnd > e) lineEnd = e;
    const next = lineEnd + 1;
    const textEnd = lineEnd > line && data[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
    if (textEnd === line) break;
    // "data:" then one optional space (the SSE spec's field parsing).
    if (textEnd - line >= 5 && data[line] === 0x64 && data[line + 1] === 0x61 && data[line + 2] === 0x74 && data[line + 3] === 0x61 && data[line + 4] === 0x3a) {
      if (found !== undefined) return undefined;
      const start = data[line + 5] === 0x20 ? line + 6 : line + 5;
      found = { start, end: textEnd };
    }
    line = next;
  }
  return found;
}

/** One response's meter; `transform` returns what to relay to the client now. */
export class UsageMeter {
  private readonly kind: BodyKind;
  private readonly hideUsageChunk: boolean;
  private readonly hideChunkUsage: boolean;
  private readonly choicesPerPrompt: number;
  private readonly responses: boolean;
  private pending: Buffer | undefined;
  private jsonChunks: Buffer[] = [];
  private jsonBytes = 0;
  private jsonReadAt = -1;
  private final: Usage | undefined;
  private readonly promptByPrompt = new Map<number, number>();
  private readonly completionByChoice = new Map<number, number>();
  private gaveUp = false;

  constructor(
    route: string,
    plan: UsagePlan | undefined,
    contentType: string | undefined,
    private readonly memo: FingerprintMemo = sharedFingerprint,
  ) {
    this.kind = bodyKind(contentType);
    this.responses = route === "responses";
    this.hideUsageChunk = this.kind === "sse" && (plan?.hideUsageChunk ?? false);
    this.hideChunkUsage = this.kind === "sse" && (plan?.hideChunkUsage ?? false);
    this.choicesPerPrompt = plan?.choicesPerPrompt ?? 1;
  }

  /** The bytes to relay for `chunk`: the chunk itself unless something must be hidden; never holds back a complete event. */
  transform(chunk: Buffer): Buffer {
    if (this.kind === "json") {
      this.keepJson(chunk);
      return chunk;
    }
    if (this.kind !== "sse" || this.gaveUp) return chunk;
    const hiding = this.hideChunkUsage || this.hideUsageChunk;
    const data = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = undefined;
    const out: Buffer[] = [];
    let pos = 0;
    for (let end = eventEnd(data, pos); end !== -1; end = eventEnd(data, pos)) {
      const relayed = this.event(data, pos, end, hiding);
      if (relayed === undefined) {
        // Unchanged: relay the input itself when this event is all of it (the usual one-event chunk).
        if (hiding) out.push(pos === 0 && end === data.length ? data : data.subarray(pos, end));
      } else if (relayed.length > 0) out.push(relayed);
      pos = end;
    }
    const rest = data.length - pos;
    if (rest > MAX_EVENT_BYTES) {
      // Too big to be one of vLLM's events: stop reading, let everything through as it is.
      this.gaveUp = true;
      if (hiding) out.push(data.subarray(pos));
      return hiding ? Buffer.concat(out) : chunk;
    }
    if (rest > 0) this.pending = Buffer.from(data.subarray(pos));
    if (!hiding) return chunk;
    return out.length === 1 ? out[0] : Buffer.concat(out);
  }

  /** What the response used as far as it went (a stream cut early counts what arrived). */
  usage(): Usage {
    if (this.kind === "json" && this.final === undefined) this.readJson();
    if (this.final !== undefined) return this.final;
    let promptTokens = 0;
    let completionTokens = 0;
    for (const n of this.promptByPrompt.values()) promptTokens += n;
    for (const n of this.completionByChoice.values()) completionTokens += n;
    return { promptTokens, completionTokens };
  }

  get source(): UsageSource {
    if (this.kind === "json" && this.final === undefined) this.readJson();
    if (this.final !== undefined) return "final";
    if (this.gaveUp) return "too_large";
    return this.completionByChoice.size > 0 || this.promptByPrompt.size > 0 ? "partial" : "none";
  }

  private keepJson(chunk: Buffer): void {
    if (this.gaveUp) return;
    this.jsonBytes += chunk.length;
    if (this.jsonBytes > MAX_JSON_BYTES) {
      this.gaveUp = true;
      this.jsonChunks = [];
      return;
    }
    this.jsonChunks.push(chunk);
  }

  private readJson(): void {
    if (this.gaveUp || this.jsonReadAt === this.jsonBytes) return;
    this.jsonReadAt = this.jsonBytes;
    const body = this.jsonChunks.length === 1 ? this.jsonChunks[0] : Buffer.concat(this.jsonChunks);
    const top = scanObject(body, 0, body.length);
    if (top === undefined) return;
    this.learnFingerprint(body, top, false);
    const usage = findMember(body, top.members, "usage");
    const read = usage === undefined ? undefined : this.readUsage(body, usage);
    if (read !== undefined) {
      this.final = read;
      this.jsonChunks = [];
    }
  }

  /** Meters one complete event [s, e); returns what to relay instead of it, or undefined to relay it as it is. */
  private event(data: Buffer, s: number, e: number, hiding: boolean): Buffer | undefined {
    const field = dataField(data, s, e);
    if (field === undefined || data[field.start] !== 0x7b) return undefined;
    const obj = scanObject(data, field.start, field.end);
    if (obj === undefined || skipSpace(data, obj.close + 1, field.end) !== field.end) return undefined;
    if (this.responses) {
      this.responsesEvent(data, obj);
      return undefined;
    }
    const usage = findMember(data, obj.members, "usage");
    if (usage === undefined) return undefined;
    const counts = this.readUsage(data, usage);
    if (counts === undefined) return undefined;
    const choices = findMember(data, obj.members, "choices");
    if (choices === undefined) return undefined;
    if (isEmptyArray(data, choices)) {
      this.final = counts;
      this.learnFingerprint(data, obj, true);
      return this.hideUsageChunk ? EMPTY : undefined;
    }
    const choice = firstObjectElement(data, choices);
    const index = choice === undefined ? 0 : (readCount(data, findMember(data, choice.members, "index")) ?? 0);
    this.completionByChoice.set(index, counts.completionTokens);
    this.promptByPrompt.set(Math.floor(index / this.choicesPerPrompt), counts.promptTokens);
    if (!hiding || !this.hideChunkUsage) return undefined;
    return this.withoutUsage(data, s, e, obj, usage, choice);
  }

  /** The event with its `usage` member cut out (byte-exact), or replaced by the fingerprint vLLM would have put there. */
  private withoutUsage(data: Buffer, s: number, e: number, obj: ScannedObject, usage: Member, choice: ScannedObject | undefined): Buffer {
    const finish = choice === undefined ? undefined : findMember(data, choice.members, "finish_reason");
    const finishing = finish !== undefined && !valueIs(data, finish, "null");
    const fingerprint = this.memo.raw;
    if (this.hideUsageChunk && finishing && fingerprint && findMember(data, obj.members, "system_fingerprint") === undefined) {
      return Buffer.concat([data.subarray(s, usage.keyStart), FINGERPRINT_KEY, fingerprint, data.subarray(usage.valueEnd, e)]);
    }
    const members = obj.members;
    const at = members.indexOf(usage);
    let cutStart = usage.keyStart;
    let cutEnd = usage.valueEnd;
    // Take one separating comma with the member: the one before it, or after it when it comes first.
    if (at > 0) cutStart = members[at - 1].valueEnd;
    else if (members.length > 1) cutEnd = members[1].keyStart;
    return Buffer.concat([data.subarray(s, cutStart), data.subarray(cutEnd, e)]);
  }

  private responsesEvent(data: Buffer, obj: ScannedObject): void {
    const type = findMember(data, obj.members, "type");
    if (type === undefined || !FINAL_RESPONSE_EVENTS.some((name) => valueIs(data, type, name))) return;
    const response = findMember(data, obj.members, "response");
    const inner = response === undefined ? undefined : scanObject(data, response.valueStart, response.valueEnd);
    const usage = inner === undefined ? undefined : findMember(data, inner.members, "usage");
    const counts = usage === undefined ? undefined : this.readUsage(data, usage);
    if (counts !== undefined) this.final = counts;
  }

  /** Token counts of a `usage` object: OpenAI's chat names, or the Responses API's. */
  private readUsage(data: Buffer, usage: Member): Usage | undefined {
    const u = scanObject(data, usage.valueStart, usage.valueEnd);
    if (u === undefined) return undefined;
    const prompt = readCount(data, findMember(data, u.members, this.responses ? "input_tokens" : "prompt_tokens"));
    const completion = readCount(data, findMember(data, u.members, this.responses ? "output_tokens" : "completion_tokens"));
    if (prompt === undefined) return undefined;
    // Embeddings report completion_tokens 0 (or leave it out).
    return { promptTokens: prompt, completionTokens: completion ?? 0 };
  }

  private learnFingerprint(data: Buffer, obj: ScannedObject, absentMeansNone: boolean): void {
    const member = findMember(data, obj.members, "system_fingerprint");
    if (member === undefined) {
      // The usage chunk leaves None out (exclude_none), so absence there means "none".
      if (absentMeansNone) this.memo.raw = null;
      return;
    }
    if (valueIs(data, member, "null")) this.memo.raw = null;
    else if (data[member.valueStart] === 0x22) this.memo.raw = Buffer.from(data.subarray(member.valueStart, member.valueEnd));
  }
}
