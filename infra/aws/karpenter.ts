import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { createNodeRole, serviceTrustPolicy } from "./iam";
import {
  INTERRUPTION_MESSAGE_RETENTION_SECONDS,
  INTERRUPTION_RULES,
  interruptionQueuePolicy,
  karpenterControllerPolicies,
  parseClusterArn,
} from "./karpenterPolicy";

/** Karpenter 1.15.0: supports Kubernetes 1.31 to 1.37 (v1.15 compatibility matrix), so every pinned EKS version here. */
export const KARPENTER_VERSION = "1.15.0";
/** The chart and its CRD chart (v1.15 getting started, "Install Karpenter"; upgrade guide, "CRD Upgrades"). */
export const KARPENTER_CHART = "oci://public.ecr.aws/karpenter/karpenter";
export const KARPENTER_CRD_CHART = "oci://public.ecr.aws/karpenter/karpenter-crd";
/** The getting-started guide's namespace (`KARPENTER_NAMESPACE=kube-system`). */
export const KARPENTER_NAMESPACE = "kube-system";
/** The chart's ServiceAccount, named explicitly so the Pod Identity association names the same one. */
export const KARPENTER_SERVICE_ACCOUNT = "karpenter";

/**
 * Policies of the node role Karpenter's nodes get: the v1.15 reference's `KarpenterNodeRole`
 * (CloudFormation reference, "Node Authorization"). ECR pull-only is enough to run images.
 */
export const KARPENTER_NODE_POLICIES: readonly string[] = [
  "AmazonEKS_CNI_Policy",
  "AmazonEKSWorkerNodePolicy",
  "AmazonEC2ContainerRegistryPullOnly",
  "AmazonSSMManagedInstanceCore",
];

/** CPU and memory of one container, as Kubernetes quantities. */
export interface Quantities {
  readonly cpu: string;
  readonly memory: string;
}

/**
 * Controller requests and limits. The guide's 1 CPU / 1 GiB (step08-apply-helm-chart.sh) sizes a
 * controller for large clusters; here it watches two system nodes and a handful of GPU nodes, so it
 * requests a quarter CPU and keeps the guide's limits as its ceiling.
 */
export const KARPENTER_RESOURCES: { readonly requests: Quantities; readonly limits: Quantities } = {
  requests: { cpu: "250m", memory: "512Mi" },
  limits: { cpu: "1", memory: "1Gi" },
};

/** Arguments of {@link Karpenter}. */
export interface KarpenterArgs {
  /** Provider for the cluster Karpenter runs in. */
  readonly provider: k8s.Provider;
  readonly clusterName: pulumi.Input<string>;
  /** The cluster's ARN: the controller's permissions are scoped to its partition, region, account and name. */
  readonly clusterArn: pulumi.Input<string>;
  /** Given explicitly: the controller's pod does not depend on instance metadata to find it. */
  readonly region: pulumi.Input<string>;
  /** Controller replicas: 2 for a standby (they need two nodes: the chart spreads them over hosts), or 1. Defaults to 2. */
  readonly replicas?: 1 | 2;
  /** Label the system nodes carry; the controller runs only there. */
  readonly systemNodeSelector: Readonly<Record<string, string>>;
  /** Resources to wait for: the system node group the controller runs on. */
  readonly waitFor?: readonly pulumi.Resource[];
  /** Tags for the AWS resources created. */
  readonly tags?: Readonly<Record<string, string>>;
}

/** Helm values of the controller chart: the v1.15 getting-started settings, plus where and how large it runs. */
export function karpenterValues(args: {
  clusterName: string;
  queueName: string;
  region: string;
  replicas: number;
  systemNodeSelector: Readonly<Record<string, string>>;
}): Record<string, unknown> {
  return {
    // The only two settings the guide sets (step08-apply-helm-chart.sh).
    settings: { clusterName: args.clusterName, interruptionQueue: args.queueName },
    serviceAccount: { create: true, name: KARPENTER_SERVICE_ACCOUNT },
    replicas: args.replicas,
    // The chart's default is `kubernetes.io/os: linux`; the system label keeps it off GPU nodes it could remove.
    nodeSelector: { "kubernetes.io/os": "linux", ...args.systemNodeSelector },
    controller: {
      resources: { requests: { ...KARPENTER_RESOURCES.requests }, limits: { ...KARPENTER_RESOURCES.limits } },
      // The region is given, not read from instance metadata (chart values.yaml: `controller.env`, its example AWS_REGION).
      env: [{ name: "AWS_REGION", value: args.region }],
    },
  };
}

/**
 * Karpenter, installed as its v1.15 getting-started guide describes, with the AWS pieces of its
 * CloudFormation template made here: the node role (with an EKS access entry instead of aws-auth),
 * the controller's role through EKS Pod Identity, and the interruption queue with its EventBridge rules.
 */
export class Karpenter extends pulumi.ComponentResource {
  /** The role Karpenter's nodes run as; an EC2NodeClass names it in `spec.role`. */
  public readonly nodeRoleName: pulumi.Output<string>;
  public readonly nodeRoleArn: pulumi.Output<string>;
  public readonly queueName: pulumi.Output<string>;
  /** The controller's Helm release; NodePools and EC2NodeClasses are created after it. */
  public readonly release: k8s.helm.v3.Release;
  /** The node role's access entry: nodes cannot join before it exists. */
  public readonly nodeAccess: aws.eks.AccessEntry;

