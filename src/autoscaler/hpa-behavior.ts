/**
 * The Kubernetes HPA's normalization with scaling behaviors (horizontal.go:
 * stabilizeRecommendationWithBehaviors, convertDesiredReplicasWithBehaviorRate):
 * stabilization windows over past recommendations, then the scale-up and
 * scale-down rate policies, then min/max. The history it needs (past
 * recommendations and scale events) is plain data the caller keeps in state.
 */
import type { ScaleStep } from './types.ts';
import { step } from './steps.ts';

export interface ScalingPolicy {
  type: 'Pods' | 'Percent';
  value: number;
  periodSeconds: number;
}

export interface ScalingRules {
  stabilizationWindowSeconds: number;
  selectPolicy: 'Max' | 'Min' | 'Disabled';
  policies: ScalingPolicy[];
}

/** The HPA's default scale-up behavior: add 100% or 4 pods per 15 s, whichever is more. */
export function defaultScaleUp(stabilizationWindowSeconds = 0): ScalingRules {
  return {
    stabilizationWindowSeconds,
    selectPolicy: 'Max',
    policies: [
      { type: 'Pods', value: 4, periodSeconds: 15 },
      { type: 'Percent', value: 100, periodSeconds: 15 },
    ],
  };
}

/** The HPA's default scale-down behavior: 300 s stabilization, then remove up to 100% per 15 s. */
export function defaultScaleDown(stabilizationWindowSeconds = 300): ScalingRules {
  return { stabilizationWindowSeconds, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] };
}

export interface TimedValue {
  at: number;
  value: number;
}

/** What the HPA remembers per autoscaler: recommendations and scale events, newest last. */
export interface HpaHistory {
  recommendations: TimedValue[];
  scaleUpEvents: TimedValue[];
  scaleDownEvents: TimedValue[];
}

export function emptyHistory(): HpaHistory {
  return { recommendations: [], scaleUpEvents: [], scaleDownEvents: [] };
}

export interface NormalizeArgs {
  current: number;
  /** The metrics' proposal, before stabilization. */
  desired: number;
  /** What the proposal is about, for the step when no limit binds. */
  proposal: ScaleStep;
  min: number;
  max: number;
  up: ScalingRules;
  down: ScalingRules;
}

/**
 * normalizeDesiredReplicasWithBehaviors: returns the binding step and the
 * history with this recommendation added (entries no window can use dropped).
 */
export function normalizeWithBehaviors(history: HpaHistory, args: NormalizeArgs, now: number): { step: ScaleStep; history: HpaHistory } {
  const stabilized = stabilize(history.recommendations, args, now);
  const limited = limitRate(history, { ...args, desired: stabilized.value }, now);
  let s: ScaleStep = args.proposal;
  if (stabilized.value !== args.desired) s = step(stabilized.value, stabilized.reason, stabilized.message);
  if (limited && limited.value !== stabilized.value) s = limited;
  return {
    step: s,
    history: { ...history, recommendations: stabilized.recommendations },
  };
}

/**
 * stabilizeRecommendationWithBehaviors: the value stays between the lowest
 * recommendation of the scale-up window and the highest of the scale-down
 * window, starting from the current count; the new recommendation is recorded.
 */
function stabilize(
  recommendations: readonly TimedValue[],
  args: NormalizeArgs,
  now: number,
): ScaleStep & { recommendations: TimedValue[] } {
  const upCutoff = now - args.up.stabilizationWindowSeconds * 1000;
  const downCutoff = now - args.down.stabilizationWindowSeconds * 1000;
  let upRecommendation = args.desired;
  let downRecommendation = args.desired;
  const kept: TimedValue[] = [];
  for (const rec of recommendations) {
    if (rec.at > upCutoff) upRecommendation = Math.min(rec.value, upRecommendation);
    if (rec.at > downCutoff) downRecommendation = Math.max(rec.value, downRecommendation);
    // Older than both windows: no later call can use it.
    if (!(rec.at < upCutoff && rec.at < downCutoff)) kept.push(rec);
  }
  kept.push({ at: now, value: args.desired });
  let value = args.current;
  if (value < upRecommendation) value = upRecommendation;
  if (value > downRecommendation) value = downRecommendation;
  const s =
    args.desired >= args.current
      ? step(value, 'ScaleUpStabilized', 'recent recommendations were lower than current one, applying the lowest recent recommendation')
      : step(value, 'ScaleDownStabilized', 'recent recommendations were higher than current one, applying the highest recent recommendation');
  return { ...s, recommendations: kept };
}

