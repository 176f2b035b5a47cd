import { checkProxyRestricted } from "../../infra/policy/checks/proxy-hardening";
import { deployment, gatewayContainer, gatewayDeployment, proxyContainer, RESTRICTED, vllmContainer } from "./fixtures";

function withProxyContext(securityContext: Record<string, unknown>, podContext?: Record<string, unknown>): string[] {
  return checkProxyRestricted(
    deployment({
      containers: [vllmContainer(), proxyContainer({ securityContext })],
      ...(podContext ? { spec: { securityContext: podContext } } : {}),
    }),
  );
}

describe("policy 6: proxy-restricted-security-context", () => {
  it("passes the restricted context", () => {
    expect(withProxyContext({ ...RESTRICTED })).toEqual([]);
  });

  it("names every missing setting in one message", () => {
    const [message] = withProxyContext({});
    for (const setting of ["runAsNonRoot: true", "readOnlyRootFilesystem: true", "allowPrivilegeEscalation: false", 'capabilities.drop: ["ALL"]', "seccompProfile.type: RuntimeDefault"]) {
      expect(message).toContain(setting);
    }
  });

  it("fails each weakening on its own", () => {
    expect(withProxyContext({ ...RESTRICTED, readOnlyRootFilesystem: false })[0]).toMatch(/readOnlyRootFilesystem: true/);
    expect(withProxyContext({ ...RESTRICTED, allowPrivilegeEscalation: true })[0]).toMatch(/allowPrivilegeEscalation: false/);
    expect(withProxyContext({ ...RESTRICTED, capabilities: { drop: ["all"] } })[0]).toMatch(/in capitals/);
    expect(withProxyContext({ ...RESTRICTED, capabilities: { drop: ["ALL"], add: ["NET_ADMIN"] } })[0]).toMatch(/remove NET_ADMIN/);
    expect(withProxyContext({ ...RESTRICTED, runAsUser: 0 })[0]).toMatch(/non-zero runAsUser/);
    expect(withProxyContext({ ...RESTRICTED, privileged: true })[0]).toMatch(/privileged: false/);
  });

  it("takes runAsNonRoot and seccomp from the pod when the container leaves them out", () => {
    const { runAsNonRoot, seccompProfile, ...rest } = RESTRICTED;
    expect(withProxyContext(rest, { runAsNonRoot, seccompProfile })).toEqual([]);
    expect(withProxyContext({ ...RESTRICTED, runAsNonRoot: false }, { runAsNonRoot: true })).toHaveLength(1);
  });

  it("holds the gateway to the same rules, recognised by its role whatever its name", () => {
    expect(checkProxyRestricted(gatewayDeployment())).toEqual([]);
    const weak = gatewayDeployment([gatewayContainer({ name: "front", securityContext: { ...RESTRICTED, readOnlyRootFilesystem: false } })]);
    expect(checkProxyRestricted(weak)[0]).toMatch(/container "front".*readOnlyRootFilesystem: true/);
  });

  it("does not hold vLLM to the proxy's rules", () => {
    expect(checkProxyRestricted(deployment({ containers: [vllmContainer({ securityContext: {} }), proxyContainer()] }))).toEqual([]);
  });
});
