/**
 * The AWS side of Karpenter 1.15, as its reference describes it: the controller's IAM policies, the
 * interruption queue's policy and the EventBridge rules that feed it.
 *
 * Source: Karpenter v1.15 "CloudFormation" reference (karpenter-provider-aws
 * `website/content/en/v1.15/reference/cloudformation.md`), which documents the getting-started guide's
 * `cloudformation.yaml` statement by statement. Statement ids are the reference's, so a diff against a
 * newer version reads statement by statement.
 */
import { PolicyDocument, PolicyStatement } from "./iam";

/** Where the controller works: the parts of the EKS cluster's ARN every statement is scoped to. */
export interface ClusterScope {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
  readonly clusterName: string;
}

/** The partition, region, account and name in an EKS cluster ARN (`arn:aws:eks:us-east-1:123456789012:cluster/name`). */
export function parseClusterArn(arn: string): ClusterScope {
  const match = /^arn:(aws|aws-cn|aws-us-gov):eks:([a-z0-9-]+):(\d{12}):cluster\/([A-Za-z0-9][A-Za-z0-9_-]*)$/.exec(arn);
  if (!match) throw new Error(`"${arn}" is not an EKS cluster ARN (arn:aws:eks:<region>:<account>:cluster/<name>).`);
  const [, partition, region, accountId, clusterName] = match;
  return { partition, region, accountId, clusterName };
}

/**
 * Reference policies left out, each with the reason. The zonal shift policy serves only
 * `settings.enableZonalShift`, which this stack leaves off (the chart's default).
 */
export const OMITTED_REFERENCE_POLICIES: Readonly<Record<string, string>> = {
  KarpenterControllerZonalShiftPolicy: "zonal shift integration is off (settings.enableZonalShift defaults to false)",
};

/**
 * Statements added to the reference, each with the reason. The guide creates EC2's spot service-linked
 * role by hand once per account (`aws iam create-service-linked-role --aws-service-name spot.amazonaws.com`,
 * step06-add-spot-role.sh); without it the first spot launch fails with ServiceLinkedRoleCreationNotPermitted.
 * Letting the controller create that one role (and no other) makes a new account work on the first deploy.
 */
export const ADDED_STATEMENTS: Readonly<Record<string, string>> = {
  AllowSpotServiceLinkedRoleCreation: "EC2 creates its spot service-linked role on the first spot launch of an account",
};

/** The controller's policies, one per reference policy, keyed by the reference's name without the cluster suffix. */
export type ControllerPolicies = Readonly<Record<
  | "KarpenterControllerNodeLifecyclePolicy"
  | "KarpenterControllerIAMIntegrationPolicy"
  | "KarpenterControllerEKSIntegrationPolicy"
  | "KarpenterControllerInterruptionPolicy"
  | "KarpenterControllerResourceDiscoveryPolicy",
  PolicyDocument
>>;

const doc = (...statements: PolicyStatement[]): PolicyDocument => ({ Version: "2012-10-17", Statement: statements });

/**
 * What the Karpenter controller may do: launch and tag instances only for this cluster's NodePools,
 * pass only the node role, manage only the instance profiles it creates, read the interruption queue,
 * and read prices, AMIs and instance types in its region.
 */
