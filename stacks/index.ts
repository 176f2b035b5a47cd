import * as pulumi from "@pulumi/pulumi";
import type { AwsOutputs } from "./aws";
import { loadSettings } from "./config";
import { deployExisting } from "./existing";
import { ServingOutputs } from "./serving";
import { Settings } from "./settings";

/** What `./aws` provides; loaded only for the aws target so that `existing` needs none of the AWS code. */
interface AwsTargetModule {
  deployAws(settings: Settings): AwsOutputs;
}

const settings = loadSettings();

function deploy(): ServingOutputs & Partial<Pick<AwsOutputs, "kubeconfig" | "clusterName">> {
  if (settings.target === "aws") {
    const awsTarget = require("./aws") as AwsTargetModule;
    return awsTarget.deployAws(settings);
  }
  return deployExisting(settings);
}

const deployed = deploy();

/** `host[:port]` with no scheme: `curl http://$(pulumi stack output endpoint)/v1/models`. */
export const endpoint = deployed.endpoint;
export const url = deployed.url;
export const openaiBaseUrl = deployed.openaiBaseUrl;
/** The first API key (secret): `TOKEN=$(pulumi stack output token --show-secrets)` as in the seed. */
export const token = pulumi.secret(deployed.token);
/** Every API key by name (secret): `pulumi stack output apiKeys --show-secrets`. */
export const apiKeys = pulumi.secret(deployed.apiKeys);
export const model = deployed.model;
export const namespace = deployed.namespace;
export const loadBalancerHostname = deployed.loadBalancerHostname;
export const kubeconfig = deployed.kubeconfig === undefined ? undefined : pulumi.secret(deployed.kubeconfig);
/** Grafana's admin login (user `admin`), when monitoring is installed: reach Grafana by `kubectl port-forward`. */
export const grafanaAdminPassword = deployed.grafanaAdminPassword === undefined ? undefined : pulumi.secret(deployed.grafanaAdminPassword);
/** aws target: the EKS cluster, for `aws eks` commands such as `create-access-entry`. */
export const clusterName = deployed.clusterName;
