/**
 * API keys and the keys file: the one definition both the gateway (which checks keys) and the
 * Pulumi program (which generates them and writes the gateway's Secret) use.
 *
 * A key is `vllmauth_` + 36 random base62 characters + a 6-character base62 CRC-32 of the random
 * part, like GitHub's and Stripe's tokens: the prefix lets secret scanners find a leaked key, and
 * the checksum lets the gateway refuse a mistyped or made-up key without a lookup.
 */
import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";

export const KEY_PREFIX = "vllmauth_";
export const KEY_RANDOM_LENGTH = 36;
export const KEY_CHECKSUM_LENGTH = 6;
export const KEY_LENGTH = KEY_PREFIX.length + KEY_RANDOM_LENGTH + KEY_CHECKSUM_LENGTH;

/** A key's name: lowercase letters, digits and dashes, at most 32; safe in logs, metric labels and config. */
export const KEY_NAME_PATTERN = /^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$/;

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE62_CODES = new Uint8Array(128);
for (let i = 0; i < BASE62.length; i++) BASE62_CODES[BASE62.charCodeAt(i)] = 1;

function isBase62(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || BASE62_CODES[c] !== 1) return false;
  }
  return true;
}

/** The 6-character base62 CRC-32 of a key's random part, zero-padded on the left. */
export function keyChecksum(random: string): string {
  let value = crc32(random) >>> 0;
  let out = "";
  for (let i = 0; i < KEY_CHECKSUM_LENGTH; i++) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/** The key for 36 random base62 characters (for example a RandomPassword with only letters and digits). */
export function formatKey(random: string): string {
  if (random.length !== KEY_RANDOM_LENGTH || !isBase62(random, 0, random.length)) {
    throw new Error(`an API key's random part must be ${KEY_RANDOM_LENGTH} letters and digits`);
  }
  return KEY_PREFIX + random + keyChecksum(random);
}

/** Prefix, length, alphabet and checksum: true for every key `formatKey` makes, and almost no typo. */
export function isWellFormedKey(candidate: string): boolean {
  if (candidate.length !== KEY_LENGTH || !candidate.startsWith(KEY_PREFIX)) return false;
  if (!isBase62(candidate, KEY_PREFIX.length, KEY_LENGTH)) return false;
  const random = candidate.slice(KEY_PREFIX.length, KEY_PREFIX.length + KEY_RANDOM_LENGTH);
  return keyChecksum(random) === candidate.slice(KEY_PREFIX.length + KEY_RANDOM_LENGTH);
}

/** What the gateway stores of a key: the hex SHA-256 of its text. */
export function keyDigest(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** Optional per-key limits; each is a whole number of at least 1. */
export interface KeyLimits {
  /** Requests per minute. */
  readonly rpm?: number;
  /** Prompt plus completion tokens per minute. */
  readonly tpm?: number;
  /** Requests in flight at once. */
  readonly concurrency?: number;
}

export const LIMIT_NAMES = ["rpm", "tpm", "concurrency"] as const;

/** One entry of the keys file: a name, the key's digest, and its limits. Never the key itself. */
export interface KeyRecord {
  readonly name: string;
  readonly sha256: string;
  readonly limits?: KeyLimits;
}

/** Version 1 of the keys file, `KEYS_FILE`: `{"version":1,"keys":[{"name","sha256","limits"?}]}`. */
export const KEYS_FILE_VERSION = 1;

/** The keys file's text for these records, in a stable order (names sorted). */
export function renderKeysFile(records: readonly KeyRecord[]): string {
  const keys = [...records]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((r) => {
      const limits = r.limits === undefined ? undefined : Object.fromEntries(LIMIT_NAMES.filter((n) => r.limits?.[n] !== undefined).map((n) => [n, r.limits?.[n]]));
      return limits === undefined || Object.keys(limits).length === 0 ? { name: r.name, sha256: r.sha256 } : { name: r.name, sha256: r.sha256, limits };
    });
  return `${JSON.stringify({ version: KEYS_FILE_VERSION, keys }, null, 2)}\n`;
}
