import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AppIdentity, appLabels } from "./labels";
import { PRESTOP_SECONDS, PROXY_PORT, SHUTDOWN_GRACE_MS } from "./proxy";

/** Idle seconds before the NLB drops a plain TCP flow: long enough for a slow non-streamed completion. */
export const NLB_IDLE_TIMEOUT_SECONDS = 1800;
/** The NLB keeps serving a deregistered pod's open flows this long: the whole drain fits in it. */
export const DEREGISTRATION_DELAY_SECONDS = PRESTOP_SECONDS + SHUTDOWN_GRACE_MS / 1000 + 15;
/** TLS 1.3 and 1.2 only. */
export const TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06";
/** How long `pulumi up` waits for the load balancer's address: an NLB takes a few minutes. */
export const LOAD_BALANCER_AWAIT_SECONDS = 20 * 60;

/**
 * What `pulumi up` waits for on the Service: its load balancer's address, not its endpoints. The
 * AWS Load Balancer Controller writes the address only after it has created the Service's
 * TargetGroupBinding (`controllers/service/service_controller.go`: deployModel, then
 * updateServiceStatus), and its webhook injects the readiness gate only into pods created after
 * that binding exists (`docs/deploy/pod_readiness_gate.md`, v2.17): so the gateways, created after
 * this Service is done, get the gate. Waiting for endpoints too would deadlock, since the gateway
 * pods come after the Service. `pulumi.com/waitFor` replaces the default await (pulumi-kubernetes
 * 4.18.4 and later, #3329).
 */
export function serviceAwaitAnnotations(): Record<string, string> {
  return {
    "pulumi.com/waitFor": "jsonpath={.status.loadBalancer.ingress[0]}",
    "pulumi.com/timeoutSeconds": String(LOAD_BALANCER_AWAIT_SECONDS),
  };
}

export interface IngressArgs {
  /** Namespace of the Service. */
  readonly namespace: pulumi.Input<string>;
  /** Labels identity of the stack. */
  readonly app: AppIdentity;
  /** Labels of the pods to send traffic to: the gateways. */
  readonly selector: Record<string, string>;
  /** Source CIDRs allowed to reach the load balancer. Defaults to `["0.0.0.0/0"]`. */
  readonly allowedCidrs?: readonly string[];
  /** TLS: the name clients use and the ACM certificate for it. Unset serves plain HTTP on port 80. */
  readonly tls?: { readonly domain: string; readonly certificateArn: pulumi.Input<string> };
  /** Kubernetes provider for the Service. */
  readonly provider?: k8s.Provider;
}

/** Annotations for the AWS Load Balancer Controller; other clusters ignore them. */
export function nlbAnnotations(tls?: { certificateArn: pulumi.Input<string> }): Record<string, pulumi.Input<string>> {
  const prefix = "service.beta.kubernetes.io/aws-load-balancer";
  const annotations: Record<string, pulumi.Input<string>> = {
    // NLB, not ALB: it passes 308 redirects and long streams through untouched.
    [`${prefix}-type`]: "external",
    [`${prefix}-nlb-target-type`]: "ip",
    [`${prefix}-scheme`]: "internet-facing",
    // Health of the gateway, whose /health answers 200 while it runs and is not draining, on every listener's target group.
    [`${prefix}-healthcheck-protocol`]: "http",
    [`${prefix}-healthcheck-port`]: String(PROXY_PORT),
    [`${prefix}-healthcheck-path`]: "/health",
    [`${prefix}-healthcheck-interval`]: "10",
    [`${prefix}-healthcheck-healthy-threshold`]: "2",
    [`${prefix}-healthcheck-unhealthy-threshold`]: "2",
    [`${prefix}-attributes`]: "load_balancing.cross_zone.enabled=true",
    [`${prefix}-target-group-attributes`]: `deregistration_delay.timeout_seconds=${DEREGISTRATION_DELAY_SECONDS}`,
    [`${prefix}-listener-attributes.TCP-80`]: `tcp.idle_timeout.seconds=${NLB_IDLE_TIMEOUT_SECONDS}`,
  };
  if (tls !== undefined) {
    annotations[`${prefix}-ssl-cert`] = tls.certificateArn;
    annotations[`${prefix}-ssl-ports`] = "443";
    annotations[`${prefix}-ssl-negotiation-policy`] = TLS_POLICY;
  }
  return annotations;
}

