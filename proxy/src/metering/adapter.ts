import { unreadableBody } from "../errors";
import type { Metering, ResponseMeter } from "../handler";
import { METERED_ROUTES, planUsage } from "./plan";
import { UsageMeter } from "./meter";

/** The request handler's view of metering: plan the request, then meter its answer. */
export const usageMetering: Metering = {
  prepare(route, body) {
    if (!METERED_ROUTES.has(route)) return undefined;
    const plan = planUsage(route, body);
    // Not a UTF-8 JSON object: vLLM refuses most of those anyway, and the rest could not be metered.
    if (plan === undefined) return unreadableBody();
    return {
      body: plan.body,
      meter: (contentType): ResponseMeter => {
        const meter = new UsageMeter(route, plan, contentType);
        return {
          transform: (chunk) => meter.transform(chunk),
          usage: () => meter.usage(),
          get readable() {
            return meter.source !== "too_large";
          },
        };
      },
    };
  },
};
