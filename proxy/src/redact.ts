import { MIN_TOKEN_LENGTH } from "./config";

const SLASH = 0x2f;
export const REDACTED = "[REDACTED]";
/** Longest path text an access-log line keeps. */
export const LOGGED_PATH_MAX = 256;

/**
 * A client-sent path as the access log may show it: every run of MIN_TOKEN_LENGTH or more
 * characters between slashes is replaced, since a credential pasted into a path would be such a run
 * (tokens contain no "/"; see keys/tokensFile.ts). One pass over the path whatever the number of
 * keys, so a flood of long paths costs the same with ten keys or a hundred thousand. Redaction
 * comes before truncation, so a credential crossing the cut cannot leak in part.
 */
export function redactPath(path: string): string {
  const parts: string[] = [];
  let start = 0;
  let changed = false;
  for (let i = 0; i <= path.length; i++) {
    if (i < path.length && path.charCodeAt(i) !== SLASH) continue;
    if (i - start >= MIN_TOKEN_LENGTH) {
      parts.push(REDACTED);
      changed = true;
    } else {
      parts.push(path.slice(start, i));
    }
    start = i + 1;
  }
  const result = changed ? parts.join("/") : path;
  return result.length > LOGGED_PATH_MAX ? result.slice(0, LOGGED_PATH_MAX) : result;
}
