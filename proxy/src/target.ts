/**
 * Raw request-target checks. The route decision is made on these exact bytes and the same bytes
 * are forwarded, so anything another parser could read differently is refused before routing.
 */

export interface CheckedTarget {
  /** The path exactly as received, used for the route lookup. */
  readonly path: string;
  /** The whole raw target (path and query), forwarded unchanged. */
  readonly raw: string;
}

export type TargetCheck = { readonly ok: true; readonly target: CheckedTarget } | { readonly ok: false; readonly reason: string };

const SLASH = 0x2f;
const QUESTION = 0x3f;
const PERCENT = 0x25;

/** RFC 3986 pchar plus "/" for the path: unreserved, sub-delims, ":" and "@". No "%" (see below). */
const PATH_BYTES = byteSet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/");
/** The query may also hold "?", and percent-encoding (it never affects routing or auth). */
const QUERY_BYTES = byteSet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?%");

function byteSet(chars: string): Uint8Array {
  const set = new Uint8Array(128);
  for (let i = 0; i < chars.length; i++) set[chars.charCodeAt(i)] = 1;
  return set;
}

const refuse = (reason: string): TargetCheck => ({ ok: false, reason });

/** Checks one raw request target (`req.url`). */
export function checkTarget(raw: string | undefined): TargetCheck {
  if (raw === undefined || raw.length === 0) return refuse("empty request target");
  if (raw.charCodeAt(0) !== SLASH) {
    // Absolute-form (http://host/...), authority-form (CONNECT) and asterisk-form (OPTIONS *).
    return refuse("request target must be a path starting with '/' (origin-form)");
  }
  let queryStart = raw.length;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === QUESTION) {
      queryStart = i;
      break;
    }
    if (c === PERCENT) {
      // Routes are fixed ASCII paths: any encoded byte (%2F, %2e, %5C, ...) could only serve to be read two ways.
      return refuse("percent-encoded bytes are not allowed in the path");
    }
    if (c === 0x5c) return refuse("backslashes are not allowed in the path");
    if (c === 0x23) return refuse("fragments ('#') are not allowed in a request target");
    if (c >= 128 || PATH_BYTES[c] !== 1) return refuse(`byte 0x${c.toString(16).padStart(2, "0")} is not allowed in the path`);
  }
  for (let i = queryStart + 1; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x23) return refuse("fragments ('#') are not allowed in a request target");
    if (c >= 128 || QUERY_BYTES[c] !== 1) return refuse(`byte 0x${c.toString(16).padStart(2, "0")} is not allowed in the query`);
  }
  const path = queryStart === raw.length ? raw : raw.slice(0, queryStart);
  if (path.includes("//")) return refuse("empty path segments ('//') are not allowed");
  for (const segment of path.split("/")) {
    if (segment === "." || segment === "..") return refuse("dot segments ('.' or '..') are not allowed in the path");
  }
  return { ok: true, target: { path, raw } };
}
