import { createHash } from "crypto";
import type * as PulumiModule from "@pulumi/pulumi";
import { EC2NodeClass } from "@kubernetes-models/karpenter/karpenter.k8s.aws/v1/EC2NodeClass";
import { NodePool } from "@kubernetes-models/karpenter/karpenter.sh/v1/NodePool";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor";
import { Deployment, IDeployment } from "kubernetes-models/apps/v1/Deployment";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Secret } from "kubernetes-models/v1/Secret";
import { IService, Service } from "kubernetes-models/v1/Service";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { Manifest, manifestOf, mapSecrets } from "../../stacks/manifests";
import { SchemaModel, validateStrictly } from "./schema";

/** One resource the program registered, with the inputs it sent (secrets in their envelopes: see `reveal`). */
export interface Recorded {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, unknown>;
  readonly provider?: string;
  /** URNs of the resources it waits for (`dependsOn` and the resources behind its input Outputs). */
  readonly dependencies?: readonly string[];
  /** The `ignoreChanges` option. */
  readonly ignoreChanges?: readonly string[];
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
  /** Provider functions the program called, answered or not. */
  readonly calls: string[];
}

/** What a mock returns for one resource: its id and its state (inputs plus computed outputs). */
export interface MockResult {
  readonly id: string;
  readonly state: Record<string, unknown>;
}

/** Answers beyond the serving stack's own resources, e.g. the AWS provider's (test/aws/mocks.ts). */
export interface ProviderMocks {
  /** Answers a provider function call; it must throw for every token it does not answer on purpose. */
  readonly call?: (args: PulumiModule.runtime.MockCallArgs) => Record<string, unknown>;
  /** Id and computed outputs of the resource types it knows; undefined leaves the type to `servingState`. */
  readonly resource?: (args: PulumiModule.runtime.MockResourceArgs) => MockResult | undefined;
}

/** A deterministic alphanumeric token per resource name (and keepers), like RandomPassword's result of that length. */
export function fakeToken(name: string, length = 48, keepers: unknown = undefined): string {
  const seed = keepers === undefined ? name : `${name}|${JSON.stringify(keepers)}`;
  return createHash("sha512").update(seed).digest("base64").replace(/[^A-Za-z0-9]/g, "").slice(0, length);
}

export const LB_HOSTNAME = "k8s-vllm-vllmauth-0123456789.elb.us-east-1.amazonaws.com";
export const PROXY_DIGEST = `sha256:${"ab".repeat(32)}`;

/** Id and state the providers would return for the serving stack's resource types (Kubernetes, random, docker-build). */
export function servingState(type: string, name: string, inputs: Record<string, unknown>): MockResult {
  const state: Record<string, unknown> = { ...inputs };
  if (type.startsWith("kubernetes:") && !type.startsWith("kubernetes:index") && !type.startsWith("kubernetes:helm.sh/")) {
    const metadata = { ...((inputs.metadata as Record<string, unknown> | undefined) ?? {}) };
    // Pulumi auto-names objects without metadata.name.
    metadata.name ??= `${name}-abc123`;
    state.metadata = metadata;
  }
  switch (type) {
    case "random:index/randomPassword:RandomPassword":
      // A change of keepers is a replacement: a new value, as the provider would generate.
      state.result = fakeToken(name, typeof inputs.length === "number" ? inputs.length : 48, inputs.keepers);
      break;
    case "random:index/randomId:RandomId":
      state.hex = `${String(inputs.prefix ?? "")}0a1b2c3d`;
      break;
    case "kubernetes:core/v1:Service":
      state.status = { loadBalancer: { ingress: [{ hostname: LB_HOSTNAME }] } };
      break;
    case "docker-build:index:Image":
      state.digest = PROXY_DIGEST;
      state.ref = `${(inputs.tags as string[])[0]}@${PROXY_DIGEST}`;
      break;
  }
  return { id: `${name}-id`, state };
}

/** A mock's answer for one registration: what `known` computes for its type, else the serving stack's state. */
export function mockResource(args: PulumiModule.runtime.MockResourceArgs, known?: ProviderMocks["resource"]): MockResult {
  const answer = known?.(args);
  return answer ? { id: answer.id, state: { ...args.inputs, ...answer.state } } : servingState(args.type, args.name, args.inputs);
}

