import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { AppIdentity, appLabels } from "./labels";
import { INTERNAL_TOKEN_FILE_NAME } from "./proxy";

/** The internal credential's Secret (CONTRACT), mounted only into gateway and sidecar pods. */
export const INTERNAL_TOKEN_SECRET_NAME = "vllm-internal-token";
/** Alphanumeric tokens of this length are header-safe and carry about 285 bits. */
export const INTERNAL_TOKEN_LENGTH = 48;

export interface InternalCredentialArgs {
  /** Namespace of the Secret. */
  readonly namespace: pulumi.Input<string>;
  /** Labels identity of the stack. */
  readonly app: AppIdentity;
  /** Raising it replaces the token; the previous one stays valid until the next raise. Defaults to `0`. */
  readonly generation?: number;
  /** Kubernetes provider for the Secret. */
  readonly provider?: k8s.Provider;
}

/** The generations whose tokens are valid: the current one first, then the one it replaces. */
export function validGenerations(generation: number): number[] {
  if (!Number.isInteger(generation) || generation < 0) {
    throw new Error(`InternalCredential: generation must be a whole number >= 0, got ${generation}`);
  }
  return generation === 0 ? [0] : [generation, generation - 1];
}

/** The Secret's file: one token per line, current first (the gateway sends the first; the sidecar accepts any). */
export function internalTokenFile(tokens: readonly string[]): string {
  return tokens.map((t) => `${t}\n`).join("");
}

/**
 * The credential gateways present to sidecars in place of the client's key. A rotation keeps the
 * previous token valid, so a sidecar that still has the old file and a gateway that already has the
 * new one (or the reverse) keep talking while the kubelet refreshes the mounts.
 */
export class InternalCredential extends pulumi.ComponentResource {
  /** Name of the Secret holding `token`. */
  public readonly secretName: pulumi.Output<string>;

  constructor(name: string, args: InternalCredentialArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:InternalCredential", name, {}, opts);
    const generations = validGenerations(args.generation ?? 0);

    // Named by generation: a raise adds the new token and retires the one two generations back.
    const tokens = generations.map(
      (g) =>
        new random.RandomPassword(
          `${name}-${g}`,
          { length: INTERNAL_TOKEN_LENGTH, special: false, upper: true, lower: true, numeric: true },
          { parent: this, additionalSecretOutputs: ["result"] },
        ).result,
    );

    const secret = new k8s.core.v1.Secret(
      `${name}-secret`,
      {
        metadata: { name: INTERNAL_TOKEN_SECRET_NAME, namespace: args.namespace, labels: appLabels(args.app, "internal-credential") },
        type: "Opaque",
        stringData: { [INTERNAL_TOKEN_FILE_NAME]: pulumi.secret(pulumi.all(tokens).apply(internalTokenFile)) },
      },
      { parent: this, provider: args.provider },
    );
    this.secretName = secret.metadata.name;

    this.registerOutputs({ secretName: this.secretName });
  }
}
