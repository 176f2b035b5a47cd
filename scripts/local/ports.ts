/** Port choice: the documented default when it is free, any free port when it is not, the user's port or an error. */
import net from "node:net";

/** The user asked for a port that cannot be bound; exit code 1. */
export class PortError extends Error {
  readonly exitCode = 1;
  constructor(message: string) {
    super(message);
    this.name = "PortError";
  }
}

/** Binds and releases `port` on `host`: the bound port (the OS's pick for 0), or the bind error code. */
export function probePort(port: number, host: string): Promise<{ port: number } | { error: string }> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? "error" }));
    server.listen({ port, host, exclusive: true }, () => {
      const bound = (server.address() as net.AddressInfo).port;
      server.close(() => resolve({ port: bound }));
    });
  });
}

export interface PortChoice {
  /** A concrete port, known before the proxy starts: the redirect listener's Location needs it. */
  readonly port: number;
  /** Set when the default was taken and a free port is used instead. */
  readonly note?: string;
}

async function anyFreePort(host: string, flag: string): Promise<number> {
  const probe = await probePort(0, host);
  if ("error" in probe) throw new PortError(`${flag}: cannot listen on ${host} (${probe.error}); check --host`);
  return probe.port;
}

/**
 * `requested` absent: `fallback` if free, else any free port with a note. A port the user named is
 * used as is, or fails with a message saying what to do (a user who names a port expects that port).
 */
export async function choosePort(requested: number | undefined, fallback: number, host: string, flag: string): Promise<PortChoice> {
  if (requested === 0) return { port: await anyFreePort(host, flag) };
  const port = requested ?? fallback;
  const probe = await probePort(port, host);
  if (!("error" in probe)) return { port: probe.port };
  const problem = probe.error;
  if (requested === undefined) {
    const free = await anyFreePort(host, flag);
    return { port: free, note: `port ${fallback} is in use (${problem}), so ${flag === "--port" ? "the API" : "the redirect listener"} uses ${free}; pass ${flag} N to choose` };
  }
  const why = problem === "EADDRINUSE" ? "is in use" : problem === "EACCES" ? "needs privileges" : `cannot be bound (${problem})`;
  throw new PortError(`${flag} ${port}: port ${port} on ${host} ${why}; pick another, or ${flag} 0 for any free port`);
}

/** The host part of an endpoint: a wildcard address becomes loopback, an IPv6 address gets brackets. */
export function endpointHost(host: string): string {
  const reachable = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  return net.isIPv6(reachable) ? `[${reachable}]` : reachable;
}