/** A mock's answer for one provider function call: `handler`'s, or an error naming the unmocked token. */
export function mockCall(args: PulumiModule.runtime.MockCallArgs, handler?: ProviderMocks["call"]): Record<string, unknown> {
  if (handler === undefined) throw new Error(`unmocked provider function call: ${args.token}`);
  return handler(args);
}

/** The value of an Output, once known. */
export function valueOf<T>(output: PulumiModule.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((v) => resolve(v)));
}

/** Waits until `count` (registrations and calls so far) stops growing: some happen in later ticks. */
export async function settle(count: () => number): Promise<void> {
  let seen = -1;
  let quiet = 0;
  while (quiet < 5) {
    await new Promise((r) => setTimeout(r, 5));
    const now = count();
    quiet = now === seen ? quiet + 1 : 0;
    seen = now;
  }
}

/** A recorded input with every secret envelope replaced by its value, for assertions on content. */
export function reveal(value: unknown): unknown {
  return mapSecrets(value, (v) => v);
}

/** The request fields the mock monitor does not hand to `newResource`. */
interface RegistrationOptions {
  readonly dependencies: readonly string[];
  readonly ignoreChanges: readonly string[];
}

/** A resource registration as the mock monitor receives it. */
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getDependenciesList(): string[];
  getIgnorechangesList(): string[];
}

/** Keeps, per `type::name`, what each registration waits for and ignores: mocks' `newResource` does not see them. */
function recordOptions(pulumi: typeof PulumiModule, into: Map<string, RegistrationOptions>): void {
  const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource(req: RegisterRequest, callback: unknown): unknown };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    into.set(`${req.getType()}::${req.getName()}`, { dependencies: req.getDependenciesList(), ignoreChanges: req.getIgnorechangesList() });
    return register(req, callback);
  };
}

/** Whether `r` waits for the resource of `type` named `name`. */
export function dependsOn(r: Recorded, type: string, name: string): boolean {
  return (r.dependencies ?? []).some((urn) => urn.endsWith(`${type}::${name}`));
}

/** Fully qualified config keys as the CLI would pass them. */
export type StackConfig = Record<string, string>;

/**
 * Runs stacks/index.ts under `pulumi.runtime.setMocks` with the given config, in a fresh module
 * registry, and returns what it registered and exported. A provider function call that `mocks.call`
 * does not answer (every call, without it) fails the run.
 */
