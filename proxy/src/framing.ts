import type { IncomingMessage } from "node:http";

/** The body length the client announced, if any (Node has already rejected malformed values). */
export function declaredLength(req: IncomingMessage): number | undefined {
  const value = req.headers["content-length"];
  return value === undefined ? undefined : Number(value);
}

/** True when a body is still on the wire: answering without reading it must close the connection. */
export function hasUnreadBody(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}