export function karpenterControllerPolicies(scope: ClusterScope, nodeRoleArn: string, queueArn: string): ControllerPolicies {
  const { partition, region, accountId, clusterName } = scope;
  const ec2 = (resource: string) => `arn:${partition}:ec2:${region}:*:${resource}`;
  const ec2Regional = (resource: string) => `arn:${partition}:ec2:${region}::${resource}`;
  const instanceProfiles = `arn:${partition}:iam::${accountId}:instance-profile/*`;
  const clusterArn = `arn:${partition}:eks:${region}:${accountId}:cluster/${clusterName}`;
  const ownedTag = `kubernetes.io/cluster/${clusterName}`;
  const launched = ["fleet/*", "instance/*", "volume/*", "network-interface/*", "launch-template/*", "spot-instances-request/*"].map(ec2);

  return {
    KarpenterControllerNodeLifecyclePolicy: doc(
      {
        Sid: "AllowScopedEC2InstanceAccessActions",
        Effect: "Allow",
        Resource: [
          ec2Regional("image/*"),
          ec2Regional("snapshot/*"),
          ec2("security-group/*"),
          ec2("subnet/*"),
          ec2("capacity-reservation/*"),
          ec2("placement-group/*"),
        ],
        Action: ["ec2:RunInstances", "ec2:CreateFleet"],
      },
      {
        Sid: "AllowScopedEC2LaunchTemplateAccessActions",
        Effect: "Allow",
        Resource: ec2("launch-template/*"),
        Action: ["ec2:RunInstances", "ec2:CreateFleet"],
        Condition: {
          StringEquals: { [`aws:ResourceTag/${ownedTag}`]: "owned" },
          StringLike: { "aws:ResourceTag/karpenter.sh/nodepool": "*" },
        },
      },
      {
        Sid: "AllowScopedEC2InstanceActionsWithTags",
        Effect: "Allow",
        Resource: launched,
        Action: ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
        Condition: {
          StringEquals: { [`aws:RequestTag/${ownedTag}`]: "owned", "aws:RequestTag/eks:eks-cluster-name": clusterName },
          StringLike: { "aws:RequestTag/karpenter.sh/nodepool": "*" },
        },
      },
      {
        Sid: "AllowScopedResourceCreationTagging",
        Effect: "Allow",
        Resource: launched,
        Action: "ec2:CreateTags",
        Condition: {
          StringEquals: {
            [`aws:RequestTag/${ownedTag}`]: "owned",
            "aws:RequestTag/eks:eks-cluster-name": clusterName,
            "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"],
          },
          StringLike: { "aws:RequestTag/karpenter.sh/nodepool": "*" },
        },
      },
      {
        Sid: "AllowScopedResourceTagging",
        Effect: "Allow",
        Resource: ec2("instance/*"),
        Action: "ec2:CreateTags",
        Condition: {
          StringEquals: { [`aws:ResourceTag/${ownedTag}`]: "owned" },
          StringLike: { "aws:ResourceTag/karpenter.sh/nodepool": "*" },
          StringEqualsIfExists: { "aws:RequestTag/eks:eks-cluster-name": clusterName },
          "ForAllValues:StringEquals": { "aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"] },
        },
      },
      {
        Sid: "AllowScopedDeletion",
        Effect: "Allow",
        Resource: [ec2("instance/*"), ec2("launch-template/*")],
        Action: ["ec2:TerminateInstances", "ec2:RebootInstances", "ec2:DeleteLaunchTemplate"],
        Condition: {
          StringEquals: { [`aws:ResourceTag/${ownedTag}`]: "owned" },
          StringLike: { "aws:ResourceTag/karpenter.sh/nodepool": "*" },
        },
      },
    ),
    KarpenterControllerIAMIntegrationPolicy: doc(
      {
        Sid: "AllowPassingInstanceRole",
        Effect: "Allow",
        Resource: nodeRoleArn,
        Action: "iam:PassRole",
        Condition: { StringEquals: { "iam:PassedToService": ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"] } },
      },
      {
        Sid: "AllowSpotServiceLinkedRoleCreation",
        Effect: "Allow",
        Resource: `arn:${partition}:iam::${accountId}:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot`,
        Action: "iam:CreateServiceLinkedRole",
        Condition: { StringEquals: { "iam:AWSServiceName": "spot.amazonaws.com" } },
      },
      {
        Sid: "AllowScopedInstanceProfileCreationActions",
        Effect: "Allow",
        Resource: instanceProfiles,
        Action: ["iam:CreateInstanceProfile"],
        Condition: {
          StringEquals: {
            [`aws:RequestTag/${ownedTag}`]: "owned",
            "aws:RequestTag/eks:eks-cluster-name": clusterName,
            "aws:RequestTag/topology.kubernetes.io/region": region,
          },
          StringLike: { "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*" },
        },
      },
      {
        Sid: "AllowScopedInstanceProfileTagActions",
        Effect: "Allow",
        Resource: instanceProfiles,
        Action: ["iam:TagInstanceProfile"],
        Condition: {
          StringEquals: {
            [`aws:ResourceTag/${ownedTag}`]: "owned",
            "aws:ResourceTag/topology.kubernetes.io/region": region,
            [`aws:RequestTag/${ownedTag}`]: "owned",
            "aws:RequestTag/eks:eks-cluster-name": clusterName,
            "aws:RequestTag/topology.kubernetes.io/region": region,
          },
          StringLike: {
            "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
            "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*",
          },
        },
      },
      {
        Sid: "AllowScopedInstanceProfileActions",
        Effect: "Allow",
        Resource: instanceProfiles,
        Action: ["iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"],
        Condition: {
          StringEquals: { [`aws:ResourceTag/${ownedTag}`]: "owned", "aws:ResourceTag/topology.kubernetes.io/region": region },
          StringLike: { "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*" },
        },
      },
    ),
    KarpenterControllerEKSIntegrationPolicy: doc({
      Sid: "AllowAPIServerEndpointDiscovery",
      Effect: "Allow",
      Resource: clusterArn,
      Action: "eks:DescribeCluster",
    }),
    KarpenterControllerInterruptionPolicy: doc({
      Sid: "AllowInterruptionQueueActions",
      Effect: "Allow",
      Resource: queueArn,
      Action: ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
    }),
    KarpenterControllerResourceDiscoveryPolicy: doc(
      {
        Sid: "AllowRegionalReadActions",
        Effect: "Allow",
        Resource: "*",
        Action: [
          "ec2:DescribeCapacityReservations",
          "ec2:DescribeImages",
          "ec2:DescribeInstances",
          "ec2:DescribeInstanceStatus",
          "ec2:DescribeInstanceTypeOfferings",
          "ec2:DescribeInstanceTypes",
          "ec2:DescribeLaunchTemplates",
          "ec2:DescribePlacementGroups",
          "ec2:DescribeSecurityGroups",
          "ec2:DescribeSpotPriceHistory",
          "ec2:DescribeSubnets",
        ],
        Condition: { StringEquals: { "aws:RequestedRegion": region } },
      },
      {
        Sid: "AllowSSMReadActions",
        Effect: "Allow",
        Resource: `arn:${partition}:ssm:${region}::parameter/aws/service/*`,
        Action: "ssm:GetParameter",
      },
      { Sid: "AllowPricingReadActions", Effect: "Allow", Resource: "*", Action: "pricing:GetProducts" },
      { Sid: "AllowUnscopedInstanceProfileListAction", Effect: "Allow", Resource: "*", Action: "iam:ListInstanceProfiles" },
      { Sid: "AllowInstanceProfileReadActions", Effect: "Allow", Resource: instanceProfiles, Action: "iam:GetInstanceProfile" },
    ),
  };
}