/** convertDesiredReplicasWithBehaviorRate; undefined when the value is within range. */
function limitRate(history: HpaHistory, args: NormalizeArgs, now: number): ScaleStep | undefined {
  const { desired, current } = args;
  if (desired > current) {
    let upLimit = scaleUpLimit(current, history, args.up, now);
    // No further scale-up until the period's events age out.
    if (upLimit < current) upLimit = current;
    if (args.max > upLimit) {
      if (desired > upLimit) return step(upLimit, 'ScaleUpLimit', 'the desired replica count is increasing faster than the maximum scale rate');
    } else if (desired > args.max) {
      return step(args.max, 'MaxReplicas', 'the desired replica count is more than the maximum replica count');
    }
  } else if (desired < current) {
    let downLimit = scaleDownLimit(current, history, args.down, now);
    if (downLimit > current) downLimit = current;
    if (args.min < downLimit) {
      if (desired < downLimit) return step(downLimit, 'ScaleDownLimit', 'the desired replica count is decreasing faster than the maximum scale rate');
    } else if (desired < args.min) {
      return step(args.min, 'MinReplicas', 'the desired replica count is less than the minimum replica count');
    }
  }
  return undefined;
}

function changeInPeriod(periodSeconds: number, events: readonly TimedValue[], now: number): number {
  const cutoff = now - periodSeconds * 1000;
  let replicas = 0;
  for (const e of events) if (e.at > cutoff) replicas += e.value;
  return replicas;
}

/** The replica count at the start of a policy's period: undo what was added, redo what was removed. */
function periodStart(current: number, history: HpaHistory, periodSeconds: number, now: number): number {
  return current - changeInPeriod(periodSeconds, history.scaleUpEvents, now) + changeInPeriod(periodSeconds, history.scaleDownEvents, now);
}

/** calculateScaleUpLimitWithScalingRules */
export function scaleUpLimit(current: number, history: HpaHistory, rules: ScalingRules, now: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const pickMin = rules.selectPolicy === 'Min';
  let result = pickMin ? Infinity : -Infinity;
  for (const policy of rules.policies) {
    const start = periodStart(current, history, policy.periodSeconds, now);
    // Percent rounds up so that a small count can still grow.
    const proposed = policy.type === 'Pods' ? start + policy.value : Math.ceil(start * (1 + policy.value / 100));
    result = pickMin ? Math.min(result, proposed) : Math.max(result, proposed);
  }
  return result;
}

/** calculateScaleDownLimitWithBehaviors */
export function scaleDownLimit(current: number, history: HpaHistory, rules: ScalingRules, now: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const pickMin = rules.selectPolicy === 'Min';
  let result = pickMin ? -Infinity : Infinity;
  for (const policy of rules.policies) {
    const start = periodStart(current, history, policy.periodSeconds, now);
    const proposed = policy.type === 'Pods' ? start - policy.value : Math.trunc(start * (1 - policy.value / 100));
    // The least change ('Min') keeps the most replicas.
    result = pickMin ? Math.max(result, proposed) : Math.min(result, proposed);
  }
  return result;
}

/** storeScaleEvent: remembers a rescale for the rate policies, dropping events older than any period. */
export function recordScaleEvent(history: HpaHistory, from: number, to: number, up: ScalingRules, down: ScalingRules, now: number): HpaHistory {
  if (to === from) return history;
  const longest = (r: ScalingRules) => Math.max(0, ...r.policies.map((p) => p.periodSeconds)) * 1000;
  const fresh = (events: TimedValue[], periodMs: number) => events.filter((e) => e.at >= now - periodMs);
  if (to > from) {
    return { ...history, scaleUpEvents: [...fresh(history.scaleUpEvents, longest(up)), { at: now, value: to - from }] };
  }
  return { ...history, scaleDownEvents: [...fresh(history.scaleDownEvents, longest(down)), { at: now, value: from - to }] };
}
