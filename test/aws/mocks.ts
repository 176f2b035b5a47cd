import * as pulumi from "@pulumi/pulumi";
import { LB_HOSTNAME, fakeToken } from "../pulumi/harness";

/** One resource the program registered, with the inputs it sent. */
export interface Registered {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, unknown>;
  /** Provider reference (`urn::id`) for resources that name one. */
  readonly provider?: string;
}

/** One provider function the program invoked. */
export interface Invoked {
  readonly token: string;
  readonly inputs: Record<string, unknown>;
}

export const ACCOUNT = "123456789012";
export const REGION = "us-east-1";
/** The deployer runs as an assumed role: the access entry must name the role, not the session. */
export const CALLER_ARN = `arn:aws:sts::${ACCOUNT}:assumed-role/Deployer/ci-session`;
export const DEPLOYER_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/Deployer`;
export const ZONES = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"];
/** The canonical hosted zone of NLBs in us-east-1 (the ALB one is Z35SXDOTRQ7X7K). */
export const NLB_ZONE_ID = "Z26RNL4JYFTOTI";
export const ECR_PASSWORD = "ecr-password-never-in-plain-text";
export const IMAGE_DIGEST = `sha256:${"ab".repeat(32)}`;

type Outputs = Record<string, unknown>;

/** Every provider function the program may call, answered as AWS would; anything else fails the test. */
const CALLS: Readonly<Record<string, (inputs: Record<string, unknown>) => Outputs>> = {
  "aws:index/getAvailabilityZones:getAvailabilityZones": () => ({
    id: REGION,
    names: ZONES,
    zoneIds: ZONES.map((_, i) => `use1-az${i + 1}`),
    groupNames: ZONES.map(() => REGION),
  }),
  "aws:index/getCallerIdentity:getCallerIdentity": () => ({
    id: ACCOUNT,
    accountId: ACCOUNT,
    arn: CALLER_ARN,
    userId: "AROAEXAMPLE:ci-session",
  }),
  "aws:iam/getSessionContext:getSessionContext": (inputs) => {
    if (inputs.arn !== CALLER_ARN) throw new Error(`getSessionContext called with ${String(inputs.arn)}, not the caller`);
    return {
      id: CALLER_ARN,
      arn: CALLER_ARN,
      issuerArn: DEPLOYER_ROLE_ARN,
      issuerId: "AROAEXAMPLE",
      issuerName: "Deployer",
      sessionName: "ci-session",
    };
  },
  "aws:index/getPartition:getPartition": () => ({
    id: "aws",
    partition: "aws",
    dnsSuffix: "amazonaws.com",
    reverseDnsPrefix: "com.amazonaws",
  }),
  "aws:index/getRegion:getRegion": () => ({
    id: REGION,
    region: REGION,
    name: REGION,
    description: "US East (N. Virginia)",
    endpoint: `ec2.${REGION}.amazonaws.com`,
  }),
  "aws:ecr/getAuthorizationToken:getAuthorizationToken": (inputs) => ({
    id: String(inputs.registryId ?? ACCOUNT),
    registryId: inputs.registryId,
    userName: "AWS",
    password: ECR_PASSWORD,
    authorizationToken: Buffer.from(`AWS:${ECR_PASSWORD}`).toString("base64"),
    proxyEndpoint: `https://${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com`,
    expiresAt: "2026-11-26T00:00:00Z",
    region: REGION,
  }),
  "aws:lb/getHostedZoneId:getHostedZoneId": (inputs) => {
    if (inputs.loadBalancerType !== "network") {
      throw new Error(`getHostedZoneId asked for "${String(inputs.loadBalancerType)}"; an NLB alias needs "network"`);
    }
    return { id: NLB_ZONE_ID, loadBalancerType: "network", region: REGION };
  },
};

let counter = 0;
const hex = () => (++counter).toString(16).padStart(17, "0");

