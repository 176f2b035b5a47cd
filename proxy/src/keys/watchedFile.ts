import { createHash } from "node:crypto";
import { watch, type FSWatcher } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";

/** A credential file that cannot be used: the message names the file and line, never a secret. */
export class CredentialFileError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "CredentialFileError";
  }
}

export interface WatchedFileEvents<T> {
  onReload?(value: T): void;
  onReloadFailed?(error: CredentialFileError): void;
}

/** Reads a file's text into a value, or throws a CredentialFileError that says what is wrong. */
export type FileParser<T> = (text: string, file: string) => T;

/**
 * A mounted file parsed into a value and reloaded when it changes, keeping the last good value
 * when the new text is unreadable or malformed. Kubernetes swaps a Secret volume's `..data`
 * symlink, which a watch on the file itself misses, so the directory is watched, and polled as a
 * fallback for filesystems without events.
 */
export class WatchedFile<T> {
  private current: T;
  /** A digest of the text last read, not the text: a large key file is not kept twice in memory. */
  private lastDigest: string;
  /** What the last stat saw: an unchanged file is not read again at every poll. */
  private lastStat = "";
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> | undefined;
  /** The last failure reported, so a file that stays broken is reported once, not every poll. */
  private lastFailure: string | undefined;

  private constructor(
    readonly file: string,
    private readonly variable: string,
    private readonly code: string,
    private readonly parse: FileParser<T>,
    private readonly events: WatchedFileEvents<T>,
    text: string,
    value: T,
  ) {
    this.lastDigest = textDigest(text);
    this.current = value;
  }

  /** Loads the file once; a missing, empty or malformed file is fatal at start-up. */
  static async open<T>(
    variable: string,
    file: string,
    code: string,
    parse: FileParser<T>,
    events: WatchedFileEvents<T> = {},
  ): Promise<WatchedFile<T>> {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (error) {
      throw new CredentialFileError(code, `${variable} ${file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    return new WatchedFile(file, variable, code, parse, events, text, parse(text, file));
  }

  get value(): T {
    return this.current;
  }

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

  /** Re-reads the file; on any problem keeps the last good value and reports why. */
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
      // Through the symlink a Kubernetes Secret volume swaps: a new version has a new inode.
      const info = await stat(this.file);
      const seen = `${info.ino}:${info.size}:${info.mtimeMs}`;
      if (seen === this.lastStat) return;
      this.lastStat = seen;
      text = await readFile(this.file, "utf8");
    } catch (error) {
      this.fail(`${this.variable} ${this.file} cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"}); keeping the last good credentials`);
      return;
    }
    const digest = textDigest(text);
    if (digest === this.lastDigest) return;
    let value: T;
    try {
      value = this.parse(text, this.file);
    } catch (error) {
      this.lastDigest = digest;
      const reason = error instanceof CredentialFileError ? error.message : String(error);
      this.fail(`${reason}; keeping the last good credentials`);
      return;
    }
    this.lastFailure = undefined;
    this.lastDigest = digest;
    this.current = value;
    this.events.onReload?.(value);
  }

  private fail(message: string): void {
    if (message === this.lastFailure) return;
    this.lastFailure = message;
    this.events.onReloadFailed?.(new CredentialFileError(this.code, message));
  }
}

function textDigest(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("base64");
}
