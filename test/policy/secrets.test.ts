import { checkTokensOnlyInSecrets, credentialShape, isSensitiveName } from "../../infra/policy/checks/secrets";
import { ResourceInput } from "../../infra/policy/values";
import { configMap, deployment, proxyContainer, service, vllmContainer } from "./fixtures";

const HF = "hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZ01234567";

describe("policy 3: tokens-only-in-secrets", () => {
  it("passes the stack's shape: HF_TOKEN from a secretKeyRef, TOKENS_FILE as a path", () => {
    expect(checkTokensOnlyInSecrets(deployment())).toEqual([]);
    expect(checkTokensOnlyInSecrets(service())).toEqual([]);
  });

  it("fails HF_TOKEN as a plain env value and points to secretKeyRef", () => {
    const leaky = vllmContainer({ env: [{ name: "HF_TOKEN", value: "not-a-real-token-but-plain" }] });
    const [message] = checkTokensOnlyInSecrets(deployment({ containers: [leaky, proxyContainer()] }));
    expect(message).toMatch(/env HF_TOKEN of container "vllm"/);
    expect(message).toMatch(/valueFrom.secretKeyRef/);
  });

  it("fails a Hugging Face token under any name", () => {
    const sneaky = vllmContainer({ env: [{ name: "EXTRA", value: HF }] });
    expect(checkTokensOnlyInSecrets(deployment({ containers: [sneaky, proxyContainer()] }))[0]).toMatch(/Hugging Face token/);
  });

  it("allows empty values and $(VAR) references to Secret-backed env", () => {
    const refs = vllmContainer({
      env: [
        { name: "HF_TOKEN", valueFrom: { secretKeyRef: { name: "hf", key: "token" } } },
        { name: "HUGGING_FACE_HUB_TOKEN", value: "$(HF_TOKEN)" },
        { name: "API_KEY", value: "" },
      ],
    });
    expect(checkTokensOnlyInSecrets(deployment({ containers: [refs, proxyContainer()] }))).toEqual([]);
  });

  it("fails a token in a ConfigMap, as a key or inside an env file", () => {
    const byKey = checkTokensOnlyInSecrets(configMap({ API_TOKENS: "tok-one\ntok-two" }));
    expect(byKey[0]).toMatch(/ConfigMap "settings": key "API_TOKENS" holds a credential/);
    expect(byKey[0]).toMatch(/Kubernetes Secret/);
    const envFile = checkTokensOnlyInSecrets(configMap({ "app.env": "LOG_LEVEL=info\nHF_TOKEN=abc123\n" }));
    expect(envFile).toHaveLength(1);
    expect(envFile[0]).toMatch(/sets HF_TOKEN in plain text/);
    expect(checkTokensOnlyInSecrets(configMap({ "vllm-args": "--max-model-len 4096", TOKENS_FILE: "/etc/t" }))).toEqual([]);
  });

  it("fails a token in an annotation, on the object or on the pod template", () => {
    const onService = checkTokensOnlyInSecrets(service({}, { annotations: { "vllm-auth/api-token": "s3cr3t-value" } }));
    expect(onService[0]).toMatch(/annotation "vllm-auth\/api-token"/);
    const onPods = checkTokensOnlyInSecrets(deployment({ templateMetadata: { annotations: { note: `Bearer ${"x".repeat(24)}` } } }));
    expect(onPods[0]).toMatch(/pod template: annotation "note" holds what looks like a bearer token/);
    const checksum = deployment({ templateMetadata: { annotations: { "checksum/tokens": "9f86d081884c7d659a2feaa0c55ad015" } } });
    expect(checkTokensOnlyInSecrets(checksum)).toEqual([]);
  });

  it("fails a literal --api-key on the command line but not one taken from the env", () => {
    const literal = vllmContainer({ command: ["vllm", "serve", "m", "--host", "127.0.0.1", "--api-key", "abc"] });
    expect(checkTokensOnlyInSecrets(deployment({ containers: [literal, proxyContainer()] }))[0]).toMatch(/passes --api-key a literal/);
    const fromEnv = vllmContainer({ command: ["vllm", "serve", "m", "--host", "127.0.0.1", "--api-key=$(API_KEY)"] });
    expect(checkTokensOnlyInSecrets(deployment({ containers: [fromEnv, proxyContainer()] }))).toEqual([]);
  });

  it("leaves Secrets alone: that is where tokens belong", () => {
    const secret: ResourceInput = { type: "kubernetes:core/v1:Secret", name: "t", props: { stringData: { tokens: "abc" } } };
    expect(checkTokensOnlyInSecrets(secret)).toEqual([]);
  });

  it("fails a vllm-auth API key under any name, and passes the gateway's file paths", () => {
    const key = "vllmauth_" + "A1b2C3d4E5".repeat(3) + "abcdef" + "0a1B2c";
    const leaky = proxyContainer({ env: [{ name: "DEFAULT_CLIENT", value: key }] });
    expect(checkTokensOnlyInSecrets(deployment({ containers: [vllmContainer(), leaky] }))[0]).toMatch(/looks like a vllm-auth API key/);
    const paths = proxyContainer({
      env: [
        { name: "KEYS_FILE", value: "/etc/vllm-auth/keys/keys.json" },
        { name: "INTERNAL_TOKEN_FILE", value: "/etc/vllm-auth/internal/token" },
        { name: "REDIS_URL", value: "redis://vllm-valkey.vllm.svc.cluster.local:6379" },
      ],
    });
    expect(checkTokensOnlyInSecrets(deployment({ containers: [vllmContainer(), paths] }))).toEqual([]);
  });

  it("classifies names and values", () => {
    expect(["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "api-key", "vllm-auth/tokens", "DB_PASSWORD"].every(isSensitiveName)).toBe(true);
    expect(["TOKENS_FILE", "HF_TOKEN_PATH", "checksum/tokens", "MAX_TOKENS_PER_USER", "HF_HOME"].some(isSensitiveName)).toBe(false);
    expect(credentialShape(HF)).toBe("a Hugging Face token");
    expect(credentialShape("hf_short")).toBeUndefined();
  });
});
