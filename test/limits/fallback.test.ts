/** The per-gateway fallback, on a clock the test moves: the same bucket arithmetic as the store's script. */
import { MINUTE_US, shareOf } from "../../proxy/src/limits/bucket";
import { LocalLimits, localShare } from "../../proxy/src/limits/local";

function clock(): { now: () => number; advanceMs: (ms: number) => void } {
  let t = 5_000_000;
  return { now: () => t, advanceMs: (ms) => (t += ms * 1000) };
}

describe("per-gateway shares", () => {
  test.each([
    [60, 2, 30],
    [61, 2, 31],
    [1, 2, 1],
    [1, 20, 1],
    [5, 3, 2],
    [100, 1, 100],
  ])("limit %p over %p gateways -> %p each", (limit, gateways, share) => {
    expect(shareOf(limit, gateways)).toBe(share);
  });

  test("every limit the key has is divided, the others stay absent", () => {
    expect(localShare({ rpm: 10, concurrency: 3 }, 2)).toEqual({ rpm: 5, tpm: undefined, concurrency: 2 });
  });
});

describe("rpm in the fallback", () => {
  test("a full bucket lets exactly N through at once, then one every minute / N", () => {
    const c = clock();
    const local = new LocalLimits(c.now);
    const n = 7;
    const results = Array.from({ length: n + 3 }, () => local.decide("k", { rpm: n }));
    expect(results.filter((r) => r.ok)).toHaveLength(n);
    const refused = results[n];
    expect(refused).toMatchObject({ ok: false, limit: "rpm", requests: { limit: 7, remaining: 0 } });
    const wait = refused.ok ? 0 : refused.retryAfterMs;
    expect(wait).toBe(Math.ceil(MINUTE_US / n / 1000));
    c.advanceMs(wait - 1);
    expect(local.decide("k", { rpm: n }).ok).toBe(false);
    c.advanceMs(1);
    expect(local.decide("k", { rpm: n }).ok).toBe(true);
    expect(local.decide("k", { rpm: n }).ok).toBe(false);
  });

  test("remaining and reset count down as OpenAI's do", () => {
    const local = new LocalLimits(clock().now);
    expect(local.decide("k", { rpm: 60 })).toEqual({ ok: true, requests: { limit: 60, remaining: 59, resetMs: 1000 } });
    expect(local.decide("k", { rpm: 60 })).toEqual({ ok: true, requests: { limit: 60, remaining: 58, resetMs: 2000 } });
  });
});

describe("a changed limit", () => {
  test("lowered: the key waits no longer than the old limit would have made it wait", () => {
    const c = clock();
    const local = new LocalLimits(c.now);
    for (let i = 0; i < 600; i++) expect(local.decide("k", { rpm: 600 }).ok).toBe(true);
    // 600 used of 600 was a minute until full; at 6 rpm it is still a minute, and 10 s until one is left.
    expect(local.decide("k", { rpm: 6 })).toEqual({ ok: false, limit: "rpm", retryAfterMs: 10_000, requests: { limit: 6, remaining: 0, resetMs: 60_000 } });
  });

  test("raised: what was used stays used, the rest is available at once", () => {
    const local = new LocalLimits(clock().now);
    expect(local.decide("k", { rpm: 1 }).ok).toBe(true);
    expect(local.decide("k", { rpm: 1 }).ok).toBe(false);
    expect(local.decide("k", { rpm: 60 })).toMatchObject({ ok: true, requests: { remaining: 58 } });
  });
});

describe("tpm in the fallback", () => {
  test("tokens are charged when the request ends; the key is refused while its budget is spent", () => {
    const c = clock();
    const local = new LocalLimits(c.now);
    expect(local.decide("k", { tpm: 1000 }).ok).toBe(true);
    expect(local.decide("k", { tpm: 1000 }).ok).toBe(true);
    local.charge("k", 1000, 1500);
    const refused = local.decide("k", { tpm: 1000 });
    // 1500 used of 1000: 501 tokens must drain before one is left, at 1000 a minute.
    expect(refused).toEqual({ ok: false, limit: "tpm", retryAfterMs: 30_060, tokens: { limit: 1000, remaining: 0, resetMs: 90_000 } });
    c.advanceMs(30_060);
    expect(local.decide("k", { tpm: 1000 })).toMatchObject({ ok: true, tokens: { remaining: 1 } });
  });
});

describe("concurrency in the fallback", () => {
  test("counts requests in flight at this gateway and frees a slot when one ends", () => {
    const local = new LocalLimits(clock().now);
    local.enter("k");
    local.enter("k");
    expect(local.decide("k", { concurrency: 2 })).toEqual({ ok: false, limit: "concurrency", retryAfterMs: 1000, requests: undefined, tokens: undefined });
    local.leave("k");
    expect(local.decide("k", { concurrency: 2 }).ok).toBe(true);
  });

  test("keys are independent", () => {
    const local = new LocalLimits(clock().now);
    expect(local.decide("a", { rpm: 1 }).ok).toBe(true);
    expect(local.decide("a", { rpm: 1 }).ok).toBe(false);
    expect(local.decide("b", { rpm: 1 }).ok).toBe(true);
  });
});
