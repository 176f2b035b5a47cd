import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ApiTokens, AppIdentity, Ingress, VllmServer, imageVersion, isAutoscaled, namespaceLabels, selectorLabels } from "../infra/k8s";
import { deployCapacity } from "./capacity";
import { Settings } from "./settings";

/** What the serving stack needs from the target that hosts it. */
export interface ServingDeps {
  /** The cluster. */
  provider: k8s.Provider;
  /** The auth proxy image, pinned by tag or digest. */
  proxyImage: pulumi.Input<string>;
  /** ACM certificate for `settings.tls.domain`; overrides `settings.tls.certificateArn` (the aws target issues one). */
  certificateArn?: pulumi.Input<string>;
  /** Labels of the nodes KEDA and monitoring run on (the system nodes on aws); none elsewhere. */
  systemNodeSelector?: Readonly<Record<string, string>>;
  /** Parent of the serving components. */
  parent?: pulumi.Resource;
  /** Resources that must exist first (GPU nodes, the load balancer controller). */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/** The stack outputs the serving stack produces, whatever the target. */
export interface ServingOutputs {
  /** `host[:port]` with no scheme, as `sky serve status --endpoint`. */
  endpoint: pulumi.Output<string>;
  /** `https://<domain>` or `http://<load balancer>`. */
  url: pulumi.Output<string>;
  /** `url` + `/v1`, for OpenAI SDKs. */
  openaiBaseUrl: pulumi.Output<string>;
  /** The oldest valid API token (secret). */
  token: pulumi.Output<string>;
  /** Every valid API token, oldest first (secret). */
  tokens: pulumi.Output<string[]>;
  /** The load balancer's DNS name (or IP): the target of a DNS record for `domain`. */
  loadBalancerHostname: pulumi.Output<string>;
  /** The served model ID, as `/v1/models` lists it. */
  model: string;
  /** Namespace of every serving object. */
  namespace: pulumi.Output<string>;
  /** Grafana's admin password (secret), when monitoring is installed. */
  grafanaAdminPassword?: pulumi.Output<string>;
}

/** The application name in labels and the base name of the serving objects. */
export const APP_NAME = "vllm";

/** The labels identity of this stack's serving objects. */
export function appIdentity(settings: Settings): AppIdentity {
  return { name: APP_NAME, instance: `${pulumi.getProject()}-${pulumi.getStack()}`, version: imageVersion(settings.vllmImage) };
}

/** `value`, available once every resource in `resources` exists: objects built from it depend on them. */
export function afterAll<T>(resources: pulumi.Input<pulumi.Resource>[], value: T): pulumi.Output<T> {
  return pulumi
    .all(resources)
    .apply((rs) => pulumi.all(rs.map((r) => r.urn)))
    .apply(() => value);
}

/**
 * The serving stack on any cluster: namespace, API tokens, vLLM with its auth proxy sidecar, and
 * the load balancer in front. Both targets call this.
 */
export function deployServing(settings: Settings, deps: ServingDeps): ServingOutputs {
  const tlsCertificate = deps.certificateArn ?? settings.tls?.certificateArn;
  if (settings.tls !== undefined && tlsCertificate === undefined) {
    throw new Error(`serving: TLS for ${settings.tls.domain} needs a certificate; set vllm-auth:certificateArn (or hostedZoneId on target aws)`);
  }
  const app = appIdentity(settings);
  const opts: pulumi.ComponentResourceOptions = {
    provider: deps.provider,
    ...(deps.parent !== undefined ? { parent: deps.parent } : {}),
    ...(deps.dependsOn !== undefined ? { dependsOn: deps.dependsOn } : {}),
  };

  // Every object takes its namespace from this Output, so each one waits for `deps.dependsOn`.
  const namespace: pulumi.Output<string> =
    settings.createNamespace === false
      ? afterAll(deps.dependsOn ?? [], settings.namespace)
      : new k8s.core.v1.Namespace(`${APP_NAME}-namespace`, { metadata: { name: settings.namespace, labels: namespaceLabels(app) } }, opts).metadata
          .name;

  const tokens = new ApiTokens(
    `${APP_NAME}-api-tokens`,
    { namespace, app, keys: settings.apiKeys, provider: deps.provider },
    opts,
  );

  const server = new VllmServer(
    APP_NAME,
    {
      namespace,
      app,
      model: settings.model,
      vllmImage: settings.vllmImage,
      vllmArgs: settings.vllmArgs,
      // The replicas that always run; KEDA scales between minReplicas and maxReplicas.
      replicas: Math.max(1, settings.autoscaling.minReplicas),
      autoscaled: isAutoscaled(settings.autoscaling),
      gpusPerReplica: settings.gpusPerReplica,
      proxyImage: deps.proxyImage,
      tokensSecretName: tokens.secretName,
      ...(settings.hfToken !== undefined ? { hfToken: settings.hfToken } : {}),
      ...(settings.tls !== undefined ? { redirectTo: `https://${settings.tls.domain}` } : {}),
      nodeSelector: settings.nodeSelector,
      tolerations: settings.tolerations,
      vllmResources: settings.vllmResources,
      proxyResources: settings.proxyResources,
      modelCacheGiB: settings.modelCacheGiB,
      provider: deps.provider,
    },
    opts,
  );

  const ingress = new Ingress(
    `${APP_NAME}-auth`,
    {
      namespace,
      app,
      selector: server.selector,
      allowedCidrs: settings.allowedCidrs,
      ...(settings.tls !== undefined && tlsCertificate !== undefined
        ? { tls: { domain: settings.tls.domain, certificateArn: tlsCertificate } }
        : {}),
      provider: deps.provider,
    },
    opts,
  );

  const capacity = deployCapacity({
    namespace,
    namespaceName: settings.namespace,
    app,
    deploymentName: APP_NAME,
    gatewaySelector: selectorLabels({ ...app, name: `${APP_NAME}-gateway` }),
    replicaSelector: server.selector,
    scaling: settings.autoscaling,
    installKeda: settings.installKeda,
    installMonitoring: settings.installMonitoring,
    ...(settings.prometheusUrl !== undefined ? { prometheusUrl: settings.prometheusUrl } : {}),
    systemNodeSelector: deps.systemNodeSelector ?? {},
    provider: deps.provider,
    opts,
    scaleTargets: [server],
  });

  return {
    endpoint: ingress.endpoint,
    url: ingress.url,
    openaiBaseUrl: pulumi.interpolate`${ingress.url}/v1`,
    token: tokens.token,
    tokens: tokens.tokens,
    loadBalancerHostname: ingress.address,
    model: settings.model,
    namespace,
    ...(capacity.grafanaAdminPassword !== undefined ? { grafanaAdminPassword: capacity.grafanaAdminPassword } : {}),
  };
}
