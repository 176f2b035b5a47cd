import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { PushedImage } from "../infra/image/pushedImage";
import { proxyBuildPaths } from "./buildContext";
import { ServingOutputs, deployServing } from "./serving";
import { Settings } from "./settings";

/** The proxy image's repository name under `proxyRegistry`. */
export const PROXY_REPOSITORY_NAME = "vllm-auth-proxy";

/** The proxy image: the configured one, or one built from proxy/ and pushed to `proxyRegistry`. */
export function existingProxyImage(settings: Settings): pulumi.Input<string> {
  if (settings.proxyImage !== undefined) {
    return settings.proxyImage;
  }
  if (settings.proxyRegistry === undefined) {
    throw new Error("existing target: set vllm-auth:proxyImage or vllm-auth:proxyRegistry");
  }
  return new PushedImage("vllm-proxy", {
    repository: `${settings.proxyRegistry}/${PROXY_REPOSITORY_NAME}`,
    tag: pulumi.getStack(),
    ...proxyBuildPaths(),
  }).ref;
}

/** The cluster of the `existing` target: the configured kubeconfig and context, or the ambient ones. */
export function existingProvider(settings: Settings): k8s.Provider {
  return new k8s.Provider("existing-cluster", {
    ...(settings.kubeconfig !== undefined ? { kubeconfig: settings.kubeconfig } : {}),
    ...(settings.kubeContext !== undefined ? { context: settings.kubeContext } : {}),
  });
}

/** The `existing` target: the serving stack on a cluster the user already has. */
export function deployExisting(settings: Settings): ServingOutputs {
  return deployServing(settings, {
    provider: existingProvider(settings),
    proxyImage: existingProxyImage(settings),
    // The cluster may have no spare GPU for a surge pod: stop one replica, then start its successor.
    rollout: "replace",
  });
}
