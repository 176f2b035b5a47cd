import { checkVllmLoopbackAndSidecar, isLoopback } from "../../infra/policy/checks/loopback";
import { deployment, proxyContainer, replicaDeployment, SIDECAR_ENV, sidecarContainer, vllmContainer } from "./fixtures";

describe("policy 2: vllm-loopback-with-auth-proxy", () => {
  it("passes vLLM on 127.0.0.1 with the proxy beside it", () => {
    expect(checkVllmLoopbackAndSidecar(deployment())).toEqual([]);
  });

  it("fails vLLM without --host, which binds every interface", () => {
    const open = vllmContainer({ command: ["vllm", "serve", "meta-llama/Llama-2-7b-chat-hf", "--port", "8000"] });
    const [message] = checkVllmLoopbackAndSidecar(deployment({ containers: [open, proxyContainer()] }));
    expect(message).toMatch(/sets no --host/);
    expect(message).toMatch(/Add "--host", "127.0.0.1"/);
  });

  it("fails --host 0.0.0.0 in either spelling, in command or args, or through a shell", () => {
    const variants = [
      vllmContainer({ command: ["vllm", "serve", "m", "--host", "0.0.0.0"] }),
      vllmContainer({ command: ["vllm"], args: ["serve", "m", "--host=0.0.0.0"] }),
      vllmContainer({ image: "vllm/vllm-openai:v0.6.0", command: ["python3", "-m", "vllm.entrypoints.openai.api_server", "--host", "::"] }),
      vllmContainer({ image: "ubuntu:24.04", command: ["/bin/sh", "-c", "exec vllm serve m --host 0.0.0.0"] }),
    ];
    for (const container of variants) {
      const messages = checkVllmLoopbackAndSidecar(deployment({ containers: [container, proxyContainer()] }));
      expect(messages).toHaveLength(1);
      expect(messages[0]).toMatch(/Use --host 127.0.0.1/);
    }
  });

  it("lets the last --host win, as vLLM's argument parser does", () => {
    const twice = vllmContainer({ command: ["vllm", "serve", "m", "--host", "127.0.0.1"], args: ["--host", "0.0.0.0"] });
    expect(checkVllmLoopbackAndSidecar(deployment({ containers: [twice, proxyContainer()] }))).toHaveLength(1);
  });

  it("expands $(VAR) from the container's env before judging the host", () => {
    const viaEnv = (host: string) =>
      vllmContainer({ command: ["vllm", "serve", "m", "--host", "$(BIND)"], env: [{ name: "BIND", value: host }] });
    expect(checkVllmLoopbackAndSidecar(deployment({ containers: [viaEnv("127.0.0.1"), proxyContainer()] }))).toEqual([]);
    expect(checkVllmLoopbackAndSidecar(deployment({ containers: [viaEnv("0.0.0.0"), proxyContainer()] }))).toHaveLength(1);
  });

  it("fails a vLLM pod without the proxy sidecar and says what to add", () => {
    const [message] = checkVllmLoopbackAndSidecar(deployment({ containers: [vllmContainer()] }));
    expect(message).toMatch(/without the auth proxy sidecar/);
    expect(message).toMatch(/ROLE=sidecar and INTERNAL_TOKEN_FILE/);
  });

  it("passes the two-tier replica: a sidecar in role sidecar with the internal credential and no client keys", () => {
    expect(checkVllmLoopbackAndSidecar(replicaDeployment())).toEqual([]);
  });

  it("fails a sidecar in role sidecar that has no internal credential, or that is given client keys", () => {
    const bare = sidecarContainer({ env: [{ name: "ROLE", value: "sidecar" }, { name: "UPSTREAM_URL", value: "http://127.0.0.1:8000" }] });
    const [missing] = checkVllmLoopbackAndSidecar(replicaDeployment({ containers: [vllmContainer(), bare] }));
    expect(missing).toMatch(/runs in role sidecar without INTERNAL_TOKEN_FILE/);
    const keyed = sidecarContainer({ env: [...SIDECAR_ENV, { name: "KEYS_FILE", value: "/etc/vllm-auth/keys/keys.json" }] });
    const [leak] = checkVllmLoopbackAndSidecar(replicaDeployment({ containers: [vllmContainer(), keyed] }));
    expect(leak).toMatch(/is given KEYS_FILE: client keys must stay at the gateways/);
  });

  it("accepts the proxy as a native sidecar (init container that keeps running) but not as a plain init container", () => {
    const native = deployment({ containers: [vllmContainer()], initContainers: [proxyContainer({ restartPolicy: "Always" })] });
    expect(checkVllmLoopbackAndSidecar(native)).toEqual([]);
    const oneShot = deployment({ containers: [vllmContainer()], initContainers: [proxyContainer()] });
    expect(checkVllmLoopbackAndSidecar(oneShot)).toHaveLength(1);
  });

  it("fails hostNetwork, where 127.0.0.1 is the node's loopback", () => {
    const [message] = checkVllmLoopbackAndSidecar(deployment({ spec: { hostNetwork: true } }));
    expect(message).toMatch(/Remove hostNetwork/);
  });

  it("does not mistake the proxy image (named after the project) for vLLM", () => {
    const proxy = proxyContainer({ image: "registry.example.com/vllm-auth-proxy:0.1.0" });
    expect(checkVllmLoopbackAndSidecar(deployment({ containers: [vllmContainer(), proxy] }))).toEqual([]);
  });

  it("ignores pods that do not run vLLM", () => {
    const web = { name: "web", image: "nginx:1.27", command: ["nginx"] };
    expect(checkVllmLoopbackAndSidecar(deployment({ containers: [web] }))).toEqual([]);
  });

  it("knows which addresses are loopback", () => {
    expect(["127.0.0.1", "127.1.2.3", "::1", "localhost"].every(isLoopback)).toBe(true);
    expect(["0.0.0.0", "::", "10.0.0.5", "127.0.0.1.nip.io"].some(isLoopback)).toBe(false);
  });
});
