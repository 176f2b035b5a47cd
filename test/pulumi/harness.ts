import { createHash } from "crypto";
import type * as PulumiModule from "@pulumi/pulumi";
import { Deployment, IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Secret } from "kubernetes-models/v1/Secret";
import { IService, Service } from "kubernetes-models/v1/Service";
import { Manifest, manifestOf, mapSecrets } from "../../stacks/manifests";

/** One resource the program registered, with the inputs it sent (secrets unwrapped by the mock monitor). */
export interface Recorded {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, unknown>;
  readonly provider?: string;
}

/** A stack output after the run. */
export interface OutputValue {
  readonly value: unknown;
  readonly secret: boolean;
}

export interface ProgramRun {
  readonly resources: Recorded[];
  readonly outputs: Record<string, OutputValue>;
  /** Every `pulumi.log.warn` message. */
  readonly warnings: string[];
  /** Provider functions the program tried to call (each also failed the call). */
  readonly calls: string[];
}

/** A deterministic 48-character alphanumeric token per resource name, like RandomPassword's result. */
export function fakeToken(name: string): string {
  return createHash("sha512").update(name).digest("base64").replace(/[^A-Za-z0-9]/g, "").slice(0, 48);
}

export const LB_HOSTNAME = "k8s-vllm-vllmauth-0123456789.elb.us-east-1.amazonaws.com";
export const PROXY_DIGEST = `sha256:${"ab".repeat(32)}`;

/** Computed state the providers would return, for the resource types the program uses. */
function providerState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const state: Record<string, unknown> = { ...inputs };
  if (type.startsWith("kubernetes:") && !type.startsWith("kubernetes:index")) {
    const metadata = { ...((inputs.metadata as Record<string, unknown> | undefined) ?? {}) };
    // Pulumi auto-names objects without metadata.name.
    metadata.name ??= `${name}-abc123`;
    state.metadata = metadata;
  }
  switch (type) {
    case "random:index/randomPassword:RandomPassword":
      state.result = fakeToken(name);
      break;
    case "kubernetes:core/v1:Service":
      state.status = { loadBalancer: { ingress: [{ hostname: LB_HOSTNAME }] } };
      break;
    case "docker-build:index:Image":
      state.digest = PROXY_DIGEST;
      state.ref = `${(inputs.tags as string[])[0]}@${PROXY_DIGEST}`;
      break;
  }
  return state;
}

/** Fully qualified config keys as the CLI would pass them. */
export type StackConfig = Record<string, string>;

/**
 * Runs stacks/index.ts under `pulumi.runtime.setMocks` with the given config, in a fresh module
 * registry, and returns what it registered and exported. Any provider function call fails the run.
 */
export async function runProgram(config: StackConfig, secretKeys: readonly string[] = []): Promise<ProgramRun> {
  jest.resetModules();
  const pulumi = require("@pulumi/pulumi") as typeof PulumiModule;
  const resources: Recorded[] = [];
  const warnings: string[] = [];
  const calls: string[] = [];

  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        resources.push({ type: args.type, name: args.name, inputs: args.inputs, ...(args.provider ? { provider: args.provider } : {}) });
        return { id: `${args.name}-id`, state: providerState(args.type, args.name, args.inputs) };
      },
      call: (args) => {
        calls.push(args.token);
        throw new Error(`unmocked provider function call: ${args.token}`);
      },
    },
    "vllm-auth",
    "dev",
    false,
  );
  pulumi.runtime.setAllConfig({ ...config }, [...secretKeys]);
  const originalWarn = pulumi.log.warn;
  pulumi.log.warn = (msg: string) => {
    warnings.push(msg);
    return Promise.resolve();
  };
  try {
    const program = require("../../stacks/index") as Record<string, unknown>;
    const outputs: Record<string, OutputValue> = {};
    for (const [key, value] of Object.entries(program)) {
      if (pulumi.Output.isInstance(value)) {
        const resolved = await new Promise<unknown>((resolve) => value.apply((v) => resolve(v)));
        outputs[key] = { value: resolved, secret: await pulumi.isSecret(value) };
      } else if (value !== undefined) {
        outputs[key] = { value, secret: false };
      }
    }
    await pulumi.runtime.disconnect();
    return { resources, outputs, warnings, calls };
  } finally {
    pulumi.log.warn = originalWarn;
  }
}

/** The config of a minimal `existing` stack. */
export function existingConfig(extra: StackConfig = {}): StackConfig {
  return {
    "vllm-auth:target": "existing",
    "vllm-auth:proxyImage": "ghcr.io/acme/vllm-auth-proxy:0.1.0",
    "vllm-auth:hfToken": "hf_testtoken_0123456789",
    ...extra,
  };
}

export function ofType(run: ProgramRun, type: string): Recorded[] {
  return run.resources.filter((r) => r.type === type);
}

export function single(run: ProgramRun, type: string): Recorded {
  const found = ofType(run, type);
  if (found.length !== 1) {
    throw new Error(`expected one ${type}, found ${found.length}`);
  }
  return found[0];
}

/** The Kubernetes objects of a run as manifests, secret values revealed. */
export function manifests(run: ProgramRun): Manifest[] {
  return run.resources
    .map((r) => manifestOf(r.type, mapSecrets(r.inputs, (v) => v) as Record<string, unknown>, r.name))
    .filter((m): m is Manifest => m !== undefined);
}

export function manifestOfKind(run: ProgramRun, kind: string, name?: string): Manifest {
  const found = manifests(run).filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
  if (found.length !== 1) {
    throw new Error(`expected one ${kind}${name ? ` named ${name}` : ""}, found ${found.length}`);
  }
  return found[0];
}

type Validatable = { validate(): void };
const MODELS: Record<string, (m: Manifest) => Validatable> = {
  "v1/Namespace": (m) => new Namespace(m as ConstructorParameters<typeof Namespace>[0]),
  "v1/Secret": (m) => new Secret(m as ConstructorParameters<typeof Secret>[0]),
  "v1/Service": (m) => new Service(m as ConstructorParameters<typeof Service>[0]),
  "apps/v1/Deployment": (m) => new Deployment(m as ConstructorParameters<typeof Deployment>[0]),
  "policy/v1/PodDisruptionBudget": (m) => new PodDisruptionBudget(m as ConstructorParameters<typeof PodDisruptionBudget>[0]),
};

/** Validates a manifest against the Kubernetes OpenAPI schema; an unknown kind fails so that new kinds get a model. */
export function validateManifest(m: Manifest): void {
  const model = MODELS[`${m.apiVersion}/${m.kind}`];
  if (model === undefined) {
    throw new Error(`no schema model for ${m.apiVersion} ${m.kind}: add it to test/pulumi/harness.ts`);
  }
  model(m).validate();
}

/** The run's one Deployment, typed by the Kubernetes schema models. */
export function deploymentOf(run: ProgramRun): IDeployment {
  return manifestOfKind(run, "Deployment") as unknown as IDeployment;
}

export function serviceOf(run: ProgramRun): IService {
  return manifestOfKind(run, "Service") as unknown as IService;
}

export function podSpec(deployment: IDeployment): IPodSpec {
  const spec = deployment.spec?.template.spec;
  if (spec === undefined) {
    throw new Error("the Deployment has no pod spec");
  }
  return spec;
}

/** Container by name in a Deployment. */
export function container(deployment: IDeployment, name: string): IContainer {
  const found = podSpec(deployment).containers.find((c) => c.name === name);
  if (found === undefined) {
    throw new Error(`no container ${name}`);
  }
  return found;
}
