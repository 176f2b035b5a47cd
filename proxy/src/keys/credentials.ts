import { createHash } from "node:crypto";
import { KEY_PREFIX, isWellFormedKey, type KeyLimits, type KeyRecord } from "./format";

/** Who a request is: the key's name (for logs, metrics and limits), never the key. */
export interface Identity {
  readonly name: string;
  readonly limits?: KeyLimits;
}

export type Verdict = { readonly ok: true; readonly identity: Identity } | { readonly ok: false; readonly reason: "malformed" | "invalid" };

const hexDigest = (text: string): string => createHash("sha256").update(text, "utf8").digest("hex");

/**
 * Valid credentials indexed by their SHA-256 digest: a check costs one hash and one map lookup
 * whatever the number of keys. Comparing digests rather than keys keeps the lookup's timing
 * independent of how much of a guess matches a real key (the digest of a guess says nothing about
 * the key).
 */
export class CredentialIndex {
  private readonly byDigest: ReadonlyMap<string, Identity>;

  constructor(entries: Iterable<readonly [digest: string, identity: Identity]>) {
    this.byDigest = new Map(entries);
  }

  /** Named keys from the keys file. */
  static ofKeys(records: readonly KeyRecord[]): CredentialIndex {
    return new CredentialIndex(records.map((r) => [r.sha256, r.limits === undefined ? { name: r.name } : { name: r.name, limits: r.limits }] as const));
  }

  /** Plaintext tokens (one per line), named by their line: `token-1`, `token-2`, ... */
  static ofTokens(tokens: readonly string[], prefix = "token"): CredentialIndex {
    return new CredentialIndex(tokens.map((t, i) => [hexDigest(t), { name: `${prefix}-${i + 1}` }] as const));
  }

  /** Several sources as one (keys file and tokens file together). */
  static merge(indexes: readonly CredentialIndex[]): CredentialIndex {
    return new CredentialIndex(indexes.flatMap((index) => [...index.byDigest]));
  }

  get size(): number {
    return this.byDigest.size;
  }

  /** A key with our prefix but a wrong checksum is refused without a lookup: a typo or a made-up key. */
  verify(candidate: string): Verdict {
    if (candidate.startsWith(KEY_PREFIX) && !isWellFormedKey(candidate)) return { ok: false, reason: "malformed" };
    const identity = this.byDigest.get(hexDigest(candidate));
    return identity === undefined ? { ok: false, reason: "invalid" } : { ok: true, identity };
  }
}
