import { KEY_NAME_PATTERN, KEYS_FILE_VERSION, LIMIT_NAMES, type KeyLimits, type KeyRecord } from "./format";
import { CredentialFileError } from "./watchedFile";

const HEX_DIGEST = /^[0-9a-f]{64}$/;
const fail = (file: string, message: string): never => {
  throw new CredentialFileError("KEYS_FILE_INVALID", `${file}: ${message}`);
};
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function parseLimits(file: string, where: string, value: unknown): KeyLimits | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) return fail(file, `${where}: "limits" must be an object such as {"rpm": 60}`);
  const limits: Record<string, number> = {};
  for (const [name, limit] of Object.entries(value)) {
    if (!(LIMIT_NAMES as readonly string[]).includes(name)) fail(file, `${where}: unknown limit "${name}" (known: ${LIMIT_NAMES.join(", ")})`);
    if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1) fail(file, `${where}: limit ${name} must be a whole number of at least 1`);
    limits[name] = limit as number;
  }
  return Object.freeze(limits);
}

/**
 * The keys file (format.ts): every entry a unique name and a lowercase hex SHA-256 digest, with
 * optional limits. Any bad entry rejects the whole file, so a typo never silently revokes a key.
 */
export function parseKeysFile(text: string, file: string): readonly KeyRecord[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return fail(file, "not JSON; expected {\"version\":1,\"keys\":[{\"name\":...,\"sha256\":...}]}");
  }
  if (!isObject(doc)) return fail(file, "expected a JSON object with version and keys");
  if (doc.version !== KEYS_FILE_VERSION) return fail(file, `version ${JSON.stringify(doc.version)} is not supported; expected ${KEYS_FILE_VERSION}`);
  if (!Array.isArray(doc.keys) || doc.keys.length === 0) return fail(file, "no keys: \"keys\" must list at least one key");
  const names = new Set<string>();
  const digests = new Set<string>();
  const records = doc.keys.map((entry: unknown, i: number): KeyRecord => {
    const where = `key ${i + 1}`;
    if (!isObject(entry)) return fail(file, `${where} is not an object`);
    for (const field of Object.keys(entry)) {
      if (field !== "name" && field !== "sha256" && field !== "limits") fail(file, `${where}: unknown field "${field}" (fields: name, sha256, limits)`);
    }
    const { name, sha256 } = entry;
    if (typeof name !== "string" || !KEY_NAME_PATTERN.test(name)) return fail(file, `${where}: name must be lowercase letters, digits and dashes (at most 32)`);
    if (names.has(name)) fail(file, `${where}: the name "${name}" is listed twice`);
    if (typeof sha256 !== "string" || !HEX_DIGEST.test(sha256)) return fail(file, `${where} (${name}): sha256 must be 64 lowercase hex digits`);
    if (digests.has(sha256)) fail(file, `${where} (${name}): the same digest is listed twice`);
    names.add(name);
    digests.add(sha256);
    const limits = parseLimits(file, `${where} (${name})`, entry.limits);
    return Object.freeze(limits === undefined ? { name, sha256 } : { name, sha256, limits });
  });
  return Object.freeze(records);
}
