import { FingerprintMemo, MAX_EVENT_BYTES, MAX_JSON_BYTES, UsageMeter, type UsagePlan } from "../../proxy/src/metering";
import { CONTINUOUS, FINGERPRINT, INCLUDE, NOTHING, bodyFor, generation, streamFor, type Asked } from "./streams";

const SSE = "text/event-stream; charset=utf-8";

function planFor(asked: Asked): UsagePlan {
  return {
    body: Buffer.alloc(0),
    streamed: true,
    hideUsageChunk: !asked.includeUsage,
    hideChunkUsage: !asked.continuousUsage,
    choicesPerPrompt: 1,
  };
}

function knownMemo(): FingerprintMemo {
  const memo = new FingerprintMemo();
  memo.raw = Buffer.from(JSON.stringify(FINGERPRINT));
  return memo;
}

function meterFor(asked: Asked, memo = knownMemo(), route = "chat_completions"): UsageMeter {
  return new UsageMeter(route, planFor(asked), SSE, memo);
}

function feed(meter: UsageMeter, parts: Array<string | Buffer>): string {
  return Buffer.concat(parts.map((p) => meter.transform(Buffer.isBuffer(p) ? p : Buffer.from(p)))).toString();
}

/** What the meter must relay for each event vLLM sends when asked for everything. */
function perEvent(forced: string[], asked: Asked, wanted: string[]): string[] {
  const usageAt = forced.findIndex((e) => e.includes('"choices":[]'));
  return forced.map((_, j) => {
    if (asked.includeUsage || j < usageAt) return wanted[j];
    return j === usageAt ? "" : wanted[j - 1];
  });
}

const CASES: Array<[string, Asked]> = [
  ["nothing", NOTHING],
  ["include_usage", INCLUDE],
  ["include_usage and continuous stats", CONTINUOUS],
];

describe.each(["chat", "completion"] as const)("%s stream, vLLM asked for continuous usage", (kind) => {
  const route = kind === "chat" ? "chat_completions" : "completions";

  test.each(CASES)("client asked for %s: gets exactly vLLM's stream for that request, and the usage is read", (_name, asked) => {
    const plan = generation(kind, 5);
    const meter = meterFor(asked, knownMemo(), route);
    expect(feed(meter, [streamFor(plan, CONTINUOUS).join("")])).toBe(streamFor(plan, asked).join(""));
    expect(meter.usage()).toEqual({ promptTokens: 7, completionTokens: 5 });
    expect(meter.source).toBe("final");
  });

  test("split at every byte boundary, unicode included: same bytes, and every complete event relayed at once", () => {
    const plan = generation(kind, 4);
    plan.tokens = ["Grüß", " 漢字", " 🙂🙂", ' "usage":{}'];
    const forced = streamFor(plan, CONTINUOUS);
    const whole = Buffer.from(forced.join(""));
    const ends = forced.map((_, j) => Buffer.byteLength(forced.slice(0, j + 1).join("")));
    for (const asked of [NOTHING, INCLUDE]) {
      const expected = perEvent(forced, asked, streamFor(plan, asked));
      // Mismatches are collected and compared once: thousands of expect() calls would dominate the run.
      const wrong: string[] = [];
      for (let i = 1; i < whole.length; i++) {
        const meter = meterFor(asked, knownMemo(), route);
        const first = meter.transform(whole.subarray(0, i)).toString();
        const complete = ends.filter((end) => end <= i).length;
        if (first !== expected.slice(0, complete).join("")) wrong.push(`split at ${i}: first part`);
        const second = meter.transform(whole.subarray(i)).toString();
        if (first + second !== expected.join("")) wrong.push(`split at ${i}: whole`);
        const { promptTokens, completionTokens } = meter.usage();
        if (promptTokens !== 7 || completionTokens !== 4) wrong.push(`split at ${i}: usage ${promptTokens}/${completionTokens}`);
      }
      expect(wrong).toEqual([]);
      const byteByByte = meterFor(asked, knownMemo(), route);
      const parts: Buffer[] = [];
      for (let i = 0; i < whole.length; i++) parts.push(whole.subarray(i, i + 1));
      expect(feed(byteByByte, parts)).toBe(expected.join(""));
    }
  });

  test("a stream cut early counts what arrived", () => {
    const plan = generation(kind, 6);
    const forced = streamFor(plan, CONTINUOUS);
    const first = kind === "chat" ? 1 : 0; // chat starts with the role chunk
    for (let k = 0; k <= 6; k++) {
      const meter = meterFor(NOTHING, knownMemo(), route);
      feed(meter, [forced.slice(0, first + k).join("")]);
      const arrived = first + k > 0;
      expect(meter.usage()).toEqual({ promptTokens: arrived ? 7 : 0, completionTokens: k });
      expect(meter.source).toBe(arrived ? "partial" : "none");
    }
  });

  test("an error event and [DONE] pass through; usage counts up to the error", () => {
    const plan = generation(kind, 6);
    const forced = streamFor(plan, CONTINUOUS);
    const error = 'data: {"error":{"message":"boom","type":"InternalServerError","param":null,"code":500}}\n\n';
    const meter = meterFor(NOTHING, knownMemo(), route);
    const out = feed(meter, [forced.slice(0, 3).join(""), error, "data: [DONE]\n\n"]);
    expect(out).toBe(streamFor(plan, NOTHING).slice(0, 3).join("") + error + "data: [DONE]\n\n");
    expect(meter.usage().completionTokens).toBe(kind === "chat" ? 2 : 3);
  });
});

