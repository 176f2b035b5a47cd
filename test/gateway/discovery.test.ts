/**
 * Discovery by DNS: the gateway resolves the replicas' headless Service name again and again
 * (CoreDNS answers only ready pods); a replica that appears is probed and used, one that leaves the
 * answer gets no new requests. The resolver is the only fake here: replicas are real sidecars bound
 * to their own loopback addresses on one port, as pods share a port on different IPs.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chatBody, eventually, request } from "../proxy/harness";
import { freePorts } from "../proxy/support";
import { served, startReplica, startTiers, type Replica, type Tiers } from "./tiers";

describe("replicas from DNS", () => {
  let answer: string[] = [];
  let replicas: Replica[] = [];
  let tiers: Tiers;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "vllm-auth-dns-"));
    const [port] = await freePorts(1);
    replicas = [
      await startReplica(dir, 0, { sidecarEnv: { HOST: "127.0.0.2", PORT: String(port) } }),
      await startReplica(dir, 1, { sidecarEnv: { HOST: "127.0.0.3", PORT: String(port) } }),
    ];
    answer = ["127.0.0.2"];
    tiers = await startTiers({
      replicaUrls: [],
      gatewayEnv: { REPLICAS: "", REPLICAS_DNS: "vllm-replicas.vllm.svc.cluster.local", REPLICAS_PORT: String(port), REPLICAS_RESOLVE_MS: "100" },
      start: {
        resolve: async (name) => {
          expect(name).toBe("vllm-replicas.vllm.svc.cluster.local");
          if (answer.length === 0) throw Object.assign(new Error("queryA ENOTFOUND"), { code: "ENOTFOUND" });
          return answer;
        },
      },
    });
  });
  afterAll(async () => {
    await tiers.close();
    await Promise.all(replicas.map((r) => r.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  const chat = () =>
    request(tiers.url, { method: "POST", path: "/v1/chat/completions", headers: { authorization: `Bearer ${tiers.keys.alice}`, "content-type": "application/json" }, body: chatBody() });
  const counts = () => replicas.map((r) => served(r).length);

  test("the addresses in the answer are used; a replica that appears takes its share", async () => {
    expect((await chat()).status).toBe(200);
    expect(counts()).toEqual([1, 0]);
    answer = ["127.0.0.2", "127.0.0.3"];
    await eventually(async () => {
      const before = counts();
      await chat();
      await chat();
      const after = counts();
      return after[1] > before[1];
    });
  });

  test("a replica that leaves the answer gets no new requests", async () => {
    answer = ["127.0.0.3"];
    await new Promise((resolve) => setTimeout(resolve, 400));
    const before = counts();
    for (let i = 0; i < 4; i++) expect((await chat()).status).toBe(200);
    const after = counts();
    expect(after[0]).toBe(before[0]);
    expect(after[1]).toBe(before[1] + 4);
  });

  test("no address at all (a Service scaled to zero answers NXDOMAIN): requests are held, then served when one returns", async () => {
    answer = [];
    await new Promise((resolve) => setTimeout(resolve, 400));
    const pending = chat();
    await new Promise((resolve) => setTimeout(resolve, 300));
    answer = ["127.0.0.2"];
    expect((await pending).status).toBe(200);
  });
});
