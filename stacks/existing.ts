import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { PushedImage } from "../infra/image/pushedImage";
import { ServingOutputs, deployServing } from "./serving";
import { Settings } from "./settings";

/** Repository root: the proxy's Dockerfile copies from it. */
const REPO_ROOT = path.resolve(__dirname, "..");
/** The proxy image's repository name under `proxyRegistry`. */
export const PROXY_REPOSITORY_NAME = "vllm-auth-proxy";

/** Relative to the working directory when possible, so that state does not differ between machines. */
function portablePath(p: string): string {
  const relative = path.relative(process.cwd(), p);
  return relative.startsWith("..") || path.isAbsolute(relative) ? p : relative || ".";
}

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
    context: portablePath(REPO_ROOT),
    dockerfile: portablePath(path.join(REPO_ROOT, "proxy", "Dockerfile")),
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
