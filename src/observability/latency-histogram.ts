/**
 * A fixed log-scale latency histogram: 8 bins per doubling from 0.1 ms to about
 * 28 minutes, so any latency lands in a bin whose edges are 9% apart. A quantile
 * is read as the bin's geometric middle, clamped to the smallest and largest
 * value seen, which keeps it within ±4.5% of the exact nearest-rank quantile
 * (2^(1/16) − 1 ≈ 4.4%). Memory is fixed (one Uint32Array per histogram), so the
 * signal windows can keep one per time bucket.
 */

const MIN_MS = 0.1;
const BINS_PER_DOUBLING = 8;
const DOUBLINGS = 24;
/** Bin 0 holds everything ≤ MIN_MS; the last bin everything beyond the top edge. */
export const LATENCY_BINS = DOUBLINGS * BINS_PER_DOUBLING + 2;

/** The bin a latency falls in. */
export function latencyBin(ms: number): number {
  if (!(ms > MIN_MS)) return 0;
  const bin = Math.floor(Math.log2(ms / MIN_MS) * BINS_PER_DOUBLING) + 1;
  return bin < LATENCY_BINS ? bin : LATENCY_BINS - 1;
}

/** The geometric middle of a bin: the value a quantile in that bin reads as. */
export function binMiddle(bin: number): number {
  if (bin <= 0) return MIN_MS;
  return MIN_MS * 2 ** ((bin - 0.5) / BINS_PER_DOUBLING);
}

/**
 * The nearest-rank quantile q (0..1) of `total` samples counted in `bins`,
 * clamped to [min, max]. Undefined when there are no samples.
 */
export function histogramQuantile(bins: Uint32Array, total: number, q: number, min: number, max: number): number | undefined {
  if (total <= 0) return undefined;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < bins.length; i++) {
    seen += bins[i]!;
    if (seen >= rank) return Math.min(max, Math.max(min, binMiddle(i)));
  }
  return max;
}

/**
 * A histogram as [bin, count] pairs of its non-empty bins, in bin order: how a
 * standalone gateway's signal report sends it and how the dashboard's history keeps it.
 */
export function sparse(bins: Uint32Array): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < bins.length; i++) if (bins[i]! > 0) out.push([i, bins[i]!]);
  return out;
}
