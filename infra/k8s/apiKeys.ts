import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { KEY_NAME_PATTERN, KEY_RANDOM_LENGTH, KeyLimits, KeyRecord, LIMIT_NAMES, formatKey, keyDigest, renderKeysFile } from "../../proxy/src/keys/format";
import { AppIdentity, appLabels } from "./labels";
import { KEYS_FILE_NAME } from "./proxy";

/** The gateway's keys Secret (CONTRACT): names, digests and limits, never a key. */
export const KEYS_SECRET_NAME = "vllm-api-keys";

/** One named API key as config spells it. */
export interface ApiKeySpec {
  /** Lowercase letters, digits and dashes (`KEY_NAME_PATTERN`); names the key in logs and metrics. */
  readonly name: string;
  /** Raising it replaces this key alone. */
  readonly generation: number;
  /** Requests per minute; unset means no limit. */
  readonly rpm?: number;
  /** Prompt plus completion tokens per minute; unset means no limit. */
  readonly tpm?: number;
  /** Requests in flight at once; unset means no limit. */
  readonly concurrency?: number;
}

export interface ApiKeysArgs {
  /** Namespace of the keys Secret. */
  readonly namespace: pulumi.Input<string>;
  /** Labels identity of the gateway that mounts the Secret. */
  readonly app: AppIdentity;
  /** The keys, in config order: the first one is `token`. */
  readonly keys: readonly ApiKeySpec[];
  /** Kubernetes provider for the Secret. */
  readonly provider?: k8s.Provider;
}

/** Every problem with a keys list, each naming the key and what to write instead. */
export function apiKeysProblems(keys: readonly ApiKeySpec[]): string[] {
  const problems: string[] = [];
  if (keys.length === 0) problems.push("apiKeys is empty: name at least one key, e.g. [{name: default}]");
  const seen = new Set<string>();
  for (const key of keys) {
    if (!KEY_NAME_PATTERN.test(key.name)) {
      problems.push(`key name "${key.name}": use 1 to 32 lowercase letters, digits and dashes, starting and ending with a letter or digit`);
    }
    if (seen.has(key.name)) problems.push(`key name "${key.name}" appears twice: each key needs its own name`);
    seen.add(key.name);
    if (!Number.isInteger(key.generation) || key.generation < 0) {
      problems.push(`key "${key.name}": generation must be a whole number >= 0, got ${key.generation}`);
    }
    for (const limit of LIMIT_NAMES) {
      const value = key[limit];
      if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
        problems.push(`key "${key.name}": ${limit} must be a whole number >= 1 or unset, got ${value}`);
      }
    }
  }
  return problems;
}

/** A key's limits as the keys file carries them; undefined when it has none. */
export function keyLimits(key: ApiKeySpec): KeyLimits | undefined {
  const limits = Object.fromEntries(LIMIT_NAMES.filter((n) => key[n] !== undefined).map((n) => [n, key[n]]));
  return Object.keys(limits).length === 0 ? undefined : (limits as KeyLimits);
}

/** Whether any key has a limit: then the gateways share counters in Valkey. */
export function anyKeyLimited(keys: readonly ApiKeySpec[]): boolean {
  return keys.some((k) => keyLimits(k) !== undefined);
}

/** The keys file for these keys' texts (config order, same length): digests and limits only. */
export function keysFileFor(keys: readonly ApiKeySpec[], texts: readonly string[]): string {
  const records: KeyRecord[] = keys.map((key, i) => {
    const limits = keyLimits(key);
    return { name: key.name, sha256: keyDigest(texts[i]), ...(limits !== undefined ? { limits } : {}) };
  });
  return renderKeysFile(records);
}

/**
 * API keys as identities: one generated key per name, revocable and rotatable alone, and the
 * gateway's Secret of names, SHA-256 digests and limits. Keys leave this component only as secret Outputs.
 */
export class ApiKeys extends pulumi.ComponentResource {
  /** Name of the Secret holding `keys.json`. */
  public readonly secretName: pulumi.Output<string>;
  /** Every key by name (secret). */
  public readonly apiKeys: pulumi.Output<Record<string, string>>;
  /** The first key in config order (secret): what the seed's commands use. */
  public readonly token: pulumi.Output<string>;

  constructor(name: string, args: ApiKeysArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:ApiKeys", name, {}, opts);
    const problems = apiKeysProblems(args.keys);
    if (problems.length > 0) throw new Error(`ApiKeys: ${problems.join("; ")}`);

    // Named by the key's name, so adding or removing one name never touches another key.
    const texts = args.keys.map((key) => {
      const password = new random.RandomPassword(
        `${name}-${key.name}`,
        {
          length: KEY_RANDOM_LENGTH,
          special: false,
          upper: true,
          lower: true,
          numeric: true,
          // A new generation is a new key for this name alone.
          keepers: { generation: String(key.generation) },
        },
        { parent: this, additionalSecretOutputs: ["result"] },
      );
      return password.result.apply(formatKey);
    });

    const all = pulumi.all(texts);
    // Wrapped explicitly: under mocks (and for any provider that forgets) nothing else marks them secret.
    this.apiKeys = pulumi.secret(all.apply((ks) => Object.fromEntries(args.keys.map((key, i) => [key.name, ks[i]]))));
    this.token = pulumi.secret(texts[0]);

    const secret = new k8s.core.v1.Secret(
      `${name}-secret`,
      {
        metadata: { name: KEYS_SECRET_NAME, namespace: args.namespace, labels: appLabels(args.app, "api-keys") },
        type: "Opaque",
        stringData: { [KEYS_FILE_NAME]: pulumi.secret(all.apply((ks) => keysFileFor(args.keys, ks))) },
      },
      { parent: this, provider: args.provider },
    );
    this.secretName = secret.metadata.name;

    this.registerOutputs({ secretName: this.secretName, apiKeys: this.apiKeys, token: this.token });
  }
}
