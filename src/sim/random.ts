/**
 * Seeded randomness for the simulator: sequential streams of karb's one generator
 * (src/util/prng.ts), one per purpose, so a purpose's draws never shift when another
 * purpose draws more (service times are drawn once per arrival, in arrival order, so
 * request i gets the same service time under every treatment). Plus the lognormal
 * helpers the service model uses. Nothing in src/sim reads Math.random.
 */

export { seededRandom, type Random } from '../util/prng.ts';

/** Parameters of ln X ~ N(mu, sigma²). */
export interface Lognormal {
  mu: number;
  sigma: number;
}

const Z95 = 1.6448536269514722;

/**
 * The lognormal with the given mean and 95th percentile. Solvable only when
 * 1 ≤ p95/mean ≤ e^(z95²/2) ≈ 3.87 (heavier tails need another distribution).
 */
export function lognormalFromMeanP95(mean: number, p95: number): Lognormal {
  if (!(mean > 0) || !(p95 >= mean)) throw new RangeError(`p95 (${p95}) must be >= mean (${mean}) > 0`);
  const gap = Math.log(p95 / mean);
  const disc = Z95 * Z95 - 2 * gap;
  if (disc < 0) throw new RangeError(`p95/mean = ${(p95 / mean).toFixed(2)} is above ${MAX_P95_OVER_MEAN.toFixed(2)}, the most a lognormal allows`);
  const sigma = Z95 - Math.sqrt(disc);
  return { mu: Math.log(mean) - (sigma * sigma) / 2, sigma };
}

export const MAX_P95_OVER_MEAN = Math.exp((Z95 * Z95) / 2);

/** The lognormal's quantile at probability q in (0, 1). */
export function lognormalQuantile(dist: Lognormal, q: number): number {
  return Math.exp(dist.mu + dist.sigma * normalQuantile(q));
}

/** Acklam's rational approximation of the standard normal quantile (|error| < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - low) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}
