import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/** An existing VPC and its subnets, used as they are. */
export interface ExistingNetwork {
  readonly vpcId: string;
  /** Subnets for the internet-facing load balancer; they need the tag `kubernetes.io/role/elb=1`. */
  readonly publicSubnetIds: readonly string[];
  /** Subnets for the control plane's network interfaces and every node; they need a route to the internet (NAT). */
  readonly privateSubnetIds: readonly string[];
}

/** Arguments of {@link Network}. */
export interface NetworkArgs {
  /** CIDR block of the new VPC, a /16. Defaults to `10.0.0.0/16`. Ignored with `existing`. */
  readonly cidrBlock?: string;
  /** Availability zones to spread subnets over, 2 to 6. Defaults to 3; a region with fewer zones reuses them in turn. */
  readonly availabilityZoneCount?: number;
  /** `single` NAT gateway (the default, cheapest) or `perAz` (one per zone, survives a zone outage). */
  readonly natGateways?: "single" | "perAz";
  /** Bring your own network: nothing is created and these IDs pass through. */
  readonly existing?: ExistingNetwork;
  /**
   * Value of the `karpenter.sh/discovery` tag on the new private subnets, by which Karpenter finds where
   * to launch nodes. Unset: no tag. Existing subnets are never tagged (another cluster may use them).
   */
  readonly karpenterDiscovery?: pulumi.Input<string>;
  /** Tags for every resource created. */
  readonly tags?: Readonly<Record<string, string>>;
}

/** One zone's pair of subnets in the address plan. */
export interface SubnetPlan {
  readonly index: number;
  /** Large, because the VPC CNI gives every pod an address from the node's subnet. */
  readonly privateCidr: string;
  /** Small: only the load balancer's and the NAT gateway's interfaces live here. */
  readonly publicCidr: string;
}

/** Tags the AWS Load Balancer Controller uses to discover subnets. */
export const PUBLIC_SUBNET_TAGS: Readonly<Record<string, string>> = { "kubernetes.io/role/elb": "1" };
export const PRIVATE_SUBNET_TAGS: Readonly<Record<string, string>> = { "kubernetes.io/role/internal-elb": "1" };
/** The tag key Karpenter's getting-started guide selects subnets and security groups by. */
export const KARPENTER_DISCOVERY_TAG = "karpenter.sh/discovery";

const DEFAULT_CIDR = "10.0.0.0/16";
const DEFAULT_ZONE_COUNT = 3;
const MAX_ZONES = 6;

/** Splits a /16 into one private /19 and one public /24 per zone (up to six zones). */
export function subnetPlan(cidrBlock: string, zoneCount: number): SubnetPlan[] {
  const match = /^(\d{1,3})\.(\d{1,3})\.0\.0\/16$/.exec(cidrBlock);
  if (!match || Number(match[1]) > 255 || Number(match[2]) > 255) {
    throw new Error(`Network cidrBlock "${cidrBlock}" must be a /16 such as 10.0.0.0/16.`);
  }
  if (!Number.isInteger(zoneCount) || zoneCount < 2 || zoneCount > MAX_ZONES) {
    throw new Error(`Network availabilityZoneCount must be an integer from 2 to ${MAX_ZONES}, got ${zoneCount}.`);
  }
  const prefix = `${match[1]}.${match[2]}`;
  return Array.from({ length: zoneCount }, (_, index) => ({
    index,
    privateCidr: `${prefix}.${index * 32}.0/19`,
    publicCidr: `${prefix}.${192 + index}.0/24`,
  }));
}

/** The zone for subnet `index`: zones are used in order and reused in turn when there are fewer than subnets. */
export function zoneFor(index: number, zoneNames: readonly string[]): string {
  if (zoneNames.length === 0) {
    throw new Error("The region reports no available availability zones for this account.");
  }
  return zoneNames[index % zoneNames.length];
}

/** Checks a bring-your-own network before anything is created. */
export function validateExistingNetwork(existing: ExistingNetwork): void {
  const problems: string[] = [];
  if (!/^vpc-[0-9a-f]+$/.test(existing.vpcId)) problems.push(`vpcId "${existing.vpcId}" is not a VPC ID (vpc-...)`);
  if (existing.privateSubnetIds.length < 2) {
    problems.push("privateSubnetIds needs at least two subnets in different availability zones (EKS requires two zones)");
  }
  if (existing.publicSubnetIds.length < 1) problems.push("publicSubnetIds needs at least one subnet for the load balancer");
  for (const id of [...existing.publicSubnetIds, ...existing.privateSubnetIds]) {
    if (!/^subnet-[0-9a-f]+$/.test(id)) problems.push(`"${id}" is not a subnet ID (subnet-...)`);
  }
  if (problems.length > 0) throw new Error(`Existing network: ${problems.join("; ")}.`);
}

/**
 * The network the cluster runs in: a new VPC with public subnets for the load balancer, private
 * subnets for nodes and NAT egress, or an existing VPC passed through unchanged.
 */
