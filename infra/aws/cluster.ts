import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AFTER_COMPUTE, AddonName, BEFORE_COMPUTE, addonVersionsFor } from "./addons";
import { adminArnsProblems, parseIamPrincipalArn } from "./arns";
import { createNodeRole, currentPartition, managedPolicyArn, serviceTrustPolicy } from "./iam";
import { renderKubeconfig } from "./kubeconfig";

/** Size of the CPU node group that runs cluster services (CoreDNS, the load balancer controller). */
export interface SystemNodeScaling {
  readonly minSize: number;
  readonly desiredSize: number;
  readonly maxSize: number;
}

/** Arguments of {@link Cluster}. */
export interface ClusterArgs {
  /** Kubernetes minor version; one with pinned add-ons in `infra/aws/addons.ts` (`1.34` to `1.36`). */
  readonly kubernetesVersion: string;
  /** Private subnets for the control plane's network interfaces and the system nodes; at least two zones. */
  readonly subnetIds: pulumi.Input<pulumi.Input<string>[]>;
  /** x86_64 instance type of the system node group (AL2023), for example `t3.large`. */
  readonly systemInstanceType: string;
  /** System node group size. Defaults to min 1, desired 2, max 3. */
  readonly systemNodes?: SystemNodeScaling;
  /** CIDRs that may reach the public Kubernetes API endpoint. Defaults to `0.0.0.0/0` (authentication still applies). */
  readonly publicAccessCidrs?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * IAM roles and users made cluster admin, one access entry each. Defaults to the identity running
   * Pulumi; an assumed-role session resolves to its IAM role, because access entries reject STS
   * session ARNs. Name them when previews run as another identity, so that both plan the same admins.
   */
  readonly adminPrincipalArns?: readonly string[];
  /** Tags for every AWS resource created. */
  readonly tags?: Readonly<Record<string, string>>;
}

/** Labels of the system nodes: controllers and monitoring select them, GPU pods never land there. */
export const SYSTEM_NODE_LABELS: Readonly<Record<string, string>> = { "vllm-auth.dev/pool": "system" };

const DEFAULT_SYSTEM_NODES: SystemNodeScaling = { minSize: 1, desiredSize: 2, maxSize: 3 };

/** True for Graviton (arm64) instance types such as `t4g.medium` or `m7g.large`. */
export function isArmInstanceType(instanceType: string): boolean {
  // Graviton families put a "g" right after the generation digit: t4g, m7gd, c6gn, g5g.
  return /^[a-z]+\d+g/.test(instanceType);
}

/** One admin access entry of {@link Cluster}. */
export interface AdminEntry {
  /** Resource name, from the principal rather than its place in the list, so reordering changes nothing. */
  readonly resourceName: string;
  readonly principalArn: string;
  /** The name of the entry made for the deploying identity, which the first listed admin takes over. */
  readonly formerName?: string;
}

/** The admin access entries for `principalArns`; the first inherits the default entry `${name}-admin`. */
export function adminEntries(name: string, principalArns: readonly string[]): AdminEntry[] {
  const problems = adminArnsProblems(principalArns);
  if (problems.length > 0) throw new Error(`adminPrincipalArns: ${problems.join(" ")}`);
  return principalArns.flatMap((principalArn, i) => {
    const principal = parseIamPrincipalArn(principalArn);
    if (!principal) return [];
    return {
      resourceName: `${name}-admin-${principal.kind}-${principal.name}`,
      principalArn,
      ...(i === 0 ? { formerName: `${name}-admin` } : {}),
    };
  });
}

