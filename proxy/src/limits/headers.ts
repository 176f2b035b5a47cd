/**
 * The rate-limit headers of an answer, in OpenAI's names and formats, so OpenAI SDKs and the tools
 * built on them read ours as they read OpenAI's. The SDKs' retry logic (openai-node 6.x,
 * `client.ts` `retryRequest`) waits `retry-after-ms` if present, else `retry-after` in seconds.
 */
import type { Decision, LimitName, Quota } from "./types";

/**
 * A duration as OpenAI writes `x-ratelimit-reset-*` (Go's `time.Duration` text at millisecond
 * resolution): `0s`, `20ms`, `1s`, `1.5s`, `6m0s`, `1h2m3.4s`.
 */
export function formatResetDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms));
  if (total === 0) return "0s";
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const millis = total % 60_000;
  const whole = Math.floor(millis / 1000);
  const fraction = millis % 1000;
  const seconds = fraction === 0 ? `${whole}` : `${whole}.${String(fraction).padStart(3, "0").replace(/0+$/, "")}`;
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

function quotaHeaders(headers: Record<string, string>, kind: "requests" | "tokens", quota: Quota | undefined): void {
  if (quota === undefined) return;
  headers[`x-ratelimit-limit-${kind}`] = String(quota.limit);
  headers[`x-ratelimit-remaining-${kind}`] = String(quota.remaining);
  headers[`x-ratelimit-reset-${kind}`] = formatResetDuration(quota.resetMs);
}

/**
 * `x-ratelimit-*` for the limits the key has (`requests` for rpm, `tokens` for tpm); on a refusal also
 * `retry-after` (whole seconds, rounded up: HTTP allows no fraction) and `retry-after-ms`.
 */
export function rateLimitHeaders(decision: Decision): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  if (!decision.ok) {
    const ms = Math.max(1, Math.ceil(decision.retryAfterMs));
    headers["retry-after"] = String(Math.ceil(ms / 1000));
    headers["retry-after-ms"] = String(ms);
  }
  quotaHeaders(headers, "requests", decision.requests);
  quotaHeaders(headers, "tokens", decision.tokens);
  return headers;
}

const LIMIT_TEXT: Readonly<Record<LimitName, string>> = {
  rpm: "requests per minute",
  tpm: "tokens per minute",
  concurrency: "concurrent requests",
};

/** The message of a 429 for key `name`, like OpenAI's "Rate limit reached for ... Please try again in 20s." */
export function refusalMessage(name: string, limit: LimitName, limitValue: number | undefined, retryAfterMs: number): string {
  const value = limitValue === undefined ? "" : ` (limit ${limitValue})`;
  return `Rate limit reached for key ${name} on ${LIMIT_TEXT[limit]}${value}. Please try again in ${formatResetDuration(Math.max(1, retryAfterMs))}.`;
}
