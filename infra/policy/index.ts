import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

// Run with: pulumi preview --policy-pack infra/policy (dependencies resolve from the repository root).
new PolicyPack("vllm-auth", {
  description: "Guards the vllm-auth endpoint: vLLM only behind its sidecar, replicas reached only through the gateways, keys only in Secrets, pinned images, GPU scheduling.",
  policies,
});
