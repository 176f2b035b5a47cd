import { planUsage } from "../../proxy/src/metering";
import { laxBool } from "../../proxy/src/metering/plan";

const ASKED = '"stream_options":{"include_usage":true,"continuous_usage_stats":true}';

function plan(route: string, text: string) {
  return planUsage(route, Buffer.from(text));
}

describe("streamed chat and completions: usage is asked for, the rest of the body kept byte for byte", () => {
  test("no stream_options: inserted before the closing brace, nothing else touched", () => {
    const body = '{ "model" : "m",\n  "messages": [{"role":"user","content":"héllo \\"you\\""}], "stream": true }';
    const p = plan("chat_completions", body);
    expect(p?.body.toString()).toBe(body.slice(0, -1) + "," + ASKED + "}");
    expect(p).toMatchObject({ streamed: true, hideUsageChunk: true, hideChunkUsage: true, choicesPerPrompt: 1 });
  });

  test("include_usage asked: the flags merged in, other options kept; only the chunks' usage is hidden", () => {
    const body = '{"prompt":"x","stream":true,"stream_options":{"include_usage":true,"extra":[1,2]},"n":2}';
    const p = plan("completions", body);
    expect(p?.body.toString()).toBe('{"prompt":"x","stream":true,"stream_options":{"extra":[1,2],"include_usage":true,"continuous_usage_stats":true},"n":2}');
    expect(p).toMatchObject({ hideUsageChunk: false, hideChunkUsage: true, choicesPerPrompt: 2 });
    expect(JSON.parse(p?.body.toString() ?? "")).toEqual({ ...JSON.parse(body), stream_options: { extra: [1, 2], include_usage: true, continuous_usage_stats: true } });
  });

  test("everything asked: the body is the client's own buffer, nothing hidden", () => {
    const body = Buffer.from('{"messages":[],"stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}');
    const p = planUsage("chat_completions", body);
    expect(p?.body).toBe(body);
    expect(p).toMatchObject({ hideUsageChunk: false, hideChunkUsage: false });
  });

  test.each([
    ["{}", false, true],
    ['{"include_usage":null}', true, true],
    ['{"include_usage":false,"continuous_usage_stats":true}', true, true],
    ['{"continuous_usage_stats":true}', false, false],
    ['{"include_usage":"yes","continuous_usage_stats":0}', false, true],
    ["null", true, true],
  ])("stream_options %s read as vLLM reads it (include_usage defaults to true)", (options, hideUsageChunk, hideChunkUsage) => {
    const p = plan("chat_completions", `{"messages":[],"stream":true,"stream_options":${options}}`);
    expect(p).toMatchObject({ streamed: true, hideUsageChunk, hideChunkUsage });
    if (hideUsageChunk || hideChunkUsage) expect(JSON.parse(p?.body.toString() ?? "").stream_options).toMatchObject({ include_usage: true, continuous_usage_stats: true });
  });

  test("stream values pydantic takes as true still stream, and get usage asked for", () => {
    for (const stream of ["1", "1.0", '"yes"', '"TRUE"', '"on"', "1e0"]) {
      const p = plan("chat_completions", `{"messages":[],"stream":${stream}}`);
      expect([stream, p?.streamed, p?.body.toString().endsWith(ASKED + "}")]).toEqual([stream, true, true]);
    }
  });

  test("an escaped key is the key Python sees; duplicate keys: the last one counts", () => {
    expect(plan("chat_completions", '{"messages":[],"str\\u0065am":true}')?.streamed).toBe(true);
    const dup = plan("chat_completions", '{"messages":[],"stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true},"stream_options":null}');
    expect(dup?.body.toString()).toBe('{"messages":[],"stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true},' + ASKED + "}");
    expect(plan("chat_completions", '{"messages":[],"stream":true,"stream":false}')?.streamed).toBe(false);
  });

  test("a UTF-8 BOM is skipped (Python's json does), values Python accepts (NaN) do not get in the way", () => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"messages":[],"temperature":NaN,"stream":true}')]);
    const p = planUsage("chat_completions", body);
    expect(p?.body.subarray(3).toString()).toBe('{"messages":[],"temperature":NaN,"stream":true,' + ASKED + "}");
  });
});

describe("forwarded unchanged", () => {
  test.each([
    ["not streamed", '{"messages":[],"stream":false,"stream_options":{"include_usage":true}}', false],
    ["stream absent", '{"messages":[]}', false],
    ["stream null", '{"messages":[],"stream":null}', false],
    ["stream not a value pydantic takes (vLLM answers 400)", '{"messages":[],"stream":"maybe"}', false],
    ["stream_options not an object (vLLM answers 400)", '{"messages":[],"stream":true,"stream_options":"all"}', true],
    ["include_usage not a boolean pydantic takes", '{"messages":[],"stream":true,"stream_options":{"include_usage":[]}}', true],
  ])("%s", (_name, body, streamed) => {
    const buffer = Buffer.from(body);
    const p = planUsage("chat_completions", buffer);
    expect(p?.body).toBe(buffer);
    expect(p).toMatchObject({ streamed, hideUsageChunk: false, hideChunkUsage: false });
  });

  test("embeddings and responses: nothing to ask for", () => {
    expect(plan("embeddings", '{"input":"x","stream":true}')).toMatchObject({ streamed: false, hideUsageChunk: false });
    expect(plan("responses", '{"input":"x","stream":true}')).toMatchObject({ streamed: true, hideUsageChunk: false, hideChunkUsage: false });
  });

  test("bodies it cannot read, and routes it does not meter: undefined", () => {
    for (const body of ["", "not json", "[1]", '{"stream":true', '{"stream":true} x', '{"a":1}{"b":2}']) {
      expect([body, plan("chat_completions", body)]).toEqual([body, undefined]);
    }
    expect(planUsage("chat_completions", Buffer.from('{"stream":true}', "utf16le"))).toBeUndefined();
    expect(plan("models", '{"stream":true}')).toBeUndefined();
  });
});

test("laxBool follows pydantic's conversion table", () => {
  const read = (values: string[]) => values.map((v) => laxBool(v));
  expect(read(["true", "1", "1.0", "1e0", '"t"', '"Y"', '"On"', '"1"'])).toEqual(Array(8).fill(true));
  expect(read(["false", "0", "0.0", "-0", '"f"', '"No"', '"OFF"', '"0"'])).toEqual(Array(8).fill(false));
  expect(read(["2", "NaN", '"maybe"', '""', "[]", "{}", '" true"'])).toEqual(Array(7).fill(undefined));
});
