import { MIN_TOKEN_LENGTH } from "../config";
import { CredentialFileError } from "./watchedFile";

/**
 * Characters a token may not contain: the log redaction cuts paths at "/" and logs only what comes
 * before "?", so a token with either could be logged in pieces too short to recognise.
 */
const FORBIDDEN = new Set(["/", "?"]);

/** Visible ASCII without spaces, "/" or "?": what fits in a header as one credential and redacts whole. */
export function isTokenText(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || FORBIDDEN.has(line[i])) return false;
  }
  return true;
}

/** One token per line; blank lines and `#` comments ignored; any bad line rejects the whole file. */
export function parseTokens(text: string, file: string, variable = "TOKENS_FILE", code = "TOKENS_FILE_INVALID"): string[] {
  const tokens: string[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    if (!isTokenText(line)) {
      throw new CredentialFileError(code, `${file}:${i + 1}: a token must be printable ASCII with no spaces, "/" or "?"`);
    }
    if (line.length < MIN_TOKEN_LENGTH) {
      throw new CredentialFileError(code, `${file}:${i + 1}: a token must be at least ${MIN_TOKEN_LENGTH} characters long`);
    }
    tokens.push(line);
  }
  if (tokens.length === 0) {
    throw new CredentialFileError(code, `${file}: no tokens (${variable}: one token per line; blank lines and # comments are ignored)`);
  }
  return tokens;
}
