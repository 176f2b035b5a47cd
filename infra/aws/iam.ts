import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/** An IAM policy document, typed just enough to be built and inspected by tests. */
export interface PolicyDocument {
  readonly Version: "2012-10-17";
  readonly Id?: string;
  readonly Statement: readonly PolicyStatement[];
}

/** One statement of a policy document. */
export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: "Allow" | "Deny";
  readonly Action: string | readonly string[];
  readonly Resource?: string | readonly string[];
  /** A service, or `"*"` (anyone: only in resource policies, to deny). */
  readonly Principal?: { readonly Service: string | readonly string[] } | "*";
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

/** A trust policy that lets one AWS service assume the role. */
export function serviceTrustPolicy(service: string, actions: readonly string[] = ["sts:AssumeRole"]): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: actions }],
  };
}

/** The ARN of an AWS-managed IAM policy in `partition` (aws, aws-cn, aws-us-gov). */
export function managedPolicyArn(partition: string, policyName: string): string {
  return `arn:${partition}:iam::aws:policy/${policyName}`;
}

/** Policies every EKS worker node role needs: join the cluster, run the VPC CNI, pull from ECR. */
export const NODE_POLICIES: readonly string[] = [
  "AmazonEKSWorkerNodePolicy",
  "AmazonEKS_CNI_Policy",
  "AmazonEC2ContainerRegistryReadOnly",
  // Session Manager instead of SSH: Bottlerocket's control container and AL2023 both speak SSM.
  "AmazonSSMManagedInstanceCore",
];

/** The partition of the provider's account, for building ARNs that also work in China and GovCloud. */
export function currentPartition(opts?: pulumi.InvokeOutputOptions): pulumi.Output<string> {
  return aws.getPartitionOutput({}, opts).partition;
}

/**
 * An IAM role for EKS nodes with `policies` (defaults to `NODE_POLICIES`) attached, created as children
 * of `parent`. Returns the role and the attachments, so nodes can wait for the permissions, not just the role.
 */
export function createNodeRole(
  name: string,
  parent: pulumi.Resource,
  tags: pulumi.Input<Record<string, pulumi.Input<string>>> | undefined,
  policies: readonly string[] = NODE_POLICIES,
): { role: aws.iam.Role; attachments: aws.iam.RolePolicyAttachment[] } {
  const partition = currentPartition({ parent });
  const role = new aws.iam.Role(
    name,
    { assumeRolePolicy: JSON.stringify(serviceTrustPolicy("ec2.amazonaws.com")), tags },
    { parent },
  );
  const attachments = policies.map(
    (policy) =>
      new aws.iam.RolePolicyAttachment(
        `${name}-${policy}`,
        { role: role.name, policyArn: partition.apply((p) => managedPolicyArn(p, policy)) },
        { parent },
      ),
  );
  return { role, attachments };
}
