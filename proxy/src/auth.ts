/** Extracts the bearer credential from the raw headers: exactly one well-formed Authorization header. */

export type Credential =
  | { readonly ok: true; readonly token: string }
  | { readonly ok: false; readonly reason: "missing" | "multiple" | "scheme" | "empty" };

const SCHEME = "bearer";

/** Reads `rawHeaders`, not `headers`: Node keeps only the first of duplicate Authorization headers there. */
export function readBearer(rawHeaders: readonly string[]): Credential {
  let value: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    if (name.length === 13 && name.toLowerCase() === "authorization") {
      if (value !== undefined) return { ok: false, reason: "multiple" };
      value = rawHeaders[i + 1];
    }
  }
  if (value === undefined) return { ok: false, reason: "missing" };
  // Case-insensitive scheme match without a regex (RFC 9110: auth-scheme is case-insensitive).
  if (value.length < SCHEME.length || value.slice(0, SCHEME.length).toLowerCase() !== SCHEME) {
    return { ok: false, reason: "scheme" };
  }
  const rest = value.slice(SCHEME.length);
  if (rest.length === 0) return { ok: false, reason: "empty" };
  if (rest[0] !== " ") return { ok: false, reason: "scheme" };
  const token = rest.trim();
  if (token.length === 0) return { ok: false, reason: "empty" };
  return { ok: true, token };
}
