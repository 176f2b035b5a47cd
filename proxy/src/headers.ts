import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";

/** RFC 9110 section 7.6.1 hop-by-hop headers, plus the legacy ones proxies still meet. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** Never sent upstream: credentials, framing the proxy redoes itself, and forwarding headers it sets. */
const REQUEST_DROP = new Set([
  ...HOP_BY_HOP,
  "authorization",
  "host",
  "expect",
  "forwarded",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-forwarded-port",
  "x-real-ip",
]);

/** The header names a `Connection` header lists are hop-by-hop too. */
function connectionNames(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const names = new Set<string>();
  for (const part of (Array.isArray(value) ? value.join(",") : value).split(",")) {
    const name = part.trim().toLowerCase();
    if (name !== "") names.add(name);
  }
  return names;
}

export interface ForwardedFor {
  readonly clientAddress: string | undefined;
  readonly proto: "http" | "https";
  /** The caller is this project's own gateway (a sidecar's only caller): its X-Forwarded-* name the real client. */
  readonly trustIncoming?: boolean;
}

/** Headers for the upstream request: end-to-end headers only, plus this hop's X-Forwarded-*. */
export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, forwarded: ForwardedFor): Record<string, string | string[]> {
  const listed = connectionNames(incoming.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || REQUEST_DROP.has(name) || listed?.has(name)) continue;
    out[name] = value;
  }
  const forwardedFor = incoming["x-forwarded-for"];
  const forwardedProto = incoming["x-forwarded-proto"];
  if (forwarded.trustIncoming === true && typeof forwardedFor === "string" && (forwardedProto === "http" || forwardedProto === "https")) {
    out["x-forwarded-for"] = forwardedFor;
    out["x-forwarded-proto"] = forwardedProto;
    return out;
  }
  // The NLB forwards TCP, so this proxy is the first HTTP hop: client-sent X-Forwarded-* are not trusted.
  if (forwarded.clientAddress !== undefined) out["x-forwarded-for"] = forwarded.clientAddress;
  out["x-forwarded-proto"] = forwarded.proto;
  return out;
}

/** Headers for the client's response: end-to-end headers only; streams marked unbuffered. */
export function clientResponseHeaders(upstream: Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const listed = connectionNames(upstream.connection);
  const out: OutgoingHttpHeaders = {};
  for (const name in upstream) {
    const value = upstream[name];
    if (value === undefined || HOP_BY_HOP.has(name) || listed?.has(name)) continue;
    out[name] = value;
  }
  const type = upstream["content-type"];
  if (typeof type === "string" && type.toLowerCase().startsWith("text/event-stream")) {
    // Tell any buffering hop (nginx-style) in front of us to pass events through as they come.
    out["x-accel-buffering"] = "no";
    out["cache-control"] ??= "no-cache";
  }
  return out;
}

export function isEventStream(headers: OutgoingHttpHeaders): boolean {
  const type = headers["content-type"];
  return typeof type === "string" && type.toLowerCase().startsWith("text/event-stream");
}
