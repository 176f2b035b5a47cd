/**
 * EKS managed add-ons, pinned per Kubernetes minor version.
 *
 * Versions are the ones EKS resolved as the default for each cluster version (AWS docs
 * "managing-kube-proxy", "managing-coredns", "managing-vpc-cni" and `aws eks describe-addon-versions`,
 * checked November 2026). Bump a row together with `kubernetesVersion`, never one add-on alone.
 */

/** The four add-ons every cluster gets. */
export type AddonName = "vpc-cni" | "kube-proxy" | "coredns" | "eks-pod-identity-agent";

/** One pinned version per add-on. */
export type AddonVersions = Readonly<Record<AddonName, string>>;

/** Supported Kubernetes minor versions and their add-on pins. */
export const ADDON_VERSIONS: Readonly<Record<string, AddonVersions>> = Object.freeze({
  // Standard support for 1.34 ends 2026-12-02; the cluster's STANDARD upgrade policy then moves it to 1.35.
  "1.34": {
    "vpc-cni": "v1.22.4-eksbuild.3",
    "kube-proxy": "v1.34.6-eksbuild.13",
    coredns: "v1.13.2-eksbuild.11",
    "eks-pod-identity-agent": "v1.3.10-eksbuild.3",
  },
  "1.35": {
    "vpc-cni": "v1.22.4-eksbuild.3",
    "kube-proxy": "v1.35.3-eksbuild.29",
    coredns: "v1.13.2-eksbuild.31",
    "eks-pod-identity-agent": "v1.3.10-eksbuild.3",
  },
  "1.36": {
    "vpc-cni": "v1.22.4-eksbuild.3",
    "kube-proxy": "v1.36.0-eksbuild.21",
    coredns: "v1.14.3-eksbuild.16",
    "eks-pod-identity-agent": "v1.3.10-eksbuild.3",
  },
});

/** Kubernetes versions this project has add-on pins for, oldest first. */
export const SUPPORTED_KUBERNETES_VERSIONS: readonly string[] = Object.keys(ADDON_VERSIONS).sort(
  (a, b) => Number(a.split(".")[1]) - Number(b.split(".")[1]),
);

/** The add-on pins for `kubernetesVersion`, or an error naming the versions that have pins. */
export function addonVersionsFor(kubernetesVersion: string): AddonVersions {
  const pins = ADDON_VERSIONS[kubernetesVersion];
  if (!pins) {
    throw new Error(
      `kubernetesVersion "${kubernetesVersion}" has no pinned EKS add-on versions; ` +
        `use one of ${SUPPORTED_KUBERNETES_VERSIONS.join(", ")} (infra/aws/addons.ts lists the pins).`,
    );
  }
  return pins;
}

/**
 * Add-on configuration values (the JSON `aws eks update-addon --configuration-values` takes).
 *
 * vpc-cni: `enableNetworkPolicy` turns on the network policy agent (a second container in `aws-node`),
 * so NetworkPolicy objects are enforced. AWS EKS docs "cni-network-policy-configure": needs VPC CNI
 * 1.14 or later (pinned: 1.22.4), Kubernetes 1.25 or later (pinned: 1.34 to 1.36), Linux kernel 5.10 or
 * later and the BPF file system mounted (AL2023 and Bottlerocket AMIs for 1.27 and later have both).
 * Standard mode, not `NETWORK_POLICY_ENFORCING_MODE=strict`: strict starts every pod with deny-all until
 * a policy admits it, which would cut CoreDNS, Karpenter, KEDA and monitoring off unless each had a policy.
 */
export const ADDON_CONFIGURATION: Readonly<Partial<Record<AddonName, Readonly<Record<string, unknown>>>>> = {
  "vpc-cni": { enableNetworkPolicy: "true" },
};

/** The add-on's configuration values as the EKS API takes them, or undefined for an add-on run as shipped. */
export function addonConfigurationValues(addonName: AddonName): string | undefined {
  const values = ADDON_CONFIGURATION[addonName];
  return values === undefined ? undefined : JSON.stringify(values);
}

/** Add-ons that must exist before any node joins: without the CNI and kube-proxy nodes never become Ready. */
export const BEFORE_COMPUTE: readonly AddonName[] = ["vpc-cni", "kube-proxy", "eks-pod-identity-agent"];

/** Add-ons whose pods need a schedulable node before EKS reports them ACTIVE. */
export const AFTER_COMPUTE: readonly AddonName[] = ["coredns"];