export class Network extends pulumi.ComponentResource {
  public readonly vpcId: pulumi.Output<string>;
  public readonly publicSubnetIds: pulumi.Output<string[]>;
  public readonly privateSubnetIds: pulumi.Output<string[]>;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:Network", name, {}, opts);

    if (args.existing) {
      validateExistingNetwork(args.existing);
      this.vpcId = pulumi.output(args.existing.vpcId);
      this.publicSubnetIds = pulumi.output([...args.existing.publicSubnetIds]);
      this.privateSubnetIds = pulumi.output([...args.existing.privateSubnetIds]);
      this.registerOutputs({ vpcId: this.vpcId });
      return;
    }

    const plan = subnetPlan(args.cidrBlock ?? DEFAULT_CIDR, args.availabilityZoneCount ?? DEFAULT_ZONE_COUNT);
    const tags = args.tags ?? {};
    const self = { parent: this };
    const named = (suffix: string, extra: Record<string, pulumi.Input<string>> = {}) => ({ ...tags, ...extra, Name: `${name}-${suffix}` });
    const discovery: Record<string, pulumi.Input<string>> =
      args.karpenterDiscovery === undefined ? {} : { [KARPENTER_DISCOVERY_TAG]: args.karpenterDiscovery };

    // Local Zones and Wavelength zones lack EKS and most GPU types: only opted-in-by-default zones.
    const zones = aws.getAvailabilityZonesOutput(
      { state: "available", filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }] },
      self,
    );

    const vpc = new aws.ec2.Vpc(
      `${name}-vpc`,
      { cidrBlock: args.cidrBlock ?? DEFAULT_CIDR, enableDnsHostnames: true, enableDnsSupport: true, tags: named("vpc") },
      self,
    );
    const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: named("igw") }, self);
    const publicRoutes = new aws.ec2.RouteTable(
      `${name}-public`,
      { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }], tags: named("public") },
      self,
    );

    const publicSubnets = plan.map((p) => {
      const subnet = new aws.ec2.Subnet(
        `${name}-public-${p.index}`,
        {
          vpcId: vpc.id,
          cidrBlock: p.publicCidr,
          availabilityZone: zones.names.apply((names) => zoneFor(p.index, names)),
          // Nothing launches here but load balancer and NAT interfaces, which get their own addresses.
          mapPublicIpOnLaunch: false,
          tags: named(`public-${p.index}`, PUBLIC_SUBNET_TAGS as Record<string, string>),
        },
        self,
      );
      new aws.ec2.RouteTableAssociation(
        `${name}-public-${p.index}`,
        { subnetId: subnet.id, routeTableId: publicRoutes.id },
        self,
      );
      return subnet;
    });

    const natCount = args.natGateways === "perAz" ? plan.length : 1;
    const nats = publicSubnets.slice(0, natCount).map((subnet, i) => {
      const eip = new aws.ec2.Eip(`${name}-nat-${i}`, { domain: "vpc", tags: named(`nat-${i}`) }, self);
      return new aws.ec2.NatGateway(
        `${name}-nat-${i}`,
        { allocationId: eip.id, subnetId: subnet.id, tags: named(`nat-${i}`) },
        { parent: this, dependsOn: [igw] },
      );
    });

    const privateRouteTables: aws.ec2.RouteTable[] = [];
    const privateSubnets = plan.map((p) => {
      const subnet = new aws.ec2.Subnet(
        `${name}-private-${p.index}`,
        {
          vpcId: vpc.id,
          cidrBlock: p.privateCidr,
          availabilityZone: zones.names.apply((names) => zoneFor(p.index, names)),
          tags: named(`private-${p.index}`, { ...PRIVATE_SUBNET_TAGS, ...discovery }),
        },
        self,
      );
      const routes = new aws.ec2.RouteTable(
        `${name}-private-${p.index}`,
        {
          vpcId: vpc.id,
          routes: [{ cidrBlock: "0.0.0.0/0", natGatewayId: nats[p.index % nats.length].id }],
          tags: named(`private-${p.index}`),
        },
        self,
      );
      privateRouteTables.push(routes);
      new aws.ec2.RouteTableAssociation(
        `${name}-private-${p.index}`,
        { subnetId: subnet.id, routeTableId: routes.id },
        self,
      );
      return subnet;
    });

    // ECR serves image layers from S3: a gateway endpoint is free and keeps those bytes off the NAT meter.
    const region = aws.getRegionOutput({}, self).region;
    new aws.ec2.VpcEndpoint(
      `${name}-s3`,
      {
        vpcId: vpc.id,
        serviceName: pulumi.interpolate`com.amazonaws.${region}.s3`,
        vpcEndpointType: "Gateway",
        routeTableIds: privateRouteTables.map((t) => t.id),
        tags: named("s3"),
      },
      self,
    );

    this.vpcId = vpc.id;
    this.publicSubnetIds = pulumi.all(publicSubnets.map((s) => s.id));
    this.privateSubnetIds = pulumi.all(privateSubnets.map((s) => s.id));
    this.registerOutputs({
      vpcId: this.vpcId,
      publicSubnetIds: this.publicSubnetIds,
      privateSubnetIds: this.privateSubnetIds,
    });
  }
}
