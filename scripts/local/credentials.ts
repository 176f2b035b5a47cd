/**
 * The credentials of a local run, as the cluster has them: a generated key per name (the gateway's
 * keys file holds only names, digests and limits), the internal credential between gateway and
 * sidecars, and the user's --token-file, all in one private temporary directory removed on exit.
 */
import { randomInt } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { formatKey, KEY_RANDOM_LENGTH, keyDigest, renderKeysFile, type KeyLimits } from "../../proxy/src/keys/format";
import type { LocalKeySpec } from "./args";
import { generateToken, readTokenFile, type TokenFile } from "./tokens";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** A key in the project's format (`vllmauth_` + 36 random base62 characters + checksum), each character uniform. */
export function generateKey(): string {
  return formatKey(Array.from({ length: KEY_RANDOM_LENGTH }, () => BASE62[randomInt(BASE62.length)]).join(""));
}

export interface GeneratedKey {
  readonly name: string;
  readonly key: string;
  readonly limits?: KeyLimits;
}

export interface LocalCredentials {
  /** The private (0700) temporary directory. */
  readonly dir: string;
  /** In the order of --keys. */
  readonly keys: readonly GeneratedKey[];
  /** The gateway's KEYS_FILE; absent when no key is generated (--token-file alone). */
  readonly keysFile?: string;
  /** INTERNAL_TOKEN_FILE of the gateway and of every sidecar. */
  readonly internalTokenFile: string;
  /** --token-file, given to the gateway as TOKENS_FILE and left in place on exit. */
  readonly tokens?: TokenFile;
  /** Removes the temporary directory; safe to call twice. */
  remove(): void;
}

/** Checks --token-file first (a usage error leaves nothing behind), then writes the generated files 0600. */
export function createCredentials(specs: readonly LocalKeySpec[], tokenFile: string | undefined): LocalCredentials {
  const tokens = tokenFile === undefined ? undefined : readTokenFile(tokenFile);
  const dir = mkdtempSync(path.join(os.tmpdir(), "vllm-auth-local-"));
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const keys = specs.map((spec): GeneratedKey => ({ ...spec, key: generateKey() }));
    let keysFile: string | undefined;
    if (keys.length > 0) {
      keysFile = path.join(dir, "keys.json");
      const records = keys.map((k) => ({ name: k.name, sha256: keyDigest(k.key), ...(k.limits === undefined ? {} : { limits: k.limits }) }));
      writeFileSync(keysFile, renderKeysFile(records), { mode: 0o600, flag: "wx" });
    }
    const internalTokenFile = path.join(dir, "internal-token");
    writeFileSync(internalTokenFile, `${generateToken()}\n`, { mode: 0o600, flag: "wx" });
    return { dir, keys, keysFile, internalTokenFile, tokens, remove };
  } catch (error) {
    remove();
    throw error;
  }
}
