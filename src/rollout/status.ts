/**
 * `status.rollout` of a service: the rollout as a person reads it in
 * `karb get services -o yaml` and `karb rollout status` (times as ISO strings).
 * Pure: the stored rollout in, the status out; the reconciler writes it.
 */
import type { AnalysisReason, AnalysisVerdict } from './analysis.ts';
import type { RolloutInputSpec } from './machine.ts';
import type { OutputCheckResult } from './output-check.ts';
import type { GuardEvaluation, GuardState, GuardWindowReading, RolloutReason, RolloutState } from './types.ts';

export type RolloutStatus = {
  phase: RolloutState['phase'];
  strategy: RolloutState['strategy'];
  revision: string;
  stable: string;
  /** "2/3": the canary step now, of how many; absent before the first and for other strategies. */
  step?: string;
  /** The new revision's share of traffic, percent. */
  weight: number;
  paused: boolean;
  reason: RolloutReason;
  message: string;
  startedAt: string;
  finishedAt?: string;
  judgements: number;
  lastAnalysis?: {
    at: string;
    verdict: AnalysisVerdict;
    reason: AnalysisReason;
    message: string;
    canary: { requests: number; errorRate?: number; p95Ms?: number };
    stable: { requests: number; errorRate?: number; p95Ms?: number };
  };
  lastOutputCheck?: { at: string; verdict: OutputCheckResult['verdict']; message: string };
  /** The guard after promotion: the promoted revision's burn rates, watched until `until`. */
  guard?: {
    phase: GuardState['phase'];
    since: string;
    until: string;
    lastEvaluation?: {
      at: string;
      verdict: GuardEvaluation['verdict'];
      sli?: GuardEvaluation['sli'];
      message: string;
      long?: GuardWindowStatus;
      short?: GuardWindowStatus;
    };
  };
};

/** A guard window as status shows it: seconds covered, requests, burn rate per SLI. */
export type GuardWindowStatus = { seconds: number; requests: number; burnRates: GuardWindowReading['burnRates'] };

export function rolloutStatus(state: RolloutState, spec: RolloutInputSpec): RolloutStatus {
  const a = state.lastAnalysis;
  return {
    phase: state.phase,
    strategy: state.strategy,
    revision: state.revision,
    stable: state.stable,
    ...(state.strategy === 'canary' && state.step >= 0 ? { step: `${state.step + 1}/${spec.rollout.steps.length}` } : {}),
    weight: state.weight,
    paused: state.paused,
    reason: state.reason,
    message: state.message,
    startedAt: new Date(state.startedAt).toISOString(),
    ...(state.finishedAt !== undefined ? { finishedAt: new Date(state.finishedAt).toISOString() } : {}),
    judgements: state.judgements,
    ...(a
      ? { lastAnalysis: { at: new Date(a.at).toISOString(), verdict: a.verdict, reason: a.reason, message: a.message, canary: { ...a.canary }, stable: { ...a.stable } } }
      : {}),
    ...(state.lastOutputCheck
      ? { lastOutputCheck: { at: new Date(state.lastOutputCheck.at).toISOString(), verdict: state.lastOutputCheck.verdict, message: state.lastOutputCheck.message } }
      : {}),
    ...(state.guard ? { guard: guardStatus(state.guard) } : {}),
  };
}

function guardStatus(g: GuardState): NonNullable<RolloutStatus['guard']> {
  const e = g.last;
  const window = (w: GuardWindowReading): GuardWindowStatus => ({ seconds: Math.round(w.ms / 1000), requests: w.requests, burnRates: { ...w.burnRates } });
  return {
    phase: g.phase,
    since: new Date(g.since).toISOString(),
    until: new Date(g.until).toISOString(),
    ...(e
      ? {
          lastEvaluation: {
            at: new Date(e.at).toISOString(),
            verdict: e.verdict,
            ...(e.sli ? { sli: e.sli } : {}),
            message: e.message,
            ...(e.long ? { long: window(e.long) } : {}),
            ...(e.short ? { short: window(e.short) } : {}),
          },
        }
      : {}),
  };
}
