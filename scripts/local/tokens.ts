/** The API token for a local run: generated into a private temporary file, or read from --token-file. */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseTokens } from "../../proxy/src/keys/tokensFile";
import { CredentialFileError } from "../../proxy/src/keys/watchedFile";
import { UsageError } from "./args";

export interface TokenSource {
  /** The first token in the file: the one printed in the commands. */
  readonly token: string;
  readonly file: string;
  readonly count: number;
  /** True when the file is ours and goes away on exit. */
  readonly temporary: boolean;
  /** Removes the temporary directory; a no-op for --token-file. */
  remove(): void;
}

/** 32 random bytes as base64url: 43 URL-safe characters, 256 bits. */
export function generateToken(): string {
  return randomBytes(32).toString("base64url");
}

/** A fresh token in `<tmp>/vllm-auth-local-XXXXXX/tokens`: the directory is 0700 and the file 0600. */
export function createTemporaryTokens(): TokenSource {
  const dir = mkdtempSync(path.join(os.tmpdir(), "vllm-auth-local-"));
  const file = path.join(dir, "tokens");
  const token = generateToken();
  writeFileSync(file, `# vllm-auth local token; add a line to add a token (the proxy reloads this file)\n${token}\n`, {
    mode: 0o600,
    flag: "wx",
  });
  let removed = false;
  return {
    token,
    file,
    count: 1,
    temporary: true,
    remove: () => {
      if (removed) return;
      removed = true;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Checks --token-file with the proxy's own rules, so a file accepted here is accepted by the proxy. */
export function readTokenFile(file: string): TokenSource {
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
  return { token: tokens[0], file: absolute, count: tokens.length, temporary: false, remove: () => undefined };
}
