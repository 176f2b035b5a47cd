import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
  ApiKeys,
  AppIdentity,
  DEFAULT_MONITORING_NAMESPACE,
  Gateway,
  Ingress,
  InternalCredential,
  NetworkPolicies,
  RolloutStrategy,
  Valkey,
  VllmServer,
  anyKeyLimited,
  gatewayIdentity,
  gatewaySelector,
  imageVersion,
  namespaceLabels,
  servedModelId,
} from "../infra/k8s";
import { deployCapacity } from "./capacity";
import { Settings } from "./settings";

/** What the serving stack needs from the target that hosts it. */
export interface ServingDeps {
  /** The cluster. */
  provider: k8s.Provider;
  /** The auth proxy image, pinned by tag or digest: gateways and sidecars run it. */
  proxyImage: pulumi.Input<string>;
  /** ACM certificate for `settings.tls.domain`; overrides `settings.tls.certificateArn` (the aws target issues one). */
  certificateArn?: pulumi.Input<string>;
  /**
   * How a vLLM template change rolls out. `surge` (aws: Karpenter adds a node for the extra pod);
   * `replace` where the cluster may have no spare GPU, so that a rollout always completes.
   */
  rollout: RolloutStrategy;
  /** The namespace Prometheus scrapes from, admitted to the metrics ports. Defaults to `monitoring`. */
  monitoringNamespace?: string;
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
  /** The first API key in `apiKeys` order (secret): what the seed's commands use. */
  token: pulumi.Output<string>;
  /** Every API key by name (secret). */
  apiKeys: pulumi.Output<Record<string, string>>;
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
 * The serving stack on any cluster: namespace, API keys and the internal credential, the vLLM
 * replicas with their sidecars, the gateways in front of them, Valkey when a key has limits, the
 * network policies, and the load balancer. Both targets call this.
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

  const keys = new ApiKeys(`${APP_NAME}-api-keys`, { namespace, app: gatewayIdentity(app), keys: settings.apiKeys, provider: deps.provider }, opts);
  const internal = new InternalCredential(
    `${APP_NAME}-internal-token`,
    { namespace, app, generation: settings.internalTokenGeneration, provider: deps.provider },
    opts,
  );

  const { minReplicas, maxReplicas } = settings.autoscaling;
  const server = new VllmServer(
    APP_NAME,
    {
      namespace,
      app,
      model: settings.model,
      vllmImage: settings.vllmImage,
      vllmArgs: settings.vllmArgs,
      replicas: minReplicas,
      // KEDA's ScaledObject moves the count between the bounds; a fixed count stays Pulumi's.
      autoscaled: minReplicas !== maxReplicas,
      rollout: deps.rollout,
      gpusPerReplica: settings.gpusPerReplica,
      proxyImage: deps.proxyImage,
      internalTokenSecretName: internal.secretName,
      ...(settings.hfToken !== undefined ? { hfToken: settings.hfToken } : {}),
      nodeSelector: settings.nodeSelector,
      tolerations: settings.tolerations,
      vllmResources: settings.vllmResources,
      proxyResources: settings.proxyResources,
      modelCacheGiB: settings.modelCacheGiB,
      provider: deps.provider,
    },
    opts,
  );

  const valkey = anyKeyLimited(settings.apiKeys) ? new Valkey(`${APP_NAME}-valkey`, { namespace, app, provider: deps.provider }, opts) : undefined;

  const ingress = new Ingress(
    `${APP_NAME}-auth`,
    {
      namespace,
      app,
      selector: gatewaySelector(app),
      allowedCidrs: settings.allowedCidrs,
      ...(settings.tls !== undefined && tlsCertificate !== undefined
        ? { tls: { domain: settings.tls.domain, certificateArn: tlsCertificate } }
        : {}),
      provider: deps.provider,
    },
    opts,
  );

  // After the load balancer exists, so that the controller's webhook gives the gateway pods their readiness gate.
  const gateway = new Gateway(
    `${APP_NAME}-gateway`,
    {
      namespace,
      app,
      image: deps.proxyImage,
      replicas: settings.gatewayReplicas,
      resources: settings.gatewayResources,
      keysSecretName: keys.secretName,
      internalTokenSecretName: internal.secretName,
      replicasServiceName: server.replicasServiceName,
      coldStartTimeoutSeconds: settings.coldStartTimeoutSeconds,
      // What vLLM lists in /v1/models, which the gateway answers before any replica has.
      modelId: servedModelId(settings.model, settings.vllmArgs),
      ...(valkey !== undefined ? { redisUrl: valkey.url } : {}),
      ...(settings.tls !== undefined ? { redirectTo: `https://${settings.tls.domain}` } : {}),
      provider: deps.provider,
    },
    { ...opts, dependsOn: [...(deps.dependsOn ?? []), ingress] },
  );

  new NetworkPolicies(
    `${APP_NAME}-network-policies`,
    {
      namespace,
      app,
      replicasSelector: server.selector,
      gatewaySelector: gateway.selector,
      ...(valkey !== undefined ? { valkeySelector: valkey.selector } : {}),
      monitoringNamespace: deps.monitoringNamespace ?? DEFAULT_MONITORING_NAMESPACE,
      provider: deps.provider,
    },
    opts,
  );

  // KEDA scales the replicas on the gateways' demand; Prometheus, its monitors and the dashboards watch both tiers.
  const capacity = deployCapacity({
    namespace,
    namespaceName: settings.namespace,
    app,
    deploymentName: APP_NAME,
    gatewaySelector: gateway.selector,
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
    token: keys.token,
    apiKeys: keys.apiKeys,
    loadBalancerHostname: ingress.address,
    model: settings.model,
    namespace,
    ...(capacity.grafanaAdminPassword !== undefined ? { grafanaAdminPassword: capacity.grafanaAdminPassword } : {}),
  };
}