/** Checks the arguments before anything is created; each message says what to change. */
export function validateClusterArgs(args: ClusterArgs): void {
  addonVersionsFor(args.kubernetesVersion);
  adminEntries("cluster", args.adminPrincipalArns ?? []);
  if (!/^[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9]+$/.test(args.systemInstanceType)) {
    throw new Error(`systemInstanceType "${args.systemInstanceType}" is not an EC2 instance type such as t3.large.`);
  }
  if (isArmInstanceType(args.systemInstanceType)) {
    throw new Error(
      `systemInstanceType "${args.systemInstanceType}" is arm64 (Graviton); the system node group runs ` +
        `AL2023 x86_64, so pick an x86_64 type such as t3.large.`,
    );
  }
  const s = args.systemNodes ?? DEFAULT_SYSTEM_NODES;
  if (!(s.minSize >= 0 && s.minSize <= s.desiredSize && s.desiredSize <= s.maxSize && s.maxSize >= 1)) {
    throw new Error(
      `systemNodes must satisfy 0 <= minSize <= desiredSize <= maxSize and maxSize >= 1, got ` +
        `${s.minSize}/${s.desiredSize}/${s.maxSize}.`,
    );
  }
}

/** The EKS access policy that grants full cluster admin. */
export function clusterAdminPolicyArn(partition: string): string {
  return `arn:${partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy`;
}

/**
 * An EKS cluster with API-mode access entries, pinned core add-ons, a small CPU system node group,
 * a secret kubeconfig that calls `aws eks get-token`, and a Kubernetes provider built from it.
 */
export class Cluster extends pulumi.ComponentResource {
  public readonly name: pulumi.Output<string>;
  public readonly endpoint: pulumi.Output<string>;
  /** Secret: it names the cluster and its endpoint; it holds no credential. */
  public readonly kubeconfig: pulumi.Output<string>;
  public readonly provider: k8s.Provider;
  /** The cluster security group EKS created; nodes and pods use it. */
  public readonly clusterSecurityGroupId: pulumi.Output<string>;
  /** The principals given admin, after resolving an assumed role to its IAM role. */
  public readonly adminPrincipalArns: pulumi.Output<string[]>;
  /** Resources a node group must wait for: the add-ons a node needs to become Ready. */
  public readonly nodePrerequisites: pulumi.Resource[];
  public readonly systemNodeGroup: aws.eks.NodeGroup;

