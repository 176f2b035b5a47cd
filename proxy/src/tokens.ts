import { createHash, timingSafeEqual } from "node:crypto";
import { watch, type FSWatcher } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { MIN_TOKEN_LENGTH } from "./config";

/** A token file that cannot be used: the message names the line, never its content. */
export class TokenFileError extends Error {
  readonly code = "TOKENS_FILE_INVALID";
  constructor(message: string) {
    super(message);
    this.name = "TokenFileError";
  }
}

const digest = (value: string): Buffer => createHash("sha256").update(value, "utf8").digest();

/** Visible ASCII without spaces: what fits in a header as one credential. */
function isTokenText(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

/** One token per line; blank lines and `#` comments ignored; any bad line rejects the whole file. */
export function parseTokens(text: string, file: string): string[] {
  const tokens: string[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    if (!isTokenText(line)) {
      throw new TokenFileError(`${file}:${i + 1}: a token must be printable ASCII with no spaces`);
    }
    if (line.length < MIN_TOKEN_LENGTH) {
      throw new TokenFileError(`${file}:${i + 1}: a token must be at least ${MIN_TOKEN_LENGTH} characters long`);
    }
    tokens.push(line);
  }
  if (tokens.length === 0) throw new TokenFileError(`${file}: no tokens (one token per line; blank lines and # comments are ignored)`);
  return tokens;
}

export interface TokenStoreEvents {
  onReload?(count: number): void;
  onReloadFailed?(error: TokenFileError): void;
}

/** The valid tokens, kept as SHA-256 digests and reloaded when the file changes. */
export class TokenStore {
  private digests: readonly Buffer[] = [];
  private tokens: readonly string[] = [];
  private lastText: string | undefined;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> | undefined;
  /** The last failure reported, so a file that stays broken is reported once, not every poll. */
  private lastFailure: string | undefined;

  private constructor(
    readonly file: string,
    private readonly events: TokenStoreEvents,
  ) {}

  /** Loads the file once; a missing, empty or malformed file is fatal at start-up. */
  static async open(file: string, events: TokenStoreEvents = {}): Promise<TokenStore> {
    const store = new TokenStore(file, events);
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (error) {
      throw new TokenFileError(`TOKENS_FILE ${file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    store.install(text, parseTokens(text, file));
    return store;
  }

  get size(): number {
    return this.digests.length;
  }

  /** Compares against every token with no early exit, so timing does not tell which one matched. */
  verify(candidate: string): boolean {
    const probe = digest(candidate);
    let matched = false;
    for (const known of this.digests) {
      if (timingSafeEqual(probe, known)) matched = true;
    }
    return matched;
  }

  /** Replaces every valid token occurring in `text`, for log lines built from client input. */
  redact(text: string): string {
    let out = text;
    for (const token of this.tokens) {
      if (out.includes(token)) out = out.split(token).join("[REDACTED]");
    }
    return out;
  }

  /**
   * Watches the file's directory (a Kubernetes Secret volume swaps a `..data` symlink, which a
   * watch on the file itself misses) and polls as a fallback for filesystems without events.
   */
  watch(pollMs: number): void {
    const trigger = (): void => void this.reload();
    try {
      this.watcher = watch(path.dirname(this.file), { persistent: false }, trigger);
      this.watcher.on("error", () => this.watcher?.close());
    } catch {
      this.watcher = undefined;
    }
    this.timer = setInterval(trigger, pollMs);
    this.timer.unref();
  }

  /** Re-reads the file; on any problem keeps the last good set and reports why. */
  reload(): Promise<void> {
    this.reloading ??= this.readAndSwap().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  close(): void {
    this.watcher?.close();
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  private async readAndSwap(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (error) {
      this.fail(`TOKENS_FILE ${this.file} cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"}); keeping the last good tokens`);
      return;
    }
    if (text === this.lastText) return;
    let tokens: string[];
    try {
      tokens = parseTokens(text, this.file);
    } catch (error) {
      this.lastText = text;
      const reason = error instanceof TokenFileError ? error.message : String(error);
      this.fail(`${reason}; keeping the last good tokens`);
      return;
    }
    this.lastFailure = undefined;
    this.install(text, tokens);
    this.events.onReload?.(tokens.length);
  }

  private fail(message: string): void {
    if (message === this.lastFailure) return;
    this.lastFailure = message;
    this.events.onReloadFailed?.(new TokenFileError(message));
  }

  private install(text: string, tokens: readonly string[]): void {
    this.lastText = text;
    this.tokens = Object.freeze([...tokens]);
    this.digests = Object.freeze(tokens.map(digest));
  }
}
