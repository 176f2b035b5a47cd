import { describe, ResourceInput, str } from "../values";
import { podOf } from "../workloads";

export type ImagePin = "digest" | "tag" | "latest" | "none";

/** How an image reference is pinned: by digest, by a tag, by `latest`, or not at all. */
export function imagePin(image: string): ImagePin {
  if (/@[a-z0-9]+([+._-][a-z0-9]+)*:[A-Fa-f0-9]{32,}$/.test(image)) return "digest";
  const lastSlash = image.lastIndexOf("/");
  const lastColon = image.lastIndexOf(":");
  if (lastColon <= lastSlash) return "none";
  return image.slice(lastColon + 1).toLowerCase() === "latest" ? "latest" : "tag";
}

/** Policy 4: every container image is pinned to a tag other than `latest`, or to a digest. */
export function checkImagesPinned(resource: ResourceInput): string[] {
  const pod = podOf(resource);
  if (!pod) return [];
  const where = describe(resource);
  return pod.containers.flatMap((container) => {
    const image = str(container.raw.image);
    if (image === undefined || image.trim() === "") {
      return [`${where}: container "${container.name}" has no image. Set an image pinned to a version tag or an @sha256 digest.`];
    }
    switch (imagePin(image)) {
      case "none":
        return [
          `${where}: container "${container.name}" uses "${image}" without a tag, which means latest and changes under you. ` +
            `Pin a version tag (for example vllm/vllm-openai:v0.10.1) or an @sha256 digest.`,
        ];
      case "latest":
        return [
          `${where}: container "${container.name}" uses "${image}"; latest moves with every release and breaks rollbacks. ` +
            `Pin a version tag or an @sha256 digest.`,
        ];
      default:
        return [];
    }
  });
}