/** The interruption queue's policy: EventBridge (and SQS) may send to it, and nobody may use it without TLS. */
export function interruptionQueuePolicy(queueArn: string): PolicyDocument {
  return {
    Version: "2012-10-17",
    Id: "EC2InterruptionPolicy",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Service: ["events.amazonaws.com", "sqs.amazonaws.com"] },
        Action: "sqs:SendMessage",
        Resource: queueArn,
      },
      {
        Sid: "DenyHTTP",
        Effect: "Deny",
        Action: "sqs:*",
        Resource: queueArn,
        Condition: { Bool: { "aws:SecureTransport": "false" } },
        Principal: "*",
      },
    ],
  };
}

/** An EventBridge event pattern on the default bus. */
export interface EventPattern {
  readonly source: readonly string[];
  readonly "detail-type": readonly string[];
}

/**
 * The events that reach the queue: health notices of scheduled maintenance, the 2-minute spot
 * interruption warning, rebalance recommendations, instance state changes (a node stopped or
 * terminated outside Karpenter) and capacity reservation interruptions. Keys are the reference's rule names.
 */
export const INTERRUPTION_RULES: Readonly<Record<string, EventPattern>> = {
  ScheduledChangeRule: { source: ["aws.health"], "detail-type": ["AWS Health Event"] },
  SpotInterruptionRule: { source: ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"] },
  RebalanceRule: { source: ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"] },
  InstanceStateChangeRule: { source: ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"] },
  CapacityReservationInterruptionRule: {
    source: ["aws.ec2"],
    "detail-type": ["EC2 Capacity Reservation Instance Interruption Warning"],
  },
};

/** How long the queue keeps a message: an interruption notice older than 5 minutes is past acting on. */
export const INTERRUPTION_MESSAGE_RETENTION_SECONDS = 300;
