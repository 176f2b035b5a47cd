import * as dockerBuild from "@pulumi/docker-build";
import * as pulumi from "@pulumi/pulumi";

export interface PushedImageArgs {
  /** Repository to push to, without tag: e.g. `ghcr.io/acme/vllm-auth-proxy`. */
  readonly repository: string;
  /** Tag pushed beside the digest, for people browsing the registry. Defaults to `latest`. */
  readonly tag?: string;
  /** Build context: the folder the Dockerfile's COPY paths are relative to. */
  readonly context: string;
  /** The Dockerfile. */
  readonly dockerfile: string;
  /** Target platform. Defaults to `linux/amd64`, the GPU nodes' architecture. */
  readonly platform?: dockerBuild.Platform;
}

/** `repository@sha256:...`: pods run exactly the image that was built, whatever the tag says later. */
export function digestRef(repository: string, digest: string): string {
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw new Error(`PushedImage: the build of ${repository} returned no usable digest ("${digest}"); was it pushed?`);
  }
  return `${repository}@${digest}`;
}

/** Checks a repository path: host[/path], no scheme, no tag, no digest. */
export function validateRepository(repository: string): void {
  const [host, ...path] = repository.split("/");
  if (!host || path.length === 0 || repository.includes("://") || /[@\s]/.test(repository) || path.some((p) => p.includes(":") || p === "")) {
    throw new Error(`PushedImage: "${repository}" is not a repository path; write host/path without scheme or tag, e.g. ghcr.io/acme/vllm-auth-proxy`);
  }
}

/**
 * An image built with BuildKit and pushed to any OCI registry, with the registry credentials of
 * the machine running Pulumi (`docker login`), referenced by digest.
 */
export class PushedImage extends pulumi.ComponentResource {
  /** `repository@sha256:...`. */
  public readonly ref: pulumi.Output<string>;

  constructor(name: string, args: PushedImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vllm-auth:infra:PushedImage", name, {}, opts);
    validateRepository(args.repository);
    const image = new dockerBuild.Image(
      `${name}-image`,
      {
        context: { location: args.context },
        dockerfile: { location: args.dockerfile },
        platforms: [args.platform ?? "linux/amd64"],
        push: true,
        tags: [`${args.repository}:${args.tag ?? "latest"}`],
      },
      { parent: this },
    );
    this.ref = image.digest.apply((digest) => digestRef(args.repository, digest));
    this.registerOutputs({ ref: this.ref });
  }
}
