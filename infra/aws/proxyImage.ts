import * as aws from "@pulumi/aws";
import * as dockerBuild from "@pulumi/docker-build";
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";

/** Arguments of {@link ProxyImage}. */
export interface ProxyImageArgs {
  /** Build context: the folder the Dockerfile's COPY paths are relative to. */
  readonly context: string;
  /** The Dockerfile. Defaults to `Dockerfile` inside `context`. */
  readonly dockerfile?: string;
  /** How many images the ECR lifecycle rule keeps; older ones expire. Defaults to 10. */
  readonly keepImages?: number;
  /** Also build (not push) during `pulumi preview`, which then needs Docker. Defaults to false. */
  readonly buildOnPreview?: boolean;
  /** Tags for the ECR repository. */
  readonly tags?: Readonly<Record<string, string>>;
}

const DEFAULT_KEEP_IMAGES = 10;

/** An ECR lifecycle policy that keeps the newest `keep` images of any tag status and expires the rest. */
export function lifecyclePolicy(keep: number): string {
  if (!Number.isInteger(keep) || keep < 1) {
    throw new Error(`ProxyImage keepImages must be a whole number >= 1, got ${keep}.`);
  }
  return JSON.stringify({
    rules: [
      {
        rulePriority: 1,
        description: `Keep the newest ${keep} images; running pods pin theirs by digest.`,
        selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: keep },
        action: { type: "expire" },
      },
    ],
  });
}

/** The registry host of a repository URL: `123.dkr.ecr.us-east-1.amazonaws.com` of `.../name`. */
export function registryHost(repositoryUrl: string): string {
  return repositoryUrl.split("/")[0];
}

/** An immutable image reference, `repository@sha256:...`, so pods run exactly the image built. */
export function digestReference(repositoryUrl: string, digest: string): string {
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw new Error(`The proxy image build returned no usable digest ("${digest}"); was it pushed?`);
  }
  return `${repositoryUrl}@${digest}`;
}

/**
 * The auth proxy's container image: an ECR repository (scanned on push, old images expired, deleted
 * with the stack) and the image built from `proxy/` for linux/amd64 and pushed there.
 */
export class ProxyImage extends pulumi.ComponentResource {
  public readonly repositoryUrl: pulumi.Output<string>;
  public readonly digest: pulumi.Output<string>;
  /** `repository@sha256:...`. */
  public readonly imageRef: pulumi.Output<string>;

  constructor(name: string, args: ProxyImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:ProxyImage", name, {}, opts);
    const policy = lifecyclePolicy(args.keepImages ?? DEFAULT_KEEP_IMAGES);
    const self = { parent: this };

    const repository = new aws.ecr.Repository(
      `${name}-repo`,
      {
        imageScanningConfiguration: { scanOnPush: true },
        imageTagMutability: "MUTABLE",
        // `pulumi destroy` must not stop at a repository that still holds images.
        forceDelete: true,
        tags: args.tags ?? {},
      },
      self,
    );
    new aws.ecr.LifecyclePolicy(`${name}-lifecycle`, { repository: repository.name, policy }, self);

    const auth = aws.ecr.getAuthorizationTokenOutput({ registryId: repository.registryId }, self);
    const image = new dockerBuild.Image(
      `${name}-image`,
      {
        context: { location: args.context },
        dockerfile: { location: args.dockerfile ?? path.join(args.context, "Dockerfile") },
        // GPU nodes are x86_64 whatever the machine running Pulumi is.
        platforms: ["linux/amd64"],
        push: true,
        buildOnPreview: args.buildOnPreview ?? false,
        tags: [pulumi.interpolate`${repository.repositoryUrl}:latest`],
        registries: [
          {
            address: repository.repositoryUrl.apply(registryHost),
            username: auth.userName,
            password: pulumi.secret(auth.password),
          },
        ],
      },
      self,
    );

    this.repositoryUrl = repository.repositoryUrl;
    this.digest = image.digest;
    this.imageRef = pulumi.all([repository.repositoryUrl, image.digest]).apply(([url, digest]) => digestReference(url, digest));
    this.registerOutputs({ repositoryUrl: this.repositoryUrl, imageRef: this.imageRef });
  }
}
