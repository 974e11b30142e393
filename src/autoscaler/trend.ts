/**
 * A steady rise in the request rate, for GASCL to ask for replicas (and the
 * nodes under them) before the rise reaches them: a diurnal morning climbs for
 * an hour, and a node added only once the load is there arrives minutes late.
 *
 * The rate is sampled once per TREND_SAMPLE_MS (the stable window's rate, so
 * each sample already averages a minute); a trend counts only when every one of
 * the last TREND_SAMPLES samples is higher than the one before and together
 * they lie close to a line (R² ≥ TREND_MIN_FIT). A step or a burst is one jump
 * followed by a plateau, not a climb, and a load that swings at random rises
 * five times running now and then, but in uneven jumps; neither is taken for a
 * trend, and the reactive needs answer them.
 */
import type { TimedValue } from './hpa-behavior.ts';

export const TREND_SAMPLE_MS = 60_000;
export const TREND_SAMPLES = 5;
/** A climb fits a line at least this well (R²). */
export const TREND_MIN_FIT = 0.9;
/** A projection never goes past this multiple of the rate now. */
export const TREND_MAX_GROWTH = 2;

/** The samples with `rate` recorded at `now` if a sample is due; the oldest beyond `keep` dropped. */
export function recordRate(samples: readonly TimedValue[], rate: number, now: number, keep = TREND_SAMPLES): TimedValue[] {
  const last = samples[samples.length - 1];
  if (last !== undefined && now - last.at < TREND_SAMPLE_MS && now >= last.at) return samples as TimedValue[];
  const out = (last !== undefined && now < last.at) || keep <= 1 ? [] : samples.slice(-(keep - 1));
  out.push({ at: now, value: rate });
  return out;
}

/** Requests per second gained per second over the samples, when every sample rose; else undefined. */
export function risingTrend(all: readonly TimedValue[]): number | undefined {
  const samples = all.slice(-TREND_SAMPLES);
  if (samples.length < TREND_SAMPLES) return undefined;
  for (let i = 1; i < samples.length; i++) if (!(samples[i]!.value > samples[i - 1]!.value)) return undefined;
  // A climb is close to a line; minutes that rose by chance are not (they rose in uneven jumps).
  if (linearFit(samples) < TREND_MIN_FIT) return undefined;
  const first = samples[0]!;
  const last = samples[samples.length - 1]!;
  return (last.value - first.value) / ((last.at - first.at) / 1000);
}

/** R² of the least-squares line through the samples (1: exactly on it). */
function linearFit(samples: readonly TimedValue[]): number {
  const n = samples.length;
  const mx = samples.reduce((a, s) => a + s.at, 0) / n;
  const my = samples.reduce((a, s) => a + s.value, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (const { at, value } of samples) {
    sxy += (at - mx) * (value - my);
    sxx += (at - mx) ** 2;
    syy += (value - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? (sxy * sxy) / (sxx * syy) : 0;
}

/** The rate `aheadMs` from the last sample if the trend holds, at most TREND_MAX_GROWTH × the rate now. */
export function projectRate(samples: readonly TimedValue[], rateNow: number, aheadMs: number): number | undefined {
  const trend = risingTrend(samples);
  if (trend === undefined) return undefined;
  return Math.min(TREND_MAX_GROWTH * rateNow, rateNow + (trend * aheadMs) / 1000);
}
