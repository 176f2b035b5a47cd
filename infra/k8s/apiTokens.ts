import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { AppIdentity, appLabels } from "./labels";

/** The key of the tokens Secret; the proxy reads the file of that name (`TOKENS_FILE`). */
export const TOKENS_SECRET_KEY = "tokens";
/** Alphanumeric tokens of this length are URL-safe and carry about 285 bits. */
export const TOKEN_LENGTH = 48;

export interface ApiTokensArgs {
  /** Namespace of the tokens Secret. */
  readonly namespace: pulumi.Input<string>;
  /** Labels identity of the stack. */
  readonly app: AppIdentity;
  /** How many tokens are valid at once (2 while rotating). Defaults to `1`. */
  readonly count?: number;
  /** Number of the oldest valid token; raising it retires that token. Defaults to `0`. */
  readonly firstId?: number;
  /** Kubernetes provider for the Secret. */
  readonly provider?: k8s.Provider;
}

/** The numbers of the valid tokens: a rotation adds one at the end and later drops the first. */
export function tokenIds(firstId: number, count: number): number[] {
  if (!Number.isInteger(firstId) || firstId < 0) {
    throw new Error(`ApiTokens: firstId must be a whole number >= 0, got ${firstId}`);
  }
  if (!Number.isInteger(count) || count < 1) {
    throw new Error(`ApiTokens: count must be a whole number >= 1, got ${count}`);
  }
  return Array.from({ length: count }, (_, i) => firstId + i);
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
  /** The oldest valid token (secret). */
  public readonly token: pulumi.Output<string>;
  /** Every valid token, oldest first (secret). */
  public readonly tokens: pulumi.Output<string[]>;

  constructor(name: string, args: ApiTokensArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:ApiTokens", name, {}, opts);
    const ids = tokenIds(args.firstId ?? 0, args.count ?? 1);

    // Named by number, so adding or retiring one token never regenerates the others.
    const passwords = ids.map(
      (id) =>
        new random.RandomPassword(
          `${name}-${id}`,
          { length: TOKEN_LENGTH, special: false, upper: true, lower: true, numeric: true, minUpper: 4, minLower: 4, minNumeric: 4 },
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