export async function runProgram(config: StackConfig, secretKeys: readonly string[] = [], mocks: ProviderMocks = {}): Promise<ProgramRun> {
  const exitHooksBefore = new Set(process.listeners("exit"));
  jest.resetModules();
  const pulumi = require("@pulumi/pulumi") as typeof PulumiModule;
  const resources: Recorded[] = [];
  const warnings: string[] = [];
  const calls: string[] = [];
  const options = new Map<string, RegistrationOptions>();
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        const recorded = options.get(`${args.type}::${args.name}`);
        resources.push({
          type: args.type,
          name: args.name,
          inputs: args.inputs,
          ...(args.provider ? { provider: args.provider } : {}),
          dependencies: recorded?.dependencies ?? [],
          ignoreChanges: recorded?.ignoreChanges ?? [],
        });
        return mockResource(args, mocks.resource);
      },
      call: (args) => {
        calls.push(args.token);
        return mockCall(args, mocks.call);
      },
    },
    "vllm-auth",
    "dev",
    false,
  );
  recordOptions(pulumi, options);
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
        outputs[key] = { value: await valueOf(value), secret: await pulumi.isSecret(value) };
      } else if (value !== undefined) {
        outputs[key] = { value, secret: false };
      }
    }
    await settle(() => resources.length + calls.length);
    await pulumi.runtime.disconnect();
    return { resources, outputs, warnings, calls };
  } finally {
    pulumi.log.warn = originalWarn;
    // Each fresh SDK copy hooks process exit (its promise-leak report); a discarded copy's hook must go with it.
    for (const hook of process.listeners("exit")) {
      if (!exitHooksBefore.has(hook)) process.removeListener("exit", hook);
    }
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

/** The one resource of `type` named `name`; fails with the names registered when absent. */
export function named(run: ProgramRun, type: string, name: string): Recorded {
  const found = run.resources.find((r) => r.type === type && r.name === name);
  if (found === undefined) {
    throw new Error(`no ${type} named ${name}; registered: ${ofType(run, type).map((r) => r.name).join(", ") || "none"}`);
  }
  return found;
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
    .map((r) => manifestOf(r.type, reveal(r.inputs) as Record<string, unknown>, r.name))
    .filter((m): m is Manifest => m !== undefined);
}

export function manifestOfKind(run: ProgramRun, kind: string, name?: string): Manifest {
  const found = manifests(run).filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
  if (found.length !== 1) {
    throw new Error(`expected one ${kind}${name ? ` named ${name}` : ""}, found ${found.length}`);
  }
  return found[0];
}

const MODELS: Record<string, (m: Manifest) => SchemaModel> = {
  "v1/Namespace": (m) => new Namespace(m as ConstructorParameters<typeof Namespace>[0]),
  "v1/Secret": (m) => new Secret(m as ConstructorParameters<typeof Secret>[0]),
  "v1/Service": (m) => new Service(m as ConstructorParameters<typeof Service>[0]),
  "apps/v1/Deployment": (m) => new Deployment(m as ConstructorParameters<typeof Deployment>[0]),
  "policy/v1/PodDisruptionBudget": (m) => new PodDisruptionBudget(m as ConstructorParameters<typeof PodDisruptionBudget>[0]),
  "networking.k8s.io/v1/NetworkPolicy": (m) => new NetworkPolicy(m as ConstructorParameters<typeof NetworkPolicy>[0]),
  // Custom resources: the @kubernetes-models packages compile each CRD's schema.
  "karpenter.sh/v1/NodePool": (m) => new NodePool(m as unknown as ConstructorParameters<typeof NodePool>[0]),
  "karpenter.k8s.aws/v1/EC2NodeClass": (m) => new EC2NodeClass(m as unknown as ConstructorParameters<typeof EC2NodeClass>[0]),
  "v1/ConfigMap": (m) => new ConfigMap(m as ConstructorParameters<typeof ConfigMap>[0]),
  "keda.sh/v1alpha1/ScaledObject": (m) => new ScaledObject(m as unknown as ConstructorParameters<typeof ScaledObject>[0]),
  "monitoring.coreos.com/v1/PodMonitor": (m) => new PodMonitor(m as unknown as ConstructorParameters<typeof PodMonitor>[0]),
};

/** The schema a kind is checked against, as failure messages name it. */
function schemaOf(apiVersion: string): string {
  const builtIn = !apiVersion.includes(".") || /\.k8s\.io\//.test(apiVersion);
  return builtIn ? "the Kubernetes schema" : `the ${apiVersion.split("/")[0]} CRD schema`;
}

/**
 * Validates a manifest against the Kubernetes OpenAPI schema, failing on any field the schema does not
 * define (a misspelt `readinesProbe`); an unknown kind fails so that new kinds get a model.
 */
export function validateManifest(m: Manifest): void {
  const model = MODELS[`${m.apiVersion}/${m.kind}`];
  if (model === undefined) {
    throw new Error(`no schema model for ${m.apiVersion} ${m.kind}: add it to test/pulumi/harness.ts`);
  }
  validateStrictly(model(m), `${m.apiVersion} ${m.kind} ${String(m.metadata.name)}`, schemaOf(m.apiVersion));
}

/** A Deployment of the run (the vLLM replicas unless named), typed by the Kubernetes schema models. */
export function deploymentOf(run: ProgramRun, name = "vllm"): IDeployment {
  return manifestOfKind(run, "Deployment", name) as unknown as IDeployment;
}

/** A Service of the run (the public load balancer unless named). */
export function serviceOf(run: ProgramRun, name = "vllm-auth"): IService {
  return manifestOfKind(run, "Service", name) as unknown as IService;
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
