import { at, describe, peek, ResourceInput, str, strings, stringMap } from "../values";

const SERVICE = "kubernetes:core/v1:Service";
/** Kubernetes' older way to say the same thing, still honoured by cloud controllers. */
export const SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges";
const OPEN = new Set(["0.0.0.0/0", "::/0"]);

/** The CIDRs a LoadBalancer Service admits, or undefined when it is not a LoadBalancer Service. */
export function sourceRanges(resource: ResourceInput): readonly string[] | undefined {
  if (resource.type !== SERVICE || str(at(resource.props, "spec", "type")) !== "LoadBalancer") return undefined;
  const fromSpec = strings(at(resource.props, "spec", "loadBalancerSourceRanges"));
  const annotation = stringMap(peek(() => at(resource.props, "metadata", "annotations")))[SOURCE_RANGES_ANNOTATION] ?? "";
  const fromAnnotation = annotation.split(",").map((cidr) => cidr.trim()).filter((cidr) => cidr.length > 0);
  return [...fromSpec, ...fromAnnotation];
}

/** Policy 7 (mandatory part): a LoadBalancer Service states who may connect. */
export function checkSourceRangesSet(resource: ResourceInput): string[] {
  const ranges = sourceRanges(resource);
  if (ranges === undefined || ranges.length > 0) return [];
  return [
    `${describe(resource)} is a LoadBalancer with no loadBalancerSourceRanges, so the cloud opens it to the whole internet ` +
      `by default. Set spec.loadBalancerSourceRanges to the client CIDRs (the allowedCidrs config key), or ["0.0.0.0/0"] ` +
      `to make a public endpoint an explicit choice.`,
  ];
}

/** Policy 7 (advisory part): a LoadBalancer open to every address relies on the token alone. */
export function checkSourceRangesNotOpen(resource: ResourceInput): string[] {
  const open = (sourceRanges(resource) ?? []).filter((cidr) => OPEN.has(cidr));
  if (open.length === 0) return [];
  return [
    `${describe(resource)} admits ${open.join(" and ")}: every address on the internet can reach the endpoint and only the ` +
      `bearer token protects the GPUs. Narrow loadBalancerSourceRanges (config allowedCidrs) to your clients' CIDRs if you can.`,
  ];
}
