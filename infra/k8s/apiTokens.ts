import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { AppIdentity, appLabels } from "./labels";

/** The key of the tokens Secret; the proxy reads the file of that name (`TOKENS_FILE`). */
export const TOKENS_SECRET_KEY = "tokens";
/** Alphanumeric tokens of this length are URL-safe and carry about 285 bits. */
export const TOKEN_LENGTH = 48;

/** One named token and its generation: raising the generation replaces that token alone. */
export interface ApiTokenName {
  readonly name: string;
  readonly generation: number;
}

export interface ApiTokensArgs {
  /** Namespace of the tokens Secret. */
  readonly namespace: pulumi.Input<string>;
  /** Labels identity of the stack. */
  readonly app: AppIdentity;
  /** One token per name, in this order; the first is `token`. */
  readonly keys: readonly ApiTokenName[];
  /** Kubernetes provider for the Secret. */
  readonly provider?: k8s.Provider;
}

/** Checks the names: at least one, each unique, generations whole numbers >= 0. */
export function validateTokenNames(keys: readonly ApiTokenName[]): void {
  if (keys.length === 0) {
    throw new Error("ApiTokens: keys is empty; name at least one key");
  }
  const seen = new Set<string>();
  for (const key of keys) {
    if (seen.has(key.name)) throw new Error(`ApiTokens: key "${key.name}" is listed twice`);
    seen.add(key.name);
    if (!Number.isInteger(key.generation) || key.generation < 0) {
      throw new Error(`ApiTokens: generation of key "${key.name}" must be a whole number >= 0, got ${key.generation}`);
    }
  }
}

/** The Secret's file content: one token per line, as the proxy's token file expects. */
export function tokensFileContent(tokens: readonly string[]): string {
  return tokens.map((t) => `${t}\n`).join("");
}

/**
 * Bearer tokens for the API: one `RandomPassword` per token, all of them in one Kubernetes Secret
 * that the proxy mounts as a file. Tokens leave this component only as secret Outputs.
 */
export class ApiTokens extends pulumi.ComponentResource {
  /** Name of the Secret holding the tokens file. */
  public readonly secretName: pulumi.Output<string>;
  /** The first key's token (secret). */
  public readonly token: pulumi.Output<string>;
  /** Every key's token, in the keys' order (secret). */
  public readonly tokens: pulumi.Output<string[]>;

  constructor(name: string, args: ApiTokensArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:ApiTokens", name, {}, opts);
    validateTokenNames(args.keys);

    // Named by key, so adding or removing one key never regenerates the others; a new generation replaces one.
    const passwords = args.keys.map(
      (key) =>
        new random.RandomPassword(
          `${name}-${key.name}`,
          {
            length: TOKEN_LENGTH,
            special: false,
            upper: true,
            lower: true,
            numeric: true,
            minUpper: 4,
            minLower: 4,
            minNumeric: 4,
            keepers: { generation: String(key.generation) },
          },
          { parent: this },
        ),
    );
    this.tokens = pulumi.secret(pulumi.all(passwords.map((p) => p.result)));
    this.token = pulumi.secret(passwords[0].result);

    const secret = new k8s.core.v1.Secret(
      `${name}-secret`,
      {
        metadata: { name, namespace: args.namespace, labels: appLabels(args.app, "api-tokens") },
        type: "Opaque",
        stringData: { [TOKENS_SECRET_KEY]: this.tokens.apply(tokensFileContent) },
      },
      { parent: this, provider: args.provider },
    );
    this.secretName = secret.metadata.name;

    this.registerOutputs({ secretName: this.secretName, token: this.token, tokens: this.tokens });
  }
}