  constructor(name: string, args: KarpenterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:Karpenter", name, {}, opts);
    const self = { parent: this };
    const tags = args.tags ?? {};
    const replicas = args.replicas ?? 2;

    // Node Authorization: the node role, and an EC2_LINUX access entry that lets its nodes join.
    const nodeRole = createNodeRole(`${name}-node`, this, tags, KARPENTER_NODE_POLICIES);
    this.nodeAccess = new aws.eks.AccessEntry(
      `${name}-node`,
      { clusterName: args.clusterName, principalArn: nodeRole.role.arn, type: "EC2_LINUX", tags },
      { parent: this, dependsOn: nodeRole.attachments },
    );

    // Interruption Handling: the queue (SQS-managed encryption, 5-minute retention), its policy, the rules.
    const queue = new aws.sqs.Queue(
      `${name}-interruptions`,
      { messageRetentionSeconds: INTERRUPTION_MESSAGE_RETENTION_SECONDS, sqsManagedSseEnabled: true, tags },
      self,
    );
    const queuePolicy = new aws.sqs.QueuePolicy(
      `${name}-interruptions`,
      { queueUrl: queue.url, policy: queue.arn.apply((arn) => JSON.stringify(interruptionQueuePolicy(arn))) },
      self,
    );
    const targets = Object.entries(INTERRUPTION_RULES).map(([ruleName, pattern]) => {
      const rule = new aws.cloudwatch.EventRule(
        `${name}-${ruleName}`,
        { description: `Karpenter ${ruleName}: to the interruption queue`, eventPattern: JSON.stringify(pattern), tags },
        self,
      );
      return new aws.cloudwatch.EventTarget(
        `${name}-${ruleName}`,
        { rule: rule.name, arn: queue.arn, targetId: "KarpenterInterruptionQueueTarget" },
        { parent: this, dependsOn: [queuePolicy] },
      );
    });

    // Controller Authorization: one managed policy per reference policy, on a role EKS Pod Identity hands out.
    const controllerRole = new aws.iam.Role(
      `${name}-controller`,
      {
        assumeRolePolicy: JSON.stringify(serviceTrustPolicy("pods.eks.amazonaws.com", ["sts:AssumeRole", "sts:TagSession"])),
        tags,
      },
      self,
    );
    const documents = pulumi
      .all([args.clusterArn, nodeRole.role.arn, queue.arn])
      .apply(([clusterArn, nodeRoleArn, queueArn]) => karpenterControllerPolicies(parseClusterArn(clusterArn), nodeRoleArn, queueArn));
    const attachments = (
      [
        "KarpenterControllerNodeLifecyclePolicy",
        "KarpenterControllerIAMIntegrationPolicy",
        "KarpenterControllerEKSIntegrationPolicy",
        "KarpenterControllerInterruptionPolicy",
        "KarpenterControllerResourceDiscoveryPolicy",
      ] as const
    ).map((policyName) => {
      const policy = new aws.iam.Policy(
        `${name}-${policyName}`,
        { description: `${policyName} of Karpenter ${KARPENTER_VERSION}`, policy: documents.apply((d) => JSON.stringify(d[policyName])), tags },
        self,
      );
      return new aws.iam.RolePolicyAttachment(`${name}-${policyName}`, { role: controllerRole.name, policyArn: policy.arn }, self);
    });
    const identity = new aws.eks.PodIdentityAssociation(
      `${name}-controller`,
      {
        clusterName: args.clusterName,
        namespace: KARPENTER_NAMESPACE,
        serviceAccount: KARPENTER_SERVICE_ACCOUNT,
        roleArn: controllerRole.arn,
        tags,
      },
      self,
    );

    const k8sOpts = { parent: this, provider: args.provider };
    // The CRD chart owns the CRDs, so a version bump updates them (Helm never upgrades a chart's crds/ directory).
    const crds = new k8s.helm.v3.Release(
      `${name}-crd`,
      {
        name: "karpenter-crd",
        chart: KARPENTER_CRD_CHART,
        version: KARPENTER_VERSION,
        namespace: KARPENTER_NAMESPACE,
        skipAwait: false,
        timeout: 300,
      },
      { ...k8sOpts, dependsOn: [...(args.waitFor ?? [])] },
    );
    this.release = new k8s.helm.v3.Release(
      `${name}-release`,
      {
        name: "karpenter",
        chart: KARPENTER_CHART,
        version: KARPENTER_VERSION,
        namespace: KARPENTER_NAMESPACE,
        skipCrds: true,
        values: pulumi
          .all([args.clusterName, queue.name, args.region])
          .apply(([clusterName, queueName, region]) =>
            karpenterValues({ clusterName, queueName, region, replicas, systemNodeSelector: args.systemNodeSelector }),
          ),
        // Wait until the controller is ready: the NodePool created next is only acted on by a running controller.
        skipAwait: false,
        timeout: 600,
      },
      // Credentials and the queue's rules exist before the first pod starts.
      { ...k8sOpts, dependsOn: [crds, identity, ...attachments, ...targets, this.nodeAccess, ...(args.waitFor ?? [])] },
    );

    this.nodeRoleName = nodeRole.role.name;
    this.nodeRoleArn = nodeRole.role.arn;
    this.queueName = queue.name;
    this.registerOutputs({ nodeRoleName: this.nodeRoleName, queueName: this.queueName });
  }
}
