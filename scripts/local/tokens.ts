/** --token-file, checked with the proxy's own rules; and the random tokens of a local run. */
import { randomBytes } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { parseTokens } from "../../proxy/src/keys/tokensFile";
import { CredentialFileError } from "../../proxy/src/keys/watchedFile";
import { UsageError } from "./args";

/** The user's --token-file: its first token (the one printed when no key is generated), path and count. */
export interface TokenFile {
  readonly token: string;
  /** Absolute path: the gateway reads it as TOKENS_FILE. */
  readonly file: string;
  readonly count: number;
}

/** 32 random bytes as base64url: 43 URL-safe characters, 256 bits (the internal credential). */
export function generateToken(): string {
  return randomBytes(32).toString("base64url");
}

/** Checks --token-file with the proxy's own rules, so a file accepted here is accepted by the proxy. */
export function readTokenFile(file: string): TokenFile {
  const absolute = path.resolve(file);
  let text: string;
  try {
    if (!statSync(absolute).isFile()) throw new UsageError(`--token-file ${file}: not a regular file; write the path of a file with one token per line`);
    text = readFileSync(absolute, "utf8");
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    const hint = code === "ENOENT" ? "no such file" : `cannot be read (${code})`;
    throw new UsageError(`--token-file ${file}: ${hint}; write the path of a file with one token per line, or leave the flag out to generate one`);
  }
  let tokens: string[];
  try {
    tokens = parseTokens(text, absolute);
  } catch (error) {
    if (error instanceof CredentialFileError) throw new UsageError(`--token-file: ${error.message}`);
    throw error;
  }
  return { token: tokens[0], file: absolute, count: tokens.length };
}