  constructor(name: string, args: ClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:Cluster", name, {}, opts);
    validateClusterArgs(args);

    const self = { parent: this };
    const tags = args.tags ?? {};
    const addonVersions = addonVersionsFor(args.kubernetesVersion);
    const partition = currentPartition(self);

    const role = new aws.iam.Role(
      `${name}-role`,
      { assumeRolePolicy: JSON.stringify(serviceTrustPolicy("eks.amazonaws.com", ["sts:AssumeRole", "sts:TagSession"])), tags },
      self,
    );
    const rolePolicy = new aws.iam.RolePolicyAttachment(
      `${name}-role-AmazonEKSClusterPolicy`,
      { role: role.name, policyArn: partition.apply((p) => managedPolicyArn(p, "AmazonEKSClusterPolicy")) },
      self,
    );

    const cluster = new aws.eks.Cluster(
      `${name}-eks`,
      {
        roleArn: role.arn,
        version: args.kubernetesVersion,
        vpcConfig: {
          subnetIds: args.subnetIds,
          endpointPrivateAccess: true,
          endpointPublicAccess: true,
          publicAccessCidrs: args.publicAccessCidrs ?? ["0.0.0.0/0"],
        },
        accessConfig: {
          authenticationMode: "API",
          // The admin entry below is explicit; the implicit creator entry would collide with it.
          bootstrapClusterCreatorAdminPermissions: false,
        },
        // The pinned managed add-ons below replace the unversioned self-managed ones.
        bootstrapSelfManagedAddons: false,
        // At end of standard support, upgrade instead of silently paying 6x for extended support.
        upgradePolicy: { supportType: "STANDARD" },
        tags,
      },
      { parent: this, dependsOn: [rolePolicy] },
    );

    const grantAdmin = (resourceName: string, principalArn: pulumi.Input<string>, formerName?: string) => {
      // An alias, not a new entry: naming the identity that deploys today leaves its access entry as it is.
      const aliases = formerName === undefined ? {} : { aliases: [{ name: formerName }] };
      const accessEntry = new aws.eks.AccessEntry(
        resourceName,
        { clusterName: cluster.name, principalArn, type: "STANDARD", tags },
        { ...self, ...aliases },
      );
      return new aws.eks.AccessPolicyAssociation(
        resourceName,
        {
          clusterName: cluster.name,
          principalArn: accessEntry.principalArn,
          policyArn: partition.apply(clusterAdminPolicyArn),
          accessScope: { type: "cluster" },
        },
        { ...self, ...aliases },
      );
    };
    const listed = adminEntries(name, args.adminPrincipalArns ?? []);
    let adminPolicies: aws.eks.AccessPolicyAssociation[];
    if (listed.length > 0) {
      adminPolicies = listed.map((e) => grantAdmin(e.resourceName, e.principalArn, e.formerName));
      this.adminPrincipalArns = pulumi.output(listed.map((e) => e.principalArn));
    } else {
      const caller = aws.getCallerIdentityOutput({}, self);
      const issuerArn = aws.iam.getSessionContextOutput({ arn: caller.arn }, self).issuerArn;
      adminPolicies = [grantAdmin(`${name}-admin`, issuerArn)];
      this.adminPrincipalArns = issuerArn.apply((arn) => [arn]);
    }

    const addon = (addonName: AddonName, dependsOn: pulumi.Resource[]) =>
      new aws.eks.Addon(
        `${name}-${addonName}`,
        {
          clusterName: cluster.name,
          addonName,
          addonVersion: addonVersions[addonName],
          resolveConflictsOnCreate: "OVERWRITE",
          resolveConflictsOnUpdate: "OVERWRITE",
          tags,
        },
        { parent: this, dependsOn },
      );
    const beforeCompute = BEFORE_COMPUTE.map((a) => addon(a, []));

    const nodeRole = createNodeRole(`${name}-system-node`, this, tags);
    const scaling = args.systemNodes ?? DEFAULT_SYSTEM_NODES;
    this.systemNodeGroup = new aws.eks.NodeGroup(
      `${name}-system`,
      {
        clusterName: cluster.name,
        version: args.kubernetesVersion,
        nodeRoleArn: nodeRole.role.arn,
        subnetIds: args.subnetIds,
        amiType: "AL2023_x86_64_STANDARD",
        capacityType: "ON_DEMAND",
        instanceTypes: [args.systemInstanceType],
        diskSize: 30,
        scalingConfig: { minSize: scaling.minSize, desiredSize: scaling.desiredSize, maxSize: scaling.maxSize },
        updateConfig: { maxUnavailable: 1 },
        labels: { ...SYSTEM_NODE_LABELS },
        tags,
      },
      { parent: this, dependsOn: [...beforeCompute, ...nodeRole.attachments] },
    );
    const afterCompute = AFTER_COMPUTE.map((a) => addon(a, [this.systemNodeGroup]));

    const region = aws.getRegionOutput({}, self).region;
    this.kubeconfig = pulumi.secret(
      pulumi
        .all([cluster.name, cluster.endpoint, cluster.certificateAuthority.data, region])
        .apply(([clusterName, endpoint, certificateAuthorityData, regionName]) =>
          renderKubeconfig({ clusterName, endpoint, certificateAuthorityData, region: regionName }),
        ),
    );
    // Every Kubernetes object waits for admin access and for DNS (CoreDNS needs a node to run on).
    this.provider = new k8s.Provider(
      `${name}-k8s`,
      { kubeconfig: this.kubeconfig, enableServerSideApply: true },
      { parent: this, dependsOn: [...adminPolicies, ...afterCompute] },
    );

    this.name = cluster.name;
    this.endpoint = cluster.endpoint;
    this.clusterSecurityGroupId = cluster.vpcConfig.clusterSecurityGroupId;
    this.nodePrerequisites = beforeCompute;
    this.registerOutputs({
      name: this.name,
      endpoint: this.endpoint,
      kubeconfig: this.kubeconfig,
      adminPrincipalArns: this.adminPrincipalArns,
    });
  }
}