/** Provider-computed outputs, for the resource types whose outputs the program reads. */
function computed(type: string, name: string, inputs: Record<string, unknown>): { id: string; state: Outputs } {
  const arn = (service: string, resource: string) => `arn:aws:${service}:${REGION}:${ACCOUNT}:${resource}`;
  switch (type) {
    case "aws:ec2/vpc:Vpc":
      return { id: `vpc-${hex()}`, state: {} };
    case "aws:ec2/subnet:Subnet":
      return { id: `subnet-${hex()}`, state: {} };
    case "aws:iam/role:Role":
      return { id: name, state: { name, arn: `arn:aws:iam::${ACCOUNT}:role/${name}` } };
    case "aws:eks/cluster:Cluster":
      return {
        id: `${name}-c0ffee`,
        state: {
          name: `${name}-c0ffee`,
          arn: arn("eks", `cluster/${name}-c0ffee`),
          endpoint: "https://0123456789ABCDEF.gr7.us-east-1.eks.amazonaws.com",
          certificateAuthority: { data: "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t" },
          vpcConfig: { ...(inputs.vpcConfig as object), clusterSecurityGroupId: `sg-${hex()}` },
        },
      };
    case "aws:eks/nodeGroup:NodeGroup":
      return { id: `${name}-ng`, state: { nodeGroupName: `${name}-0a1b2c` } };
    case "aws:ec2/launchTemplate:LaunchTemplate":
      return { id: `lt-${hex()}`, state: { latestVersion: 1 } };
    case "aws:ecr/repository:Repository":
      return {
        id: name,
        state: { name, registryId: ACCOUNT, repositoryUrl: `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/${name}` },
      };
    case "docker-build:index:Image":
      return { id: `${name}-build`, state: { digest: IMAGE_DIGEST } };
    case "aws:acm/certificate:Certificate":
      return {
        id: arn("acm", "certificate/11111111-2222-3333-4444-555555555555"),
        state: {
          arn: arn("acm", "certificate/11111111-2222-3333-4444-555555555555"),
          domainValidationOptions: [
            {
              domainName: inputs.domainName,
              resourceRecordName: `_3f1a.${String(inputs.domainName)}.`,
              resourceRecordType: "CNAME",
              resourceRecordValue: "_9c2b.xlfgrmvvlj.acm-validations.aws.",
            },
          ],
        },
      };
    case "aws:acm/certificateValidation:CertificateValidation":
      return { id: `${name}-validation`, state: { certificateArn: inputs.certificateArn } };
    case "aws:route53/record:Record":
      return { id: `${name}-record`, state: { fqdn: String(inputs.name).replace(/\.$/, "") } };
    // The serving stack's resources, answered as test/pulumi/harness.ts answers them.
    case "random:index/randomPassword:RandomPassword":
      return { id: `${name}-id`, state: { result: fakeToken(name) } };
    case "kubernetes:core/v1:Service":
      return { id: `${name}-id`, state: { ...k8sMetadata(name, inputs), status: { loadBalancer: { ingress: [{ hostname: LB_HOSTNAME }] } } } };
    default:
      return { id: `${name}-id`, state: type.startsWith("kubernetes:") && type !== "kubernetes:helm.sh/v3:Release" ? k8sMetadata(name, inputs) : {} };
  }
}

/** Pulumi auto-names Kubernetes objects that have no metadata.name. */
function k8sMetadata(name: string, inputs: Record<string, unknown>): Outputs {
  const metadata = { ...((inputs.metadata as Record<string, unknown> | undefined) ?? {}) };
  metadata.name ??= `${name}-abc123`;
  return { metadata };
}

/** Mocks that record every registration and invocation, and reject any call not listed in `CALLS`. */
export class RecordingMocks implements pulumi.runtime.Mocks {
  readonly resources: Registered[] = [];
  readonly invocations: Invoked[] = [];

  newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Outputs } {
    this.resources.push({ type: args.type, name: args.name, inputs: args.inputs, provider: args.provider });
    const { id, state } = computed(args.type, args.name, args.inputs);
    return { id, state: { ...args.inputs, ...state } };
  }

  call(args: pulumi.runtime.MockCallArgs): Outputs {
    this.invocations.push({ token: args.token, inputs: args.inputs });
    const answer = CALLS[args.token];
    if (!answer) throw new Error(`Unmocked provider call ${args.token}: add it to test/aws/mocks.ts on purpose.`);
    return answer(args.inputs);
  }

  /** Resources of one type, in registration order. */
  ofType(type: string): Registered[] {
    return this.resources.filter((r) => r.type === type);
  }

  /** The one resource of `type` named `name`; fails loudly when absent. */
  named(type: string, name: string): Registered {
    const found = this.resources.find((r) => r.type === type && r.name === name);
    if (!found) {
      const names = this.ofType(type).map((r) => r.name);
      throw new Error(`No ${type} named ${name}; registered: ${names.join(", ") || "none"}`);
    }
    return found;
  }
}

/** Installs fresh recording mocks (not a dry run, so apply callbacks run as in `pulumi up`). */
export async function installMocks(): Promise<RecordingMocks> {
  const mocks = new RecordingMocks();
  await pulumi.runtime.setMocks(mocks, "vllm-auth", "test", false);
  return mocks;
}

/** Pulumi's marker for a secret value in resource inputs. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

/** Whether a recorded input value was sent as a secret. */
export function isSecretInput(value: unknown): boolean {
  return typeof value === "object" && value !== null && (value as Record<string, unknown>)[SECRET_SIG] === SECRET_VALUE;
}

/** A recorded input value with every secret wrapper removed, for assertions on its content. */
export function plain(value: unknown): any { // eslint-disable-line @typescript-eslint/no-explicit-any
  if (isSecretInput(value)) return plain((value as { value: unknown }).value);
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

/** The value of an Output, as a promise. */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((v) => resolve(v)));
}

/** Waits until the program stops registering resources (registrations happen in later ticks). */
export async function settle(mocks: RecordingMocks): Promise<void> {
  let seen = -1;
  let quiet = 0;
  while (quiet < 5) {
    await new Promise((r) => setTimeout(r, 5));
    const now = mocks.resources.length + mocks.invocations.length;
    quiet = now === seen ? quiet + 1 : 0;
    seen = now;
  }
}
