/**
 * A steady rise in the request rate, for GASCL to ask for replicas (and the
 * nodes under them) before the rise reaches them: a diurnal morning climbs for
 * an hour, and a node added only once the load is there arrives minutes late.
 *
 * The rate is sampled once per TREND_SAMPLE_MS (the stable window's rate, so
 * each sample already averages a minute); a trend counts only when every one of
 * the last TREND_SAMPLES samples is higher than the one before. A step or a
 * burst is one jump followed by a plateau, not a climb, and Poisson noise does
 * not rise five times in a row at the rates that matter, so neither is taken
 * for a trend; the reactive needs answer those.
 */
import type { TimedValue } from './hpa-behavior.ts';

export const TREND_SAMPLE_MS = 60_000;
export const TREND_SAMPLES = 5;
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
  const first = samples[0]!;
  const last = samples[samples.length - 1]!;
  return (last.value - first.value) / ((last.at - first.at) / 1000);
}

/** The rate `aheadMs` from the last sample if the trend holds, at most TREND_MAX_GROWTH × the rate now. */
export function projectRate(samples: readonly TimedValue[], rateNow: number, aheadMs: number): number | undefined {
  const trend = risingTrend(samples);
  if (trend === undefined) return undefined;
  return Math.min(TREND_MAX_GROWTH * rateNow, rateNow + (trend * aheadMs) / 1000);
}
