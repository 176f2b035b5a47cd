import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import { MockResult, ProviderMocks, Recorded, mockResource, settle as settleCount } from "../pulumi/harness";

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

/** The URNs each registration depends on (its `dependsOn` and the resources its inputs come from), by `type::name`. */
const dependenciesOf = new Map<string, string[]>();

/** A registration as the engine receives it; only the fields read here. */
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getDependenciesList(): string[];
}

// The mock monitor hands mocks the inputs but not the dependencies; keep those too, to test creation order.
const register = MockMonitor.prototype.registerResource;
MockMonitor.prototype.registerResource = function (this: MockMonitor, req: RegisterRequest, callback: unknown) {
  dependenciesOf.set(`${req.getType()}::${req.getName()}`, req.getDependenciesList());
  return register.call(this, req as never, callback as never);
};

let counter = 0;
const hex = () => (++counter).toString(16).padStart(17, "0");

/** Answers a provider function call as AWS would; any token not in `CALLS` fails the test. */
export function answerAwsCall(args: pulumi.runtime.MockCallArgs): Outputs {
  const answer = CALLS[args.token];
  if (!answer) throw new Error(`Unmocked provider call ${args.token}: add it to test/aws/mocks.ts on purpose.`);
  return answer(args.inputs);
}

/** Provider-computed outputs of the AWS resource types whose outputs the program reads; others are the serving stack's. */
export function awsResource({ type, name, inputs }: pulumi.runtime.MockResourceArgs): MockResult | undefined {
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
    case "aws:sqs/queue:Queue":
      return {
        id: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${name}-5f5f5f`,
        state: { name: `${name}-5f5f5f`, arn: arn("sqs", `${name}-5f5f5f`), url: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${name}-5f5f5f` },
      };
    case "aws:iam/policy:Policy":
      return { id: name, state: { name, arn: `arn:aws:iam::${ACCOUNT}:policy/${name}` } };
    case "aws:cloudwatch/eventRule:EventRule":
      return { id: `${name}-rule`, state: { name: `${name}-rule`, arn: arn("events", `rule/${name}-rule`) } };
    case "aws:ecr/repository:Repository":
      return {
        id: name,
        state: { name, registryId: ACCOUNT, repositoryUrl: `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/${name}` },
      };
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
    default:
      return undefined;
  }
}

/** The AWS answers for `runProgram` (test/pulumi/harness.ts), to run the whole program on the aws target. */
export const AWS_MOCKS: ProviderMocks = { call: answerAwsCall, resource: awsResource };

/** One registration with the URNs it waits for. */
export type RecordedWithDependencies = Recorded & { readonly dependsOn: readonly string[] };

/** Mocks that record every registration and invocation, and reject any call not listed in `CALLS`. */
export class RecordingMocks implements pulumi.runtime.Mocks {
  readonly resources: RecordedWithDependencies[] = [];
  readonly invocations: Invoked[] = [];

  newResource(args: pulumi.runtime.MockResourceArgs): MockResult {
    const dependsOn = dependenciesOf.get(`${args.type}::${args.name}`) ?? [];
    this.resources.push({ type: args.type, name: args.name, inputs: args.inputs, provider: args.provider, dependsOn });
    return mockResource(args, awsResource);
  }

  call(args: pulumi.runtime.MockCallArgs): Outputs {
    this.invocations.push({ token: args.token, inputs: args.inputs });
    return answerAwsCall(args);
  }

  /** Whether `dependent` waits for `dependency` (directly, by its URN), both given as `type::name`. */
  waitsFor(dependent: string, dependency: string): boolean {
    const [type, name] = dependency.split("::");
    const [dType, dName] = dependent.split("::");
    return this.named(dType, dName).dependsOn.some((urn) => urn.endsWith(`$${type}::${name}`) || urn.endsWith(`::${type}::${name}`));
  }

  /** Resources of one type, in registration order. */
  ofType(type: string): RecordedWithDependencies[] {
    return this.resources.filter((r) => r.type === type);
  }

  /** The one resource of `type` named `name`; fails loudly when absent. */
  named(type: string, name: string): RecordedWithDependencies {
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

/** Waits until the program stops registering resources and calling functions. */
export function settle(mocks: RecordingMocks): Promise<void> {
  return settleCount(() => mocks.resources.length + mocks.invocations.length);
}
