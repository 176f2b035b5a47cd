import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/** Arguments of {@link Tls}. */
export interface TlsArgs {
  /** The name clients use, for example `llm.example.com`. */
  readonly domain: string;
  /** An ACM certificate for `domain` in the cluster's region, used as it is. */
  readonly certificateArn?: string;
  /** A Route 53 zone that holds `domain`: a certificate is requested and validated through it. */
  readonly hostedZoneId?: string;
  /** Tags for the certificate. */
  readonly tags?: Readonly<Record<string, string>>;
}

/** Checks a domain name and the TLS source before anything is requested. */
export function validateTlsArgs(args: TlsArgs): void {
  const label = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
  const labels = args.domain.toLowerCase().split(".");
  if (labels[0] === "*") throw new Error(`TLS domain "${args.domain}" must be one host name, not a wildcard.`);
  if (args.domain.length > 253 || labels.length < 2 || !labels.every((l) => label.test(l))) {
    throw new Error(`TLS domain "${args.domain}" is not a fully qualified host name such as llm.example.com.`);
  }
  if (!args.certificateArn && !args.hostedZoneId) {
    throw new Error(`TLS for "${args.domain}" needs certificateArn (an existing ACM certificate) or hostedZoneId (to issue one).`);
  }
  if (args.certificateArn && !/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]+$/.test(args.certificateArn)) {
    throw new Error(`certificateArn "${args.certificateArn}" is not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>).`);
  }
  if (args.hostedZoneId && !/^Z[0-9A-Z]{1,32}$/.test(args.hostedZoneId)) {
    throw new Error(`hostedZoneId "${args.hostedZoneId}" is not a Route 53 hosted zone ID (Z followed by letters and digits).`);
  }
}

/**
 * The certificate the NLB terminates TLS with: the given ACM certificate, or a new one for `domain`
 * validated through DNS records in the given Route 53 zone. `certificateArn` resolves only once ACM
 * has issued it, so the load balancer never gets a pending certificate.
 */
export class Tls extends pulumi.ComponentResource {
  public readonly certificateArn: pulumi.Output<string>;

  constructor(name: string, args: TlsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:Tls", name, {}, opts);
    validateTlsArgs(args);

    if (args.certificateArn || !args.hostedZoneId) {
      this.certificateArn = pulumi.output(args.certificateArn as string);
      this.registerOutputs({ certificateArn: this.certificateArn });
      return;
    }

    const self = { parent: this };
    const certificate = new aws.acm.Certificate(
      `${name}-cert`,
      { domainName: args.domain, validationMethod: "DNS", tags: args.tags ?? {} },
      self,
    );
    // One name, so exactly one validation record.
    const option = certificate.domainValidationOptions[0];
    const record = new aws.route53.Record(
      `${name}-validation`,
      {
        zoneId: args.hostedZoneId,
        name: option.resourceRecordName,
        type: option.resourceRecordType,
        records: [option.resourceRecordValue],
        ttl: 60,
        // The record is deterministic per name: a re-created certificate reuses it.
        allowOverwrite: true,
      },
      self,
    );
    const validation = new aws.acm.CertificateValidation(
      `${name}-validation`,
      { certificateArn: certificate.arn, validationRecordFqdns: [record.fqdn] },
      self,
    );

    this.certificateArn = validation.certificateArn;
    this.registerOutputs({ certificateArn: this.certificateArn });
  }
}