describe("what the meter leaves alone", () => {
  test("a usage key inside choices (content, tool calls) is neither cut nor counted", () => {
    const chunk =
      'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"\\"usage\\":{\\"prompt_tokens\\":99}",' +
      '"tool_calls":[{"index":0,"function":{"arguments":"{}"},"usage":{"prompt_tokens":50,"completion_tokens":50}}]},"logprobs":null,"finish_reason":null}],' +
      '"usage":{"prompt_tokens":3,"total_tokens":5,"completion_tokens":2,"completion_tokens_details":null}}\n\n';
    const meter = meterFor(INCLUDE);
    const out = feed(meter, [chunk]);
    expect(out).toBe(chunk.replace(',"usage":{"prompt_tokens":3,"total_tokens":5,"completion_tokens":2,"completion_tokens_details":null}', ""));
    expect(meter.usage()).toEqual({ promptTokens: 3, completionTokens: 2 });
  });

  test("with nothing to hide the chunk itself is relayed (no copy), and still metered", () => {
    const plan = generation("chat", 3);
    const meter = meterFor(CONTINUOUS);
    for (const event of streamFor(plan, CONTINUOUS)) {
      const chunk = Buffer.from(event);
      expect(meter.transform(chunk)).toBe(chunk);
    }
    expect(meter.usage()).toEqual({ promptTokens: 7, completionTokens: 3 });
    const unplanned = new UsageMeter("chat_completions", undefined, SSE);
    const chunk = Buffer.from(streamFor(plan, CONTINUOUS).join(""));
    expect(unplanned.transform(chunk)).toBe(chunk);
    expect(unplanned.usage()).toEqual({ promptTokens: 7, completionTokens: 3 });
  });

  test("comments, [DONE], events without data and CRLF framing", () => {
    const plan = generation("chat", 2);
    const crlf = (events: string[]) => events.map((e) => e.replace(/\n\n$/, "\r\n\r\n"));
    const meter = meterFor(NOTHING);
    const out = feed(meter, [": keep-alive\n\n", "event: ping\n\n", ...crlf(streamFor(plan, CONTINUOUS))]);
    expect(out).toBe(": keep-alive\n\nevent: ping\n\n" + crlf(streamFor(plan, NOTHING)).join(""));
    expect(meter.usage()).toEqual({ promptTokens: 7, completionTokens: 2 });
  });

  test("an event past MAX_EVENT_BYTES: the meter gives up and lets every byte through", () => {
    const plan = generation("chat", 2);
    const huge = `data: {"x":"${"a".repeat(MAX_EVENT_BYTES)}"}`;
    const meter = meterFor(NOTHING);
    const forced = streamFor(plan, CONTINUOUS);
    const out = feed(meter, [forced[0], huge, "\n\n", forced[1]]);
    expect(out).toBe(streamFor(plan, NOTHING)[0] + huge + "\n\n" + forced[1]);
    expect(meter.source).toBe("too_large");
  });

  test("a response that is neither SSE nor JSON is relayed untouched and not metered", () => {
    const meter = new UsageMeter("chat_completions", planFor(NOTHING), "text/plain");
    const chunk = Buffer.from('{"usage":{"prompt_tokens":1,"completion_tokens":1}}');
    expect(meter.transform(chunk)).toBe(chunk);
    expect([meter.usage(), meter.source]).toEqual([{ promptTokens: 0, completionTokens: 0 }, "none"]);
  });
});

