import { formatResetDuration, rateLimitHeaders, refusalMessage } from "../../proxy/src/limits";

describe("reset durations, written as OpenAI writes them", () => {
  test.each([
    [0, "0s"],
    [1, "1ms"],
    [20, "20ms"],
    [999, "999ms"],
    [1000, "1s"],
    [1500, "1.5s"],
    [1050, "1.05s"],
    [17_280, "17.28s"],
    [60_000, "1m0s"],
    [360_000, "6m0s"],
    [90_500, "1m30.5s"],
    [3_600_000, "1h0m0s"],
    [3_723_400, "1h2m3.4s"],
    [0.2, "1ms"],
  ])("%p ms -> %s", (ms, text) => {
    expect(formatResetDuration(ms)).toBe(text);
  });
});

describe("rate-limit headers", () => {
  const requests = { limit: 60, remaining: 59, resetMs: 1000 };
  const tokens = { limit: 150_000, remaining: 149_984, resetMs: 360_000 };

  test("an admitted request carries the x-ratelimit-* of the limits the key has, and no retry-after", () => {
    expect(rateLimitHeaders({ ok: true, requests, tokens })).toEqual({
      "x-ratelimit-limit-requests": "60",
      "x-ratelimit-remaining-requests": "59",
      "x-ratelimit-reset-requests": "1s",
      "x-ratelimit-limit-tokens": "150000",
      "x-ratelimit-remaining-tokens": "149984",
      "x-ratelimit-reset-tokens": "6m0s",
    });
    expect(rateLimitHeaders({ ok: true, requests })).toEqual({
      "x-ratelimit-limit-requests": "60",
      "x-ratelimit-remaining-requests": "59",
      "x-ratelimit-reset-requests": "1s",
    });
    expect(rateLimitHeaders({ ok: true })).toEqual({});
  });

  test("a refusal adds retry-after in whole seconds rounded up and retry-after-ms", () => {
    const h = rateLimitHeaders({ ok: false, limit: "rpm", retryAfterMs: 1001, requests: { limit: 60, remaining: 0, resetMs: 60_000 } });
    expect(h).toEqual({
      "retry-after": "2",
      "retry-after-ms": "1001",
      "x-ratelimit-limit-requests": "60",
      "x-ratelimit-remaining-requests": "0",
      "x-ratelimit-reset-requests": "1m0s",
    });
    expect(rateLimitHeaders({ ok: false, limit: "concurrency", retryAfterMs: 1000 })).toEqual({ "retry-after": "1", "retry-after-ms": "1000" });
    expect(rateLimitHeaders({ ok: false, limit: "tpm", retryAfterMs: 0.3 })).toMatchObject({ "retry-after": "1", "retry-after-ms": "1" });
  });

  test("the 429 message names the key and the limit, never more", () => {
    expect(refusalMessage("ci-bot", "rpm", 60, 1500)).toBe(
      "Rate limit reached for key ci-bot on requests per minute (limit 60). Please try again in 1.5s.",
    );
    expect(refusalMessage("alice", "concurrency", 2, 1000)).toBe("Rate limit reached for key alice on concurrent requests (limit 2). Please try again in 1s.");
  });
});
