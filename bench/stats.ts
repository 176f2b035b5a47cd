/** Percentiles and summaries over plain arrays of samples (milliseconds unless named otherwise). */

export interface Summary {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = Float64Array.from(samples).sort();
  const values = Array.from(sorted);
  const total = values.reduce((sum, v) => sum + v, 0);
  return {
    n: values.length,
    p50: percentile(values, 50),
    p90: percentile(values, 90),
    p99: percentile(values, 99),
    max: values.length === 0 ? Number.NaN : values[values.length - 1],
    mean: values.length === 0 ? Number.NaN : total / values.length,
  };
}

/** Median of per-round figures: robust to one noisy round. */
export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** Appends into a bounded sample array: keeps the first `cap` samples and counts the rest. */
export class SampleBuffer {
  readonly values: number[] = [];
  dropped = 0;
  constructor(private readonly cap: number) {}

  push(value: number): void {
    if (this.values.length < this.cap) this.values.push(value);
    else this.dropped++;
  }
}

/** Formats a number with `digits` decimals, or "n/a". */
export function fmt(value: number | undefined, digits = 2): string {
  return value === undefined || !Number.isFinite(value) ? "n/a" : value.toFixed(digits);
}
