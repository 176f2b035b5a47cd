import { ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { AnalyzerClient } from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import {
  AnalyzeRequest,
  AnalyzeResponse,
  AnalyzerInfo,
  AnalyzerResource,
  AnalyzerResourceOptions,
  AnalyzeStackRequest,
  EnforcementLevel,
} from "@pulumi/pulumi/proto/analyzer_pb";
import { ResourceInput } from "../../infra/policy/values";

export const PACK_DIR = path.resolve(__dirname, "../../infra/policy");

/** The value the engine sends for a string that is unknown during preview. */
export const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export interface Diagnostic {
  readonly policy: string;
  readonly message: string;
  readonly level: "advisory" | "mandatory" | "disabled" | "remediate";
  readonly urn: string;
}

const LEVELS: Readonly<Record<EnforcementLevel, Diagnostic["level"]>> = {
  [EnforcementLevel.ADVISORY]: "advisory",
  [EnforcementLevel.MANDATORY]: "mandatory",
  [EnforcementLevel.DISABLED]: "disabled",
  [EnforcementLevel.REMEDIATE]: "remediate",
};

export function level(value: EnforcementLevel): Diagnostic["level"] {
  return LEVELS[value];
}

function struct(props: Readonly<Record<string, unknown>>): Struct {
  // Struct has no undefined: drop those fields the way the engine's marshaller does.
  return Struct.fromJavaScript(JSON.parse(JSON.stringify(props)) as Parameters<typeof Struct.fromJavaScript>[0]);
}

/** The SDK refuses requests without options, as an older CLI would send them. */
function options(): AnalyzerResourceOptions {
  return new AnalyzerResourceOptions().setCustomtimeouts(new AnalyzerResourceOptions.CustomTimeouts());
}

function urnOf(resource: ResourceInput): string {
  return resource.urn ?? `urn:pulumi:test::vllm-auth::${resource.type}::${resource.name ?? "r"}`;
}

/** The setters AnalyzeRequest and AnalyzerResource share: one resource as the engine describes it. */
interface ResourceMessage<T> {
  setType(value: string): T;
  setName(value: string): T;
  setUrn(value: string): T;
  setProperties(value?: Struct): T;
  setOptions(value?: AnalyzerResourceOptions): T;
}

function describeResource<T extends ResourceMessage<T>>(message: T, resource: ResourceInput): T {
  return message
    .setType(resource.type)
    .setName(resource.name ?? "r")
    .setUrn(urnOf(resource))
    .setProperties(struct(resource.props))
    .setOptions(options());
}

/** An analyzer callback that settles a promise with the response's diagnostics as plain objects. */
function settleWithDiagnostics(resolve: (diagnostics: Diagnostic[]) => void, reject: (error: Error) => void) {
  return (error: grpc.ServiceError | null, response: AnalyzeResponse): void => {
    if (error) return reject(error);
    resolve(
      response.getDiagnosticsList().map((d) => ({
        policy: d.getPolicyname(),
        message: d.getMessage(),
        level: level(d.getEnforcementlevel()),
        urn: d.getUrn(),
      })),
    );
  };
}

/**
 * The policy pack started exactly as the Pulumi CLI starts it for `--policy-pack infra/policy`:
 * `@pulumi/pulumi/cmd/run-policy-pack` in the pack's directory, which prints its gRPC port.
 */
export class PackServer {
  private constructor(
    private readonly child: ChildProcess,
    private readonly client: AnalyzerClient,
  ) {}

  static async start(): Promise<PackServer> {
    const runner = require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [PACK_DIR] });
    // The engine address is only used for logging by policy packs; nothing listens there.
    const child = spawn(process.execPath, [runner, "127.0.0.1:1", "."], { cwd: PACK_DIR, stdio: ["ignore", "pipe", "pipe"] });
    const port = await new Promise<number>((resolve, reject) => {
      let out = "";
      let err = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        const match = /^(\d+)\s*$/m.exec(out);
        if (match) resolve(Number(match[1]));
      });
      child.stderr?.on("data", (chunk: Buffer) => (err += chunk.toString()));
      child.on("exit", (code) => reject(new Error(`policy pack exited with ${String(code)} before serving:\n${out}\n${err}`)));
    });
    return new PackServer(child, new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure()));
  }

  info(): Promise<AnalyzerInfo> {
    return new Promise((resolve, reject) =>
      this.client.getAnalyzerInfo(new Empty(), (error, response) => (error ? reject(error) : resolve(response))),
    );
  }

  analyze(resource: ResourceInput): Promise<Diagnostic[]> {
    const request = describeResource(new AnalyzeRequest(), resource);
    return new Promise((resolve, reject) => this.client.analyze(request, settleWithDiagnostics(resolve, reject)));
  }

  analyzeStack(resources: readonly ResourceInput[]): Promise<Diagnostic[]> {
    const request = new AnalyzeStackRequest().setResourcesList(resources.map((r) => describeResource(new AnalyzerResource(), r)));
    return new Promise((resolve, reject) => this.client.analyzeStack(request, settleWithDiagnostics(resolve, reject)));
  }

  async stop(): Promise<void> {
    this.client.close();
    if (this.child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      this.child.once("exit", () => resolve());
      this.child.kill("SIGTERM");
    });
  }
}
