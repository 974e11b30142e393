/**
 * A latency histogram with HDR-style log-linear buckets: values are kept in
 * microseconds; below 256 µs every value has its own bucket, above it each
 * power of two is split into 128 equal buckets. A bucket's width is at most
 * 1/128 of its lower bound, and percentiles report the bucket's midpoint, so
 * any percentile is within 0.4% (plus 0.5 µs of rounding) of the exact value.
 * Memory grows only with the largest value seen (~128 counters per doubling).
 */

const SUB_BUCKET_BITS = 8;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS; // 256: values below are exact
const HALF = SUB_BUCKETS >> 1; // 128 buckets per power of two above that

/** floor(log2(n)) + 1 for an integer n ≥ 1. */
function bitLength(n: number): number {
  if (n < 2 ** 32) return 32 - Math.clz32(n);
  let e = Math.floor(Math.log2(n));
  while (2 ** e > n) e--;
  while (2 ** (e + 1) <= n) e++;
  return e + 1;
}

/** Bucket index of a value in microseconds (an integer ≥ 0). */
function indexOf(us: number): number {
  if (us < SUB_BUCKETS) return us;
  // Shift so that the mantissa (us >> shift) lies in [HALF, SUB_BUCKETS).
  const shift = bitLength(us) - SUB_BUCKET_BITS;
  return HALF * shift + Math.floor(us / 2 ** shift);
}

/** Lowest value (µs) and width of the bucket at `index`. */
function bucketBounds(index: number): { low: number; width: number } {
  if (index < SUB_BUCKETS) return { low: index, width: 1 };
  const shift = Math.floor(index / HALF) - 1;
  const mantissa = index - HALF * shift;
  return { low: mantissa * 2 ** shift, width: 2 ** shift };
}

export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export class LatencyHistogram {
  #counts: number[] = [];
  #count = 0;
  #sumUs = 0;
  #minUs = Infinity;
  #maxUs = 0;

  /** Records one latency in milliseconds (negative values count as 0). */
  record(ms: number): void {
    const us = ms > 0 ? Math.round(ms * 1000) : 0;
    const index = indexOf(us);
    const counts = this.#counts;
    while (counts.length <= index) counts.push(0);
    counts[index]!++;
    this.#count++;
    this.#sumUs += us;
    if (us < this.#minUs) this.#minUs = us;
    if (us > this.#maxUs) this.#maxUs = us;
  }

  get count(): number {
    return this.#count;
  }

  /** Largest recorded value in ms (exact to the microsecond); 0 when empty. */
  get max(): number {
    return this.#maxUs / 1000;
  }

  get min(): number {
    return this.#count === 0 ? 0 : this.#minUs / 1000;
  }

  get mean(): number {
    return this.#count === 0 ? 0 : this.#sumUs / this.#count / 1000;
  }

  /**
   * The nearest-rank percentile in ms: the value below or at which `p`% of the
   * recorded values lie. `p` in [0, 100]; 0 when empty.
   */
  percentile(p: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil((Math.min(100, Math.max(0, p)) / 100) * this.#count));
    let seen = 0;
    const counts = this.#counts;
    for (let i = 0; i < counts.length; i++) {
      seen += counts[i]!;
      if (seen >= rank) {
        const { low, width } = bucketBounds(i);
        const mid = width === 1 ? low : low + (width - 1) / 2;
        return Math.min(this.#maxUs, Math.max(this.#minUs, mid)) / 1000;
      }
    }
    return this.#maxUs / 1000;
  }

  summary(): LatencySummary {
    return { count: this.#count, p50: this.percentile(50), p95: this.percentile(95), p99: this.percentile(99), max: this.max, mean: this.mean };
  }

  /** Adds every value of `other` to this histogram. */
  merge(other: LatencyHistogram): void {
    const theirs = other.#counts;
    while (this.#counts.length < theirs.length) this.#counts.push(0);
    for (let i = 0; i < theirs.length; i++) this.#counts[i]! += theirs[i]!;
    this.#count += other.#count;
    this.#sumUs += other.#sumUs;
    if (other.#minUs < this.#minUs) this.#minUs = other.#minUs;
    if (other.#maxUs > this.#maxUs) this.#maxUs = other.#maxUs;
  }

  /** Empties the histogram, keeping its storage for reuse. */
  reset(): void {
    this.#counts.fill(0);
    this.#count = 0;
    this.#sumUs = 0;
    this.#minUs = Infinity;
    this.#maxUs = 0;
  }
}
