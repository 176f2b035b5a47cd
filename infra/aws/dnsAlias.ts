import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/** Arguments of {@link DnsAlias}. */
export interface DnsAliasArgs {
  /** Route 53 zone that holds `name`. */
  readonly hostedZoneId: pulumi.Input<string>;
  /** The record's name, for example `llm.example.com`. */
  readonly name: pulumi.Input<string>;
  /** DNS name of the network load balancer the record points at. */
  readonly loadBalancerHostname: pulumi.Input<string>;
}

/**
 * An alias A record from `name` to a network load balancer. An alias, not a CNAME: it works at a
 * zone apex, costs no queries, and follows the NLB's addresses as they change.
 */
export class DnsAlias extends pulumi.ComponentResource {
  public readonly fqdn: pulumi.Output<string>;

  constructor(name: string, args: DnsAliasArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:DnsAlias", name, {}, opts);
    const self = { parent: this };
    // Every NLB in a region shares one canonical hosted zone; the alias must name it.
    const nlbZone = aws.lb.getHostedZoneIdOutput({ loadBalancerType: "network" }, self);
    const record = new aws.route53.Record(
      `${name}-alias`,
      {
        zoneId: args.hostedZoneId,
        name: args.name,
        type: "A",
        aliases: [{ name: args.loadBalancerHostname, zoneId: nlbZone.id, evaluateTargetHealth: true }],
        allowOverwrite: true,
      },
      self,
    );
    this.fqdn = record.fqdn;
    this.registerOutputs({ fqdn: this.fqdn });
  }
}