/** Only the gateway is exposed: 80 to its API without TLS; 443 to the API and 80 to the 308 redirect with TLS. */
export function servicePorts(tls: boolean): k8s.types.input.core.v1.ServicePort[] {
  if (!tls) {
    return [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }];
  }
  return [
    { name: "https", port: 443, targetPort: "http", protocol: "TCP" },
    { name: "http", port: 80, targetPort: "redirect", protocol: "TCP" },
  ];
}

/** The load balancer's address as the cluster reports it: a hostname on AWS, an IP elsewhere. */
export function loadBalancerAddress(status: k8s.types.output.core.v1.ServiceStatus | undefined): string {
  const ingress = status?.loadBalancer?.ingress?.[0];
  const address = ingress?.hostname || ingress?.ip;
  if (!address) {
    throw new Error("Ingress: the Service of type LoadBalancer has no address; is a load balancer controller installed in the cluster?");
  }
  return address;
}

/** `host[:port]` without a scheme, as `sky serve status --endpoint` prints it. */
export function endpointFor(address: string, tls: boolean, domain?: string): { endpoint: string; url: string } {
  if (tls) {
    if (domain === undefined) {
      throw new Error("Ingress: TLS needs a domain");
    }
    return { endpoint: domain, url: `https://${domain}` };
  }
  const host = address.includes(":") ? `[${address}]` : address;
  return { endpoint: host, url: `http://${host}` };
}

/**
 * The public entrance: a Service of type LoadBalancer in front of the gateways that becomes an
 * internet-facing AWS NLB with IP targets, limited to `allowedCidrs`. Create the gateways after it
 * (`dependsOn`) so that their pods get the load balancer's readiness gate.
 */
export class Ingress extends pulumi.ComponentResource {
  /** The load balancer's DNS name or IP. */
  public readonly address: pulumi.Output<string>;
  /** `host[:port]` without a scheme: the domain with TLS, the load balancer otherwise. */
  public readonly endpoint: pulumi.Output<string>;
  /** The base URL: `https://<domain>` or `http://<load balancer>`. */
  public readonly url: pulumi.Output<string>;

  constructor(name: string, args: IngressArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:Ingress", name, {}, opts);
    const allowedCidrs = args.allowedCidrs ?? ["0.0.0.0/0"];
    if (allowedCidrs.length === 0) {
      throw new Error("Ingress: allowedCidrs is empty, which would block every client; pass [\"0.0.0.0/0\"] to allow all");
    }
    const tls = args.tls !== undefined;

    const service = new k8s.core.v1.Service(
      `${name}-service`,
      {
        metadata: {
          name,
          namespace: args.namespace,
          labels: appLabels(args.app, "ingress"),
          annotations: { ...nlbAnnotations(args.tls), ...serviceAwaitAnnotations() },
        },
        spec: {
          type: "LoadBalancer",
          selector: args.selector,
          ports: servicePorts(tls),
          loadBalancerSourceRanges: [...allowedCidrs],
        },
      },
      { parent: this, provider: args.provider },
    );

    this.address = service.status.apply(loadBalancerAddress);
    const endpoints = this.address.apply((a) => endpointFor(a, tls, args.tls?.domain));
    this.endpoint = endpoints.endpoint;
    this.url = endpoints.url;
    this.registerOutputs({ address: this.address, endpoint: this.endpoint, url: this.url });
  }
}