describe("system_fingerprint on a hidden usage chunk's stream", () => {
  test("learnt from the usage chunk it hides: the first stream lacks it on the finishing chunk, the next ones have it", () => {
    const memo = new FingerprintMemo();
    const plan = generation("chat", 3);
    const first = feed(meterFor(NOTHING, memo), [streamFor(plan, CONTINUOUS).join("")]);
    const exact = streamFor(plan, NOTHING).join("");
    expect(first).toBe(exact.replace(`,"system_fingerprint":"${FINGERPRINT}"`, ""));
    expect(memo.raw?.toString()).toBe(`"${FINGERPRINT}"`);
    expect(feed(meterFor(NOTHING, memo), [streamFor(plan, CONTINUOUS).join("")])).toBe(exact);
  });

  test("vLLM without a fingerprint (--fingerprint-mode none): nothing to add", () => {
    const memo = knownMemo();
    const plan = generation("completion", 3, 4, null);
    feed(meterFor(NOTHING, memo, "completions"), [streamFor(plan, CONTINUOUS).join("")]);
    expect(memo.raw).toBeNull();
    expect(feed(meterFor(NOTHING, memo, "completions"), [streamFor(plan, CONTINUOUS).join("")])).toBe(streamFor(plan, NOTHING).join(""));
  });

  test("learnt from non-streamed bodies too", () => {
    const memo = new FingerprintMemo();
    const meter = new UsageMeter("chat_completions", undefined, "application/json", memo);
    meter.transform(Buffer.from(bodyFor(generation("chat", 2))));
    expect(meter.usage()).toEqual({ promptTokens: 7, completionTokens: 2 });
    expect(memo.raw?.toString()).toBe(`"${FINGERPRINT}"`);
  });
});

describe("several choices and prompts", () => {
  const chunk = (index: number, prompt: number, completion: number, finish: string | null = null) =>
    `data: {"id":"c","object":"text_completion","created":1,"model":"m","choices":[{"index":${index},"text":"x","logprobs":null,"finish_reason":${finish === null ? "null" : `"${finish}"`},"stop_reason":null,"prompt_token_ids":null,"token_ids":null}],"usage":{"prompt_tokens":${prompt},"total_tokens":${prompt + completion},"completion_tokens":${completion}}}\n\n`;

  test("n=2 on one prompt: completions summed per choice, the prompt once", () => {
    const meter = new UsageMeter("completions", { ...planFor(NOTHING), choicesPerPrompt: 2 }, SSE);
    feed(meter, [chunk(0, 5, 1), chunk(1, 5, 1), chunk(0, 5, 2), chunk(1, 5, 2), chunk(1, 5, 3)]);
    expect(meter.usage()).toEqual({ promptTokens: 5, completionTokens: 5 });
  });

  test("two prompts, n=1: prompts summed", () => {
    const meter = new UsageMeter("completions", planFor(NOTHING), SSE);
    feed(meter, [chunk(0, 5, 1), chunk(1, 8, 1), chunk(1, 8, 2, "length")]);
    expect(meter.usage()).toEqual({ promptTokens: 13, completionTokens: 3 });
  });
});

