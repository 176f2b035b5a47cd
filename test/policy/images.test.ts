import { checkImagesPinned, imagePin } from "../../infra/policy/checks/images";
import { deployment, proxyContainer, vllmContainer } from "./fixtures";

describe("policy 4: images-pinned", () => {
  it("passes tags and digests", () => {
    expect(checkImagesPinned(deployment())).toEqual([]);
  });

  it("fails an untagged image and suggests a version tag", () => {
    const [message] = checkImagesPinned(deployment({ containers: [vllmContainer({ image: "vllm/vllm-openai" }), proxyContainer()] }));
    expect(message).toMatch(/"vllm\/vllm-openai" without a tag/);
    expect(message).toMatch(/Pin a version tag/);
  });

  it("fails :latest, also on init containers", () => {
    const init = { name: "fetch", image: "busybox:latest", command: ["true"] };
    const [message] = checkImagesPinned(deployment({ initContainers: [init] }));
    expect(message).toMatch(/container "fetch" uses "busybox:latest"/);
  });

  it("fails a container with no image", () => {
    expect(checkImagesPinned(deployment({ containers: [vllmContainer({ image: "" }), proxyContainer()] }))[0]).toMatch(/has no image/);
  });

  it("reads references with registry ports, paths and digests correctly", () => {
    expect(imagePin("localhost:5000/proxy")).toBe("none");
    expect(imagePin("localhost:5000/proxy:1.2.3")).toBe("tag");
    expect(imagePin("ghcr.io/org/vllm:LATEST")).toBe("latest");
    expect(imagePin(`vllm/vllm-openai@sha256:${"0".repeat(64)}`)).toBe("digest");
    expect(imagePin(`vllm/vllm-openai:latest@sha256:${"0".repeat(64)}`)).toBe("digest");
  });
});
