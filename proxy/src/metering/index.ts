/** Per-key metering: what to ask vLLM for (plan) and how to read and trim its answer (meter). */
export { planUsage, METERED_ROUTES, type MeteredRoute, type UsagePlan } from "./plan";
export {
  UsageMeter,
  FingerprintMemo,
  sharedFingerprint,
  MAX_JSON_BYTES,
  MAX_EVENT_BYTES,
  type Usage,
  type UsageSource,
} from "./meter";
