/**
 * Drift statistics between a reference distribution (bin proportions) and observed bin counts,
 * both on the same bins. Pure and allocation-free: they run on every scrape of every feature.
 *
 * - PSI (population stability index): Σ (a − e) · ln(a / e) over bins, with each proportion
 *   floored at `PSI_FLOOR` so that an empty bin (a rare value never seen, or a reference bin the
 *   traffic never reaches) adds a large but finite term instead of infinity.
 * - KS: the two-sample Kolmogorov–Smirnov statistic on the binned CDFs, max |E(x) − A(x)| over
 *   bin edges; exact at the edges, a lower bound of the unbinned statistic between them.
 */

/** Smallest proportion a bin counts with in the PSI: 1 in 10,000. */
export const PSI_FLOOR = 1e-4;

/**
 * PSI reading of the common rule: below 0.1 no shift, 0.1–0.25 a moderate shift worth watching,
 * above 0.25 a significant shift. karb's default `Drift` threshold is 0.25.
 */
export const PSI_WARN = 0.1;
export const PSI_DRIFT = 0.25;

/**
 * PSI of `counts[offset .. offset+bins)` against `expected` (proportions summing to 1).
 * Returns NaN when nothing was counted.
 */
export function psi(expected: ArrayLike<number>, counts: ArrayLike<number>, offset = 0, floor = PSI_FLOOR): number {
  const bins = expected.length;
  let total = 0;
  for (let b = 0; b < bins; b++) total += counts[offset + b]!;
  if (total === 0) return NaN;
  let sum = 0;
  for (let b = 0; b < bins; b++) {
    const e = Math.max(expected[b]!, floor);
    const a = Math.max(counts[offset + b]! / total, floor);
    sum += (a - e) * Math.log(a / e);
  }
  return sum;
}

/** KS statistic (0..1) of `counts[offset .. offset+bins)` against `expected`; NaN when nothing was counted. */
export function ksBinned(expected: ArrayLike<number>, counts: ArrayLike<number>, offset = 0): number {
  const bins = expected.length;
  let total = 0;
  for (let b = 0; b < bins; b++) total += counts[offset + b]!;
  if (total === 0) return NaN;
  let cumE = 0;
  let cumA = 0;
  let max = 0;
  for (let b = 0; b < bins; b++) {
    cumE += expected[b]!;
    cumA += counts[offset + b]! / total;
    const d = Math.abs(cumE - cumA);
    if (d > max) max = d;
  }
  return max;
}

/** The bin of `value` among ascending inner `edges` (bin i holds edges[i-1] ≤ v < edges[i]): a binary search, no allocation. */
export function binOf(edges: ArrayLike<number>, value: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (value < edges[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
