/**
 * The report's latency histogram: fixed log-spaced bins 1% wide (0.5 ms to
 * ~10 min) for each minute and the whole run, so the report's p50/p95/p99 and
 * its SLO minutes are read within 1%. The last bin holds failures (rejected or
 * timed-out requests): they count as slower than any latency when a percentile
 * is taken. The deciders' p95 comes from the signal windows instead
 * (src/observability/latency-histogram.ts, bins 9% wide), as in the real loop.
 */

const MIN_MS = 0.5;
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
/** Latency bins; one more for failures. */
const LATENCY_BINS = Math.ceil(Math.log(600_000 / MIN_MS) / LOG_GROWTH) + 1;
export const FAILURE_BIN = LATENCY_BINS;
export const BIN_COUNT = LATENCY_BINS + 1;

export function binOf(ms: number): number {
  if (!(ms > MIN_MS)) return 0;
  const bin = Math.floor(Math.log(ms / MIN_MS) / LOG_GROWTH);
  return bin < LATENCY_BINS ? bin : LATENCY_BINS - 1;
}

/** A representative latency of a bin (its geometric middle); Infinity for the failure bin. */
export function binValue(bin: number): number {
  if (bin >= FAILURE_BIN) return Infinity;
  return MIN_MS * Math.pow(GROWTH, bin + 0.5);
}

export class BinnedHistogram {
  readonly counts = new Float64Array(BIN_COUNT);
  total = 0;

  /** Rebuilds a histogram from its counts (e.g. after crossing a worker boundary). */
  static fromCounts(counts: Float64Array): BinnedHistogram {
    const h = new BinnedHistogram();
    h.counts.set(counts);
    for (let i = 0; i < BIN_COUNT; i++) h.total += counts[i]!;
    return h;
  }

  add(bin: number, n = 1): void {
    this.counts[bin]! += n;
    this.total += n;
  }

  addAll(other: BinnedHistogram): void {
    if (other.total === 0) return;
    const mine = this.counts;
    const theirs = other.counts;
    for (let i = 0; i < BIN_COUNT; i++) mine[i]! += theirs[i]!;
    this.total += other.total;
  }

  clear(): void {
    if (this.total === 0) return;
    this.counts.fill(0);
    this.total = 0;
  }

  /** Successful requests only (the failure bin left out). */
  get successes(): number {
    return this.total - this.counts[FAILURE_BIN]!;
  }

  /**
   * Nearest-rank percentile (p in 0..100) in ms; Infinity when failures reach
   * that rank; undefined when empty. `includeFailures: false` ranks successes only.
   */
  percentile(p: number, includeFailures = true): number | undefined {
    const n = includeFailures ? this.total : this.successes;
    if (n <= 0) return undefined;
    const rank = Math.max(1, Math.ceil((p / 100) * n));
    let seen = 0;
    const counts = this.counts;
    for (let i = 0; i < LATENCY_BINS; i++) {
      seen += counts[i]!;
      if (seen >= rank) return binValue(i);
    }
    return Infinity;
  }
}
