export * from "./labels";
export * from "./namespace";
export * from "./timeouts";
export * from "./apiTokens";
export * from "./vllmPod";
export * from "./vllmServer";
export * from "./ingress";
