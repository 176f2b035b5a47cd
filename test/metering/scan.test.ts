import { findMember, firstObjectElement, isEmptyArray, keyIs, readCount, scanObject } from "../../proxy/src/metering/json-scan";

const buf = (text: string) => Buffer.from(text);
const slice = (b: Buffer, s: number, e: number) => b.toString("utf8", s, e);

function members(text: string): Array<[string, string]> {
  const b = buf(text);
  const scanned = scanObject(b, 0, b.length);
  if (scanned === undefined) throw new Error(`not scanned: ${text}`);
  return scanned.members.map((m) => [slice(b, m.keyStart, m.keyEnd), slice(b, m.valueStart, m.valueEnd)]);
}

describe("scanObject", () => {
  test("finds top-level members and their exact byte spans, whitespace and all", () => {
    expect(members(' { "a" : 1 , "b":[1,{"c":"}"}] ,"d":{"e":null}, "f":"x\\"y" } ')).toEqual([
      ['"a"', "1"],
      ['"b"', '[1,{"c":"}"}]'],
      ['"d"', '{"e":null}'],
      ['"f"', '"x\\"y"'],
    ]);
    expect(members("{}")).toEqual([]);
    expect(members("{ }")).toEqual([]);
  });

  test("a usage key nested inside choices is not a top-level member", () => {
    const text = '{"choices":[{"delta":{"content":"{\\"usage\\":1}","usage":{"prompt_tokens":9}}}],"model":"m"}';
    const b = buf(text);
    const top = scanObject(b, 0, b.length);
    expect(top?.members.map((m) => slice(b, m.keyStart, m.keyEnd))).toEqual(['"choices"', '"model"']);
    expect(findMember(b, top?.members ?? [], "usage")).toBeUndefined();
  });

  test("strings: escaped quotes, escaped backslashes before a quote, unicode in bytes and escapes", () => {
    expect(members('{"a":"\\\\","b":"\\\\\\"","c":"é漢🙂","d":"\\ud83d\\ude42"}')).toEqual([
      ['"a"', '"\\\\"'],
      ['"b"', '"\\\\\\""'],
      ['"c"', '"é漢🙂"'],
      ['"d"', '"\\ud83d\\ude42"'],
    ]);
  });

  test("accepts what Python's json accepts beyond JSON: NaN, Infinity, -Infinity", () => {
    expect(members('{"t":NaN,"u":-Infinity,"v":Infinity,"w":true}').map(([, v]) => v)).toEqual(["NaN", "-Infinity", "Infinity", "true"]);
  });

  test("refuses what it cannot follow", () => {
    for (const bad of ["", "[]", '{"a"}', '{"a":}', '{"a":1,}', '{"a":"x', '{"a":[1,2}', '{"a":1 "b":2}', '{a:1}', '{"a":1']) {
      const b = buf(bad);
      expect([bad, scanObject(b, 0, b.length)]).toEqual([bad, undefined]);
    }
  });

  test("stays inside the given end", () => {
    const b = buf('{"a":1}{"b":2}');
    expect(scanObject(b, 0, 5)).toBeUndefined();
    expect(scanObject(b, 7, b.length)?.open).toBe(7);
  });
});

describe("helpers", () => {
  test("keyIs decodes escaped keys the way Python does", () => {
    const b = buf('{"str\\u0065am":true,"usage":1,"Usage":2}');
    const top = scanObject(b, 0, b.length);
    const [first, second, third] = top?.members ?? [];
    expect([keyIs(b, first, "stream"), keyIs(b, second, "usage"), keyIs(b, third, "usage")]).toEqual([true, true, false]);
  });

  test("findMember takes the last of duplicate keys, as Python's dict does", () => {
    const b = buf('{"n":1,"n":2}');
    const top = scanObject(b, 0, b.length);
    expect(readCount(b, findMember(b, top?.members ?? [], "n"))).toBe(2);
  });

  test("readCount reads plain non-negative integers only", () => {
    const counts = ["0", "42", "-1", "1.5", "1e3", '"7"', "null"].map((v) => {
      const b = buf(`{"x":${v}}`);
      return readCount(b, scanObject(b, 0, b.length)?.members[0]);
    });
    expect(counts).toEqual([0, 42, undefined, undefined, undefined, undefined, undefined]);
  });

  test("empty arrays and first elements", () => {
    const b = buf('{"a":[],"b":[ ],"c":[{"index":3}],"d":[1]}');
    const m = scanObject(b, 0, b.length)?.members ?? [];
    expect(m.map((x) => isEmptyArray(b, x))).toEqual([true, true, false, false]);
    const first = firstObjectElement(b, m[2]);
    expect(readCount(b, findMember(b, first?.members ?? [], "index"))).toBe(3);
    expect(firstObjectElement(b, m[3])).toBeUndefined();
  });
});
