import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { currentPartition, serviceTrustPolicy } from "./iam";
import { loadBalancerControllerPolicy } from "./loadBalancerControllerPolicy";

/** Arguments of {@link LoadBalancerController}. */
export interface LoadBalancerControllerArgs {
  /** Provider for the cluster the controller runs in. */
  readonly provider: k8s.Provider;
  readonly clusterName: pulumi.Input<string>;
  /** Given explicitly: pods cannot reach instance metadata to discover it. */
  readonly vpcId: pulumi.Input<string>;
  /** Given explicitly for the same reason. */
  readonly region: pulumi.Input<string>;
  /** Chart version from https://aws.github.io/eks-charts. Defaults to {@link LBC_CHART_VERSION}. */
  readonly chartVersion?: string;
  /** Resources to wait for, such as the node group the controller's pods run on. */
  readonly waitFor?: readonly pulumi.Resource[];
  /** Tags for the AWS resources created. */
  readonly tags?: Readonly<Record<string, string>>;
}

/**
 * Chart 3.5.0 = controller v3.5.0 (eks-charts #1354, August 2026; from v3.0.0 chart and controller versions are one):
 * the v2 line ended at v2.17.1 in January 2026, before Kubernetes 1.36, which this stack's clusters run.
 */
export const LBC_CHART_VERSION = "3.5.0";
export const LBC_NAMESPACE = "kube-system";
export const LBC_SERVICE_ACCOUNT = "aws-load-balancer-controller";

/**
 * Helm values: two replicas on the system nodes, identity from EKS Pod Identity. The keys are the chart's since
 * v2 (its README); the 3.5.0 values.yaml itself was not in a source at hand, only others' 3.5.0 releases using them.
 */
export function loadBalancerControllerValues(clusterName: string, vpcId: string, region: string): Record<string, unknown> {
  return {
    clusterName,
    vpcId,
    region,
    replicaCount: 2,
    serviceAccount: { create: true, name: LBC_SERVICE_ACCOUNT },
    // Services of type LoadBalancer get NLBs from this controller, not from the legacy cloud provider.
    enableServiceMutatorWebhook: true,
  };
}

/**
 * The AWS Load Balancer Controller: it turns the serving stack's LoadBalancer Service into an NLB with
 * IP targets, TLS from ACM and the raised idle timeout, which the built-in cloud provider cannot do.
 */
export class LoadBalancerController extends pulumi.ComponentResource {
  public readonly roleArn: pulumi.Output<string>;
  public readonly release: k8s.helm.v3.Release;

  constructor(name: string, args: LoadBalancerControllerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:LoadBalancerController", name, {}, opts);
    const self = { parent: this };
    const tags = args.tags ?? {};

    const role = new aws.iam.Role(
      `${name}-role`,
      {
        assumeRolePolicy: JSON.stringify(serviceTrustPolicy("pods.eks.amazonaws.com", ["sts:AssumeRole", "sts:TagSession"])),
        tags,
      },
      self,
    );
    const policy = new aws.iam.RolePolicy(
      `${name}-policy`,
      { role: role.name, policy: currentPartition(self).apply((p) => JSON.stringify(loadBalancerControllerPolicy(p))) },
      self,
    );
    const identity = new aws.eks.PodIdentityAssociation(
      `${name}-identity`,
      { clusterName: args.clusterName, namespace: LBC_NAMESPACE, serviceAccount: LBC_SERVICE_ACCOUNT, roleArn: role.arn, tags },
      self,
    );

    this.release = new k8s.helm.v3.Release(
      `${name}-release`,
      {
        name: "aws-load-balancer-controller",
        chart: "aws-load-balancer-controller",
        version: args.chartVersion ?? LBC_CHART_VERSION,
        repositoryOpts: { repo: "https://aws.github.io/eks-charts" },
        namespace: LBC_NAMESPACE,
        values: pulumi
          .all([args.clusterName, args.vpcId, args.region])
          .apply(([cluster, vpc, region]) => loadBalancerControllerValues(cluster, vpc, region)),
        // Wait for the webhook to serve: the Service it mutates is created right after.
        skipAwait: false,
        timeout: 600,
      },
      // Credentials must exist before the first pod starts, or it falls back to the node role and fails.
      { parent: this, provider: args.provider, dependsOn: [policy, identity, ...(args.waitFor ?? [])] },
    );

    this.roleArn = role.arn;
    this.registerOutputs({ roleArn: this.roleArn });
  }
}
