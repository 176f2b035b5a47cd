/**
 * A second gateway as its own process: a limiter driven by JSON lines on stdin, answering on stdout.
 * `{"id":1,"op":"admit","name":"k","limits":{...}}` -> `{"id":1,"ok":true,"lease":1,"headers":{...}}`
 * `{"id":2,"op":"settle","lease":1,"tokens":10}` -> `{"id":2}`
 * Env: REDIS_URL, GATEWAY_REPLICAS, LEASE_MS, TIMEOUT_MS.
 */
import { createInterface } from "node:readline";
import { createLimiter, type Lease } from "../../proxy/src/limits";

interface Message {
  readonly id: number;
  readonly op: "admit" | "settle" | "close";
  readonly name?: string;
  readonly limits?: { rpm?: number; tpm?: number; concurrency?: number };
  readonly lease?: number;
  readonly tokens?: number;
}

const limiter = createLimiter({
  redisUrl: process.env.REDIS_URL,
  timeoutMs: Number(process.env.TIMEOUT_MS ?? "100"),
  gatewayReplicas: Number(process.env.GATEWAY_REPLICAS ?? "2"),
  leaseMs: process.env.LEASE_MS === undefined ? undefined : Number(process.env.LEASE_MS),
  events: { storeUp: (up) => process.stdout.write(`${JSON.stringify({ event: "storeUp", up })}\n`) },
});
const leases = new Map<number, Lease>();
let nextLease = 1;
const send = (value: object): void => {
  process.stdout.write(`${JSON.stringify(value)}\n`);
};

createInterface({ input: process.stdin }).on("line", (line) => {
  const message = JSON.parse(line) as Message;
  if (message.op === "admit") {
    void limiter.admit(message.name ?? "", message.limits ?? {}).then((admission) => {
      if (!admission.ok) return send({ id: message.id, ...admission });
      const lease = nextLease++;
      leases.set(lease, admission.lease);
      send({ id: message.id, ok: true, lease, headers: admission.headers });
    });
  } else if (message.op === "settle") {
    leases.get(message.lease ?? 0)?.settle(message.tokens ?? 0);
    leases.delete(message.lease ?? 0);
    send({ id: message.id });
  } else {
    void limiter.close().then(() => {
      send({ id: message.id });
      process.exit(0);
    });
  }
});
