/**
 * A small scanner that finds the members of one JSON object in a byte buffer without parsing or
 * copying it: each member's key and value as byte offsets, so a caller can read one value or cut one
 * member out and leave every other byte as it was. Lenient on purpose: it only has to find members
 * correctly in JSON that vLLM's Python parser accepts (NaN, Infinity included); on anything it cannot
 * follow it answers `undefined`.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

/** One member: `buf[keyStart..keyEnd)` is the quoted key, `buf[valueStart..valueEnd)` its value. */
export interface Member {
  readonly keyStart: number;
  readonly keyEnd: number;
  readonly valueStart: number;
  readonly valueEnd: number;
}

export interface ScannedObject {
  /** Index of `{`. */
  readonly open: number;
  /** Index of the matching `}`. */
  readonly close: number;
  readonly members: readonly Member[];
}

/** JSON's four whitespace bytes (Python's json module accepts exactly these). */
function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

export function skipSpace(buf: Uint8Array, i: number, end: number): number {
  while (i < end && isSpace(buf[i])) i++;
  return i;
}

/** `i` at an opening quote; returns the index after the closing quote, or -1. */
export function skipString(buf: Uint8Array, i: number, end: number): number {
  let j = i + 1;
  for (;;) {
    // Native search for the next quote, then count the backslashes before it: odd means escaped.
    const q = buf.indexOf(QUOTE, j);
    if (q === -1 || q >= end) return -1;
    let k = q - 1;
    while (k > i && buf[k] === BACKSLASH) k--;
    if ((q - 1 - k) % 2 === 0) return q + 1;
    j = q + 1;
  }
}

/** `i` at `{` or `[`; returns the index after the matching close, or -1. */
function skipContainer(buf: Uint8Array, i: number, end: number): number {
  let depth = 0;
  let j = i;
  while (j < end) {
    const c = buf[j];
    if (c === QUOTE) {
      j = skipString(buf, j, end);
      if (j === -1) return -1;
      continue;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
      if (depth === 0) return j + 1;
    }
    j++;
  }
  return -1;
}

/** `i` at the first byte of a value; returns the index after it, or -1. */
export function skipValue(buf: Uint8Array, i: number, end: number): number {
  if (i >= end) return -1;
  const c = buf[i];
  if (c === QUOTE) return skipString(buf, i, end);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) return skipContainer(buf, i, end);
  // A number or literal (true, false, null, NaN, Infinity, -Infinity): up to the next delimiter.
  let j = i;
  while (j < end) {
    const d = buf[j];
    if (d === COMMA || d === CLOSE_BRACE || d === CLOSE_BRACKET || isSpace(d) || d === COLON || d === QUOTE) break;
    j++;
  }
  return j === i ? -1 : j;
}

/** The members of the object whose `{` is the first non-space byte at or after `start`. */
export function scanObject(buf: Uint8Array, start: number, end: number): ScannedObject | undefined {
  const open = skipSpace(buf, start, end);
  if (buf[open] !== OPEN_BRACE || open >= end) return undefined;
  const members: Member[] = [];
  let i = skipSpace(buf, open + 1, end);
  if (buf[i] === CLOSE_BRACE && i < end) return { open, close: i, members };
  for (;;) {
    if (i >= end || buf[i] !== QUOTE) return undefined;
    const keyEnd = skipString(buf, i, end);
    if (keyEnd === -1) return undefined;
    const colon = skipSpace(buf, keyEnd, end);
    if (colon >= end || buf[colon] !== COLON) return undefined;
    const valueStart = skipSpace(buf, colon + 1, end);
    const valueEnd = skipValue(buf, valueStart, end);
    if (valueEnd === -1) return undefined;
    members.push({ keyStart: i, keyEnd, valueStart, valueEnd });
    i = skipSpace(buf, valueEnd, end);
    if (i >= end) return undefined;
    if (buf[i] === CLOSE_BRACE) return { open, close: i, members };
    if (buf[i] !== COMMA) return undefined;
    i = skipSpace(buf, i + 1, end);
  }
}

/** Whether the member's key is `name` (ASCII); an escaped key (`"us\u0061ge"`) is decoded first, as Python would. */
export function keyIs(buf: Uint8Array, m: Member, name: string): boolean {
  const length = m.keyEnd - m.keyStart - 2;
  let escaped = false;
  let same = length === name.length;
  for (let k = 0; k < length; k++) {
    const c = buf[m.keyStart + 1 + k];
    if (c === BACKSLASH) escaped = true;
    else if (same && c !== name.charCodeAt(k)) same = false;
  }
  if (!escaped) return same;
  try {
    return JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + m.keyStart, m.keyEnd - m.keyStart).toString("utf8")) === name;
  } catch {
    return false;
  }
}

/** The last member named `name`: JSON parsers that keep one of duplicate keys (Python's, V8's) keep the last. */
export function findMember(buf: Uint8Array, members: readonly Member[], name: string): Member | undefined {
  for (let k = members.length - 1; k >= 0; k--) {
    if (keyIs(buf, members[k], name)) return members[k];
  }
  return undefined;
}

/** A non-negative integer written plainly (vLLM's token counts); undefined for anything else. */
export function readCount(buf: Uint8Array, m: Member | undefined): number | undefined {
  if (m === undefined) return undefined;
  const { valueStart: s, valueEnd: e } = m;
  if (e - s < 1 || e - s > 15) return undefined;
  let n = 0;
  for (let k = s; k < e; k++) {
    const d = buf[k] - 0x30;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return n;
}

/** Whether the value is exactly the given ASCII literal (`null`, `[]` after trimming inner space, ...). */
export function valueIs(buf: Uint8Array, m: Member, literal: string): boolean {
  if (m.valueEnd - m.valueStart !== literal.length) return false;
  for (let k = 0; k < literal.length; k++) if (buf[m.valueStart + k] !== literal.charCodeAt(k)) return false;
  return true;
}

/** Whether the value is an empty array, `[]` or `[ ]`. */
export function isEmptyArray(buf: Uint8Array, m: Member): boolean {
  if (buf[m.valueStart] !== OPEN_BRACKET) return false;
  return buf[skipSpace(buf, m.valueStart + 1, m.valueEnd)] === CLOSE_BRACKET;
}

/** The first element of an array value when it is an object, scanned; undefined otherwise. */
export function firstObjectElement(buf: Uint8Array, m: Member): ScannedObject | undefined {
  if (buf[m.valueStart] !== OPEN_BRACKET) return undefined;
  return scanObject(buf, m.valueStart + 1, m.valueEnd);
}
