import type { IncomingMessage, ServerResponse } from "node:http";
import { badRequest, reply, sendError } from "./errors";
import { hasUnreadBody } from "./framing";
import { checkTarget } from "./target";

/**
 * The port-80 listener when TLS is on: 308 to the configured origin plus the same path and query.
 * 308 keeps the method and body, so `curl --location-trusted -X POST -d ...` works as in the seed.
 * The Location host comes from configuration only, never from the request's Host header.
 */
export function createRedirectHandler(
  origin: string,
  observe: (req: IncomingMessage, status: number, bytesOut: number) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    req.on("error", () => undefined);
    const checked = checkTarget(req.url);
    const unread = hasUnreadBody(req);
    if (!checked.ok) {
      observe(req, 400, sendError(res, badRequest(checked.reason), false, unread));
      return;
    }
    const location = origin + checked.target.raw;
    // The body is not read here: close instead of draining it, the client resends it to Location.
    const headers: Record<string, string> = unread ? { location, connection: "close" } : { location };
    observe(req, 308, reply(res, 308, "text/plain; charset=utf-8", `Redirecting to ${location}\n`, headers));
  };
}
