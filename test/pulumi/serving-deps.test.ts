import type * as PulumiModule from "@pulumi/pulumi";
import type * as RandomModule from "@pulumi/random";
import type * as ServingModule from "../../stacks/serving";

describe("deployServing's ordering after the target's resources", () => {
  test("with createNamespace false, the namespace every object uses depends on deps.dependsOn", async () => {
    jest.resetModules();
    const pulumi = require("@pulumi/pulumi") as typeof PulumiModule;
    await pulumi.runtime.setMocks(
      {
        newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }),
        call: (args) => {
          throw new Error(`unmocked call ${args.token}`);
        },
      },
      "vllm-auth",
      "dev",
      false,
    );
    const random = require("@pulumi/random") as typeof RandomModule;
    const { afterAll: after } = require("../../stacks/serving") as typeof ServingModule;
    const gpuNodes = new random.RandomPet("gpu-nodes");
    const controller = new random.RandomPet("lb-controller");
    const namespace = after([gpuNodes, pulumi.output(controller)], "llm");
    expect(await new Promise((resolve) => namespace.apply(resolve))).toBe("llm");
    const deps = await pulumi.getAllResources(namespace);
    expect(deps.has(gpuNodes)).toBe(true);
    expect(deps.has(controller)).toBe(true);
  });
});