describe("non-streamed bodies", () => {
  test("usage read at the end, whatever the chunking; members after usage do not matter", () => {
    const body = Buffer.from(bodyFor(generation("chat", 4)));
    expect(body.toString()).toMatch(/"usage":\{[^}]*\},"prompt_logprobs":null/);
    const meter = new UsageMeter("chat_completions", undefined, "application/json");
    for (let i = 0; i < body.length; i += 7) expect(meter.transform(body.subarray(i, i + 7)).length).toBeLessThanOrEqual(7);
    expect([meter.usage(), meter.source]).toEqual([{ promptTokens: 7, completionTokens: 4 }, "final"]);
  });

  test("embeddings: prompt tokens only", () => {
    const meter = new UsageMeter("embeddings", undefined, "application/json");
    meter.transform(Buffer.from('{"id":"e","object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-0.2]}],"usage":{"prompt_tokens":11,"total_tokens":11,"completion_tokens":0}}'));
    expect(meter.usage()).toEqual({ promptTokens: 11, completionTokens: 0 });
  });

  test("a cut body or an error body: nothing", () => {
    const body = bodyFor(generation("chat", 4));
    const cut = new UsageMeter("chat_completions", undefined, "application/json");
    cut.transform(Buffer.from(body.slice(0, body.length - 5)));
    expect([cut.usage(), cut.source]).toEqual([{ promptTokens: 0, completionTokens: 0 }, "none"]);
    const error = new UsageMeter("chat_completions", undefined, "application/json");
    error.transform(Buffer.from('{"error":{"message":"bad","type":"BadRequestError","param":null,"code":400}}'));
    expect(error.source).toBe("none");
  });

  test(`a body past MAX_JSON_BYTES (${MAX_JSON_BYTES} bytes) is relayed but not metered`, () => {
    const meter = new UsageMeter("embeddings", undefined, "application/json");
    const mib = Buffer.alloc(1024 * 1024, 0x20);
    for (let i = 0; i < MAX_JSON_BYTES / mib.length; i++) meter.transform(mib);
    meter.transform(Buffer.from('{"usage":{"prompt_tokens":1,"completion_tokens":0}}'));
    expect([meter.usage(), meter.source]).toEqual([{ promptTokens: 0, completionTokens: 0 }, "too_large"]);
  });
});

describe("Responses API", () => {
  // Shapes from vllm/entrypoints/openai/responses/api_router.py (`event: <type>\ndata: <json>`) and openai's event classes.
  const event = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ ...data, type })}\n\n`;
  const response = (status: string, usage: unknown) => ({ id: "resp_1", object: "response", status, output: [], usage });
  const usage = { input_tokens: 12, input_tokens_details: { cached_tokens: 0 }, output_tokens: 3, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 15 };

  test("streamed: usage from response.completed, relayed untouched", () => {
    const events = [
      event("response.created", { response: response("in_progress", null), sequence_number: 0 }),
      event("response.output_text.delta", { delta: "Hi", item_id: "m", output_index: 0, content_index: 0, sequence_number: 1, logprobs: [] }),
      event("response.completed", { response: response("completed", usage), sequence_number: 2 }),
    ];
    const meter = new UsageMeter("responses", planFor(NOTHING), SSE);
    expect(feed(meter, events)).toBe(events.join(""));
    expect(meter.usage()).toEqual({ promptTokens: 12, completionTokens: 3 });
    const cut = new UsageMeter("responses", planFor(NOTHING), SSE);
    feed(cut, events.slice(0, 2));
    expect([cut.usage(), cut.source]).toEqual([{ promptTokens: 0, completionTokens: 0 }, "none"]);
  });

  test("not streamed: usage from the body", () => {
    const meter = new UsageMeter("responses", undefined, "application/json");
    meter.transform(Buffer.from(JSON.stringify(response("completed", usage))));
    expect(meter.usage()).toEqual({ promptTokens: 12, completionTokens: 3 });
  });
});
