import type * as PulumiModule from "@pulumi/pulumi";
import type { Settings } from "../../stacks/settings";
import { runProgram } from "./harness";

const received: Settings[] = [];

// The entry point loads ./aws only for target aws; here it is a stand-in that records its settings.
jest.mock("../../stacks/aws", () => {
  const pulumi = jest.requireActual("@pulumi/pulumi") as typeof PulumiModule;
  return {
    deployAws: (settings: Settings) => {
      received.push(settings);
      const out = <T>(v: T) => pulumi.output(v);
      return {
        endpoint: out("nlb.example.com"),
        url: out("http://nlb.example.com"),
        openaiBaseUrl: out("http://nlb.example.com/v1"),
        token: out("token-from-aws-target"),
        apiKeys: out({ default: "token-from-aws-target" }),
        loadBalancerHostname: out("nlb.example.com"),
        model: settings.model,
        namespace: out(settings.namespace),
        kubeconfig: out("apiVersion: v1\nkind: Config\n"),
        clusterName: out("vllm-eks-4f2c1a9"),
      };
    },
  };
});

describe("stack entry point, target aws", () => {
  test("hands the validated settings to deployAws and exports its outputs, secrets as secrets", async () => {
    const run = await runProgram({ "vllm-auth:hfToken": "hf_x", "aws:region": "eu-west-1" }, ["vllm-auth:hfToken"]);
    expect(received).toHaveLength(1);
    expect(received[0].target).toBe("aws");
    expect(received[0].aws.region).toBe("eu-west-1");
    expect(received[0].aws).toMatchObject({ gpuInstanceTypes: ["g6.xlarge", "g5.xlarge"], gpuCapacityTypes: ["spot", "on-demand"], maxGpus: 3 });
    expect(received[0].autoscaling).toMatchObject({ minReplicas: 1, maxReplicas: 2 });
    expect(run.outputs.endpoint).toEqual({ value: "nlb.example.com", secret: false });
    expect(run.outputs.kubeconfig.secret).toBe(true);
    expect(run.outputs.clusterName).toEqual({ value: "vllm-eks-4f2c1a9", secret: false });
    expect(run.outputs.token).toEqual({ value: "token-from-aws-target", secret: true });
    expect(run.outputs.apiKeys).toEqual({ value: { default: "token-from-aws-target" }, secret: true });
    expect(run.outputs.tokens).toBeUndefined();
    expect(run.resources.filter((r) => r.type === "pulumi:providers:kubernetes")).toEqual([]);
  });
});
