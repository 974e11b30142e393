/**
 * Rollout analysis: is the new revision worse than the stable one over the
 * same window? Pure: two windows of counts and the spec in, a verdict out.
 *
 * - Not judged (`Inconclusive`) until the new revision has `minRequests` in the window.
 * - Baseline: the stable revision's own error rate and p95 over the window, or,
 *   when it saw fewer than `minRequests` (all traffic mirrored or previewed),
 *   the service's SLO.
 * - Errors: fails when the new revision's error rate exceeds the baseline by more
 *   than `maxErrorRateDelta` AND that many errors would be unlikely (p < 1%) from
 *   a revision failing exactly at the allowed rate.
 * - Latency: fails when its p95 exceeds `maxLatencyP95Ratio` × the baseline p95
 *   AND the share of its requests slower than that bound is significantly above
 *   5% (the share a revision at the bound would have).
 * Both guards together keep a good release from being rolled back by a few
 * unlucky requests, while a real regression fails at the first judged window.
 */
import type { AnalysisSpec, SloSpec } from '../api/index.ts';
import { binMiddle, histogramQuantile } from '../observability/latency-histogram.ts';
import { binomialUpperTail } from './binomial.ts';
import type { WindowCounts } from '../observability/revision-counters.ts';

/** How unlikely the observation must be under "meets the thresholds" to fail. */
export const SIGNIFICANCE = 0.01;

export type AnalysisVerdict = 'Pass' | 'Fail' | 'Inconclusive';
export type AnalysisReason = 'NotEnoughRequests' | 'ErrorRateRegressed' | 'LatencyRegressed' | 'WithinThresholds';

export interface RevisionSummary {
  requests: number;
  errorRate?: number;
  p95Ms?: number;
}

export interface AnalysisResult {
  verdict: AnalysisVerdict;
  reason: AnalysisReason;
  message: string;
  /** What the new revision was compared with. */
  baseline: 'stable' | 'slo';
  canary: RevisionSummary;
  stable: RevisionSummary;
}

export function analyze(stable: WindowCounts, canary: WindowCounts, spec: AnalysisSpec, slo: Pick<SloSpec, 'latencyP95Ms' | 'errorRate'>): AnalysisResult {
  const canarySummary = summarize(canary);
  const stableSummary = summarize(stable);
  const base = { canary: canarySummary, stable: stableSummary };
  const baseline: 'stable' | 'slo' = stable.requests >= spec.minRequests ? 'stable' : 'slo';
  if (canary.requests < spec.minRequests) {
    return {
      verdict: 'Inconclusive',
      reason: 'NotEnoughRequests',
      message: `waiting for ${spec.minRequests} requests on the new revision (have ${canary.requests})`,
      baseline,
      ...base,
    };
  }

  const baseErrorRate = baseline === 'stable' ? stableSummary.errorRate! : 0;
  const allowedErrorRate = baseline === 'stable' ? Math.min(1, baseErrorRate + spec.maxErrorRateDelta) : slo.errorRate;
  const canaryErrorRate = canarySummary.errorRate!;
  if (canaryErrorRate > allowedErrorRate && binomialUpperTail(canary.errors, canary.requests, allowedErrorRate) < SIGNIFICANCE) {
    const against =
      baseline === 'stable'
        ? `stable ${pct(baseErrorRate)} (allowed +${pct(spec.maxErrorRateDelta)})`
        : `the SLO's ${pct(slo.errorRate)} (stable had too few requests to compare)`;
    return {
      verdict: 'Fail',
      reason: 'ErrorRateRegressed',
      message: `error rate ${pct(canaryErrorRate)} over ${canary.requests} requests vs ${against}`,
      baseline,
      ...base,
    };
  }

  const baseP95 = baseline === 'stable' ? stableSummary.p95Ms! : undefined;
  const boundMs = baseP95 !== undefined ? baseP95 * spec.maxLatencyP95Ratio : slo.latencyP95Ms;
  const canaryP95 = canarySummary.p95Ms!;
  if (canaryP95 > boundMs) {
    const slower = countAbove(canary.latency, boundMs);
    if (binomialUpperTail(slower, canary.requests, 0.05) < SIGNIFICANCE) {
      const against =
        baseP95 !== undefined
          ? `stable ${ms(baseP95)} (×${(canaryP95 / baseP95).toFixed(2)}, allowed ×${spec.maxLatencyP95Ratio})`
          : `the SLO's ${ms(slo.latencyP95Ms)} (stable had too few requests to compare)`;
      return {
        verdict: 'Fail',
        reason: 'LatencyRegressed',
        message: `p95 ${ms(canaryP95)} over ${canary.requests} requests vs ${against}`,
        baseline,
        ...base,
      };
    }
  }

  const against = baseline === 'stable' ? `stable ${pct(baseErrorRate)}, p95 ${ms(baseP95!)}` : `the SLO (${pct(slo.errorRate)}, p95 ${ms(slo.latencyP95Ms)})`;
  return {
    verdict: 'Pass',
    reason: 'WithinThresholds',
    message: `error rate ${pct(canaryErrorRate)}, p95 ${ms(canaryP95)} over ${canary.requests} requests vs ${against}`,
    baseline,
    ...base,
  };
}

function summarize(c: WindowCounts): RevisionSummary {
  if (c.requests <= 0) return { requests: 0 };
  const p95 = histogramQuantile(c.latency, c.requests, 0.95, 0, Infinity);
  return { requests: c.requests, errorRate: c.errors / c.requests, ...(p95 !== undefined ? { p95Ms: round(p95) } : {}) };
}

/** Requests whose latency bin lies above `boundMs`. */
function countAbove(bins: Uint32Array, boundMs: number): number {
  let n = 0;
  for (let i = 0; i < bins.length; i++) if (binMiddle(i) > boundMs) n += bins[i]!;
  return n;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(x < 0.1 ? 2 : 1)}%`;
}

function ms(x: number): string {
  return `${x < 10 ? x.toFixed(2) : x.toFixed(1)} ms`;
}
