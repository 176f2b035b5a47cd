import { PolicyDocument, PolicyStatement } from "./iam";

/** The tag the AWS Load Balancer Controller puts on everything it creates; its permissions key off it. */
export const LBC_CLUSTER_TAG = "elbv2.k8s.aws/cluster";

const ELB = "elasticloadbalancing";

/**
 * What the AWS Load Balancer Controller needs to run NLBs for Services: read the VPC and ELB state,
 * create load balancers, target groups and security groups tagged as its own, and change only
 * what carries that tag. ALB-only features (WAF, Shield, Cognito) are left out: nothing here uses them.
 * Checked against docs/install/iam_policy.json of v2.17.1; that file at v3.5.0 was not in a source at hand
 * (users of both lines report it unchanged from v2.13.4 to v3.4.0).
 */
export function loadBalancerControllerPolicy(partition: string): PolicyDocument {
  const arn = (service: string, resource: string) => `arn:${partition}:${service}:*:*:${resource}`;
  const tagPresentOnRequest = { Null: { [`aws:RequestTag/${LBC_CLUSTER_TAG}`]: "false" } };
  const ownedResource = { Null: { [`aws:ResourceTag/${LBC_CLUSTER_TAG}`]: "false" } };
  const ownedAndNotRetagged = {
    Null: { [`aws:RequestTag/${LBC_CLUSTER_TAG}`]: "true", [`aws:ResourceTag/${LBC_CLUSTER_TAG}`]: "false" },
  };
  const loadBalancersAndTargetGroups = [
    arn(ELB, "targetgroup/*/*"),
    arn(ELB, "loadbalancer/net/*/*"),
    arn(ELB, "loadbalancer/app/*/*"),
  ];

  const statements: PolicyStatement[] = [
    {
      Sid: "CreateElbServiceLinkedRole",
      Effect: "Allow",
      Action: "iam:CreateServiceLinkedRole",
      Resource: "*",
      Condition: { StringEquals: { "iam:AWSServiceName": "elasticloadbalancing.amazonaws.com" } },
    },
    {
      Sid: "Discover",
      Effect: "Allow",
      Action: [
        ...[
          "DescribeAccountAttributes", "DescribeAddresses", "DescribeAvailabilityZones", "DescribeCoipPools",
          "DescribeInstances", "DescribeInternetGateways", "DescribeIpamPools", "DescribeNetworkInterfaces",
          "DescribeRouteTables", "DescribeSecurityGroups", "DescribeSubnets", "DescribeTags", "DescribeVpcPeeringConnections",
          "DescribeVpcs", "GetCoipPoolUsage", "GetSecurityGroupsForVpc",
        ].map((a) => `ec2:${a}`),
        ...[
          "DescribeCapacityReservation", "DescribeListenerAttributes", "DescribeListenerCertificates", "DescribeListeners",
          "DescribeLoadBalancerAttributes", "DescribeLoadBalancers", "DescribeRules", "DescribeSSLPolicies", "DescribeTags",
          "DescribeTargetGroupAttributes", "DescribeTargetGroups", "DescribeTargetHealth", "DescribeTrustStores",
        ].map((a) => `${ELB}:${a}`),
        "acm:DescribeCertificate",
        "acm:ListCertificates",
      ],
      Resource: "*",
    },
    // Backend rules go onto the cluster security group, which the controller does not own.
    {
      Sid: "OpenBackendPorts",
      Effect: "Allow",
      Action: ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:CreateSecurityGroup"],
      Resource: "*",
    },
    {
      Sid: "TagNewSecurityGroups",
      Effect: "Allow",
      Action: "ec2:CreateTags",
      Resource: arn("ec2", "security-group/*"),
      Condition: { StringEquals: { "ec2:CreateAction": "CreateSecurityGroup" }, ...tagPresentOnRequest },
    },
    {
      Sid: "RetagOwnSecurityGroups",
      Effect: "Allow",
      Action: ["ec2:CreateTags", "ec2:DeleteTags"],
      Resource: arn("ec2", "security-group/*"),
      Condition: ownedAndNotRetagged,
    },
    {
      Sid: "ManageOwnSecurityGroups",
      Effect: "Allow",
      Action: ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup"],
      Resource: "*",
      Condition: ownedResource,
    },
    {
      Sid: "CreateTaggedLoadBalancers",
      Effect: "Allow",
      Action: [`${ELB}:CreateLoadBalancer`, `${ELB}:CreateTargetGroup`],
      Resource: "*",
      Condition: tagPresentOnRequest,
    },
    {
      Sid: "TagOnCreate",
      Effect: "Allow",
      Action: `${ELB}:AddTags`,
      Resource: loadBalancersAndTargetGroups,
      Condition: {
        StringEquals: { [`${ELB}:CreateAction`]: ["CreateTargetGroup", "CreateLoadBalancer"] },
        ...tagPresentOnRequest,
      },
    },
    {
      Sid: "RetagOwnLoadBalancers",
      Effect: "Allow",
      Action: [`${ELB}:AddTags`, `${ELB}:RemoveTags`],
      Resource: loadBalancersAndTargetGroups,
      Condition: ownedAndNotRetagged,
    },
    {
      Sid: "ManageOwnLoadBalancers",
      Effect: "Allow",
      Action: [
        "DeleteLoadBalancer", "DeleteTargetGroup", "ModifyCapacityReservation", "ModifyIpPools",
        "ModifyListenerAttributes", "ModifyLoadBalancerAttributes", "ModifyTargetGroup", "ModifyTargetGroupAttributes",
        "SetIpAddressType", "SetSecurityGroups", "SetSubnets",
      ].map((a) => `${ELB}:${a}`),
      Resource: "*",
      Condition: ownedResource,
    },
    {
      Sid: "ManageListeners",
      Effect: "Allow",
      Action: [
        "AddListenerCertificates", "CreateListener", "CreateRule", "DeleteListener", "DeleteRule", "ModifyListener",
        "ModifyRule", "RemoveListenerCertificates",
      ].map((a) => `${ELB}:${a}`),
      Resource: "*",
    },
    {
      Sid: "TagListeners",
      Effect: "Allow",
      Action: [`${ELB}:AddTags`, `${ELB}:RemoveTags`],
      Resource: [
        arn(ELB, "listener/net/*/*/*"),
        arn(ELB, "listener/app/*/*/*"),
        arn(ELB, "listener-rule/net/*/*/*"),
        arn(ELB, "listener-rule/app/*/*/*"),
      ],
    },
    {
      Sid: "RegisterPodTargets",
      Effect: "Allow",
      Action: [`${ELB}:RegisterTargets`, `${ELB}:DeregisterTargets`],
      Resource: arn(ELB, "targetgroup/*/*"),
    },
  ];
  return { Version: "2012-10-17", Statement: statements };
}
