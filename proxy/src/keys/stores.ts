import { CredentialIndex, type Verdict } from "./credentials";
import { parseKeysFile } from "./keysFile";
import { parseTokens } from "./tokensFile";
import { CredentialFileError, WatchedFile } from "./watchedFile";

export interface StoreEvents {
  /** A file was reloaded; `count` is the number of credentials now valid from all files of the store. */
  onReload?(file: string, count: number): void;
  onReloadFailed?(error: CredentialFileError): void;
}

/** What a client may present: named keys (KEYS_FILE) and legacy tokens (TOKENS_FILE), reloaded without restart. */
export class ClientCredentials {
  private index: CredentialIndex;

  private constructor(
    private readonly keys: WatchedFile<CredentialIndex> | undefined,
    private readonly tokens: WatchedFile<CredentialIndex> | undefined,
  ) {
    this.index = this.combine();
  }

  static async open(files: { keysFile?: string; tokensFile?: string }, pollMs: number, events: StoreEvents = {}): Promise<ClientCredentials> {
    let store: ClientCredentials | undefined;
    const reloaded = (file: string): void => {
      if (store === undefined) return;
      store.index = store.combine();
      events.onReload?.(file, store.index.size);
    };
    const watched = { onReload: (_: CredentialIndex) => undefined, onReloadFailed: (e: CredentialFileError) => events.onReloadFailed?.(e) };
    const keys =
      files.keysFile === undefined
        ? undefined
        : await WatchedFile.open("KEYS_FILE", files.keysFile, "KEYS_FILE_INVALID", (text, file) => CredentialIndex.ofKeys(parseKeysFile(text, file)), {
            ...watched,
            onReload: () => reloaded(files.keysFile ?? ""),
          });
    let tokens: WatchedFile<CredentialIndex> | undefined;
    try {
      tokens =
        files.tokensFile === undefined
          ? undefined
          : await WatchedFile.open("TOKENS_FILE", files.tokensFile, "TOKENS_FILE_INVALID", (text, file) => CredentialIndex.ofTokens(parseTokens(text, file)), {
              ...watched,
              onReload: () => reloaded(files.tokensFile ?? ""),
            });
    } catch (error) {
      keys?.close();
      throw error;
    }
    store = new ClientCredentials(keys, tokens);
    keys?.watch(pollMs);
    tokens?.watch(pollMs);
    return store;
  }

  get size(): number {
    return this.index.size;
  }

  verify(candidate: string): Verdict {
    return this.index.verify(candidate);
  }

  close(): void {
    this.keys?.close();
    this.tokens?.close();
  }

  private combine(): CredentialIndex {
    return CredentialIndex.merge([this.keys?.value, this.tokens?.value].filter((i): i is CredentialIndex => i !== undefined));
  }
}

interface InternalTokens {
  readonly tokens: readonly string[];
  readonly index: CredentialIndex;
}

/**
 * The credential between gateway and sidecars: the gateway sends the first line, the sidecar
 * accepts any line, so a rotation that writes the new token first and keeps the old one second
 * never locks a sidecar out while the Secret reaches pods at different moments.
 */
export class InternalCredential {
  private constructor(private readonly file: WatchedFile<InternalTokens>) {}

  static async open(path: string, pollMs: number, events: StoreEvents = {}): Promise<InternalCredential> {
    const file = await WatchedFile.open(
      "INTERNAL_TOKEN_FILE",
      path,
      "INTERNAL_TOKEN_FILE_INVALID",
      (text, name): InternalTokens => {
        const tokens = parseTokens(text, name, "INTERNAL_TOKEN_FILE", "INTERNAL_TOKEN_FILE_INVALID");
        return { tokens, index: CredentialIndex.ofTokens(tokens, "internal") };
      },
      { onReload: (v) => events.onReload?.(path, v.tokens.length), onReloadFailed: (e) => events.onReloadFailed?.(e) },
    );
    file.watch(pollMs);
    return new InternalCredential(file);
  }

  /** Every valid internal token, the one to send first. */
  get tokens(): readonly string[] {
    return this.file.value.tokens;
  }

  get size(): number {
    return this.file.value.tokens.length;
  }

  verify(candidate: string): Verdict {
    return this.file.value.index.verify(candidate);
  }

  close(): void {
    this.file.close();
  }
}
