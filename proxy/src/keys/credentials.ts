import { createHash } from "node:crypto";
import { KEY_PREFIX, isWellFormedKey, type KeyLimits, type KeyRecord } from "./format";

/** Who a request is: the key's name (for logs, metrics and limits), never the key. */
export interface Identity {
  readonly name: string;
  readonly limits?: KeyLimits;
}

export type Verdict = { readonly ok: true; readonly identity: Identity } | { readonly ok: false; readonly reason: "malformed" | "invalid" };

const DIGEST_BYTES = 32;
const sha256 = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();

/**
 * Valid credentials as their SHA-256 digests, sorted in one buffer beside their identities: a check
 * costs one hash and a binary search (17 comparisons for 100,000 keys), and a large key file adds
 * one buffer and a name per key to the heap, not a map entry and a string per digest. Comparing
 * digests rather than keys keeps the lookup's timing independent of how much of a guess matches a
 * real key: the digest of a guess says nothing about any key.
 */
export class CredentialIndex {
  private constructor(
    private readonly digests: Buffer,
    private readonly identities: readonly Identity[],
  ) {}

  /** Builds the index from (digest, identity) pairs; the same digest twice keeps the first. */
  static of(entries: ReadonlyArray<readonly [digest: Buffer, identity: Identity]>): CredentialIndex {
    const sorted = [...entries].sort((a, b) => Buffer.compare(a[0], b[0]));
    const unique = sorted.filter((entry, i) => i === 0 || !entry[0].equals(sorted[i - 1][0]));
    const digests = Buffer.allocUnsafeSlow(unique.length * DIGEST_BYTES);
    unique.forEach(([digest], i) => digest.copy(digests, i * DIGEST_BYTES));
    return new CredentialIndex(digests, unique.map(([, identity]) => identity));
  }

  /** Named keys from the keys file. */
  static ofKeys(records: readonly KeyRecord[]): CredentialIndex {
    return CredentialIndex.of(
      records.map((r) => [Buffer.from(r.sha256, "hex"), r.limits === undefined ? { name: r.name } : { name: r.name, limits: r.limits }] as const),
    );
  }

  /** Plaintext tokens (one per line), named by their place: `token-1`, `token-2`, ... Only digests are kept. */
  static ofTokens(tokens: readonly string[], prefix = "token"): CredentialIndex {
    return CredentialIndex.of(tokens.map((t, i) => [sha256(t), { name: `${prefix}-${i + 1}` }] as const));
  }

  /** Several sources as one (keys file and tokens file together). */
  static merge(indexes: readonly CredentialIndex[]): CredentialIndex {
    if (indexes.length === 1) return indexes[0];
    return CredentialIndex.of(indexes.flatMap((index) => index.identities.map((identity, i) => [index.digestAt(i), identity] as const)));
  }

  get size(): number {
    return this.identities.length;
  }

  /** A key with our prefix but a wrong checksum is refused without a lookup: a typo or a made-up key. */
  verify(candidate: string): Verdict {
    if (candidate.startsWith(KEY_PREFIX) && !isWellFormedKey(candidate)) return { ok: false, reason: "malformed" };
    const probe = sha256(candidate);
    let low = 0;
    let high = this.identities.length - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const order = probe.compare(this.digests, mid * DIGEST_BYTES, mid * DIGEST_BYTES + DIGEST_BYTES);
      if (order === 0) return { ok: true, identity: this.identities[mid] };
      if (order > 0) low = mid + 1;
      else high = mid - 1;
    }
    return { ok: false, reason: "invalid" };
  }

  private digestAt(i: number): Buffer {
    return this.digests.subarray(i * DIGEST_BYTES, i * DIGEST_BYTES + DIGEST_BYTES);
  }
}
