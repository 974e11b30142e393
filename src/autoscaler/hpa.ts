/**
 * KARB treatments A and B: the Kubernetes HPA on CPU (`hpaCpu`) and on service
 * signals (`hpaService`). Same loop as kube-controller-manager's
 * reconcileAutoscaler: out-of-range counts are pulled back first, otherwise the
 * metrics propose a count (hpa-replicas.ts), then stabilization and the default
 * behavior's rate policies (hpa-behavior.ts) shape it. Scale-down stabilization
 * is `spec.stabilization.downSeconds` (300 s by default, like the HPA), scale-up
 * `upSeconds`.
 *
 * The HPA acts once per 15 s sync period: a call before the period has passed
 * returns the last decision unchanged. One departure: Kubernetes leaves a target
 * at zero replicas alone ("scaling is disabled"), because only a person scales it
 * there; karb never does, so zero below minReplicas is brought up to minReplicas.
 */
import type { Decision, DeciderState, PodSignal, ScaleReason, ScaleResult, ScaleStep, ScalingInput, Signals } from './types.ts';
import { cpuReplicas, usageRatioReplicas } from './hpa-replicas.ts';
import { defaultScaleDown, defaultScaleUp, emptyHistory, normalizeWithBehaviors, recordScaleEvent, type HpaHistory, type TimedValue } from './hpa-behavior.ts';
import { fmt, noData, scaled, step } from './steps.ts';

/** --horizontal-pod-autoscaler-sync-period default. */
export const HPA_SYNC_PERIOD_MS = 15_000;
/** The HPA's default CPU target when none is given. */
export const DEFAULT_CPU_TARGET = 0.8;

export type HpaState = {
  decider: 'hpa-cpu' | 'hpa-service' | 'keda-queue';
  history: HpaHistory;
  lastSyncAt?: number;
  last?: ScaleResult;
};

/** A metric's proposal: a count, or why there is none. */
export type MetricOutcome = { ok: true; replicas: number; reason: ScaleReason; detail: string } | { ok: false; message: string };

/** Reads a decider's saved state, starting fresh when it is missing or belongs to another decider. */
export function readHpaState(state: DeciderState | undefined, decider: HpaState['decider'], current: number, now: number): HpaState {
  if (state && state.decider === decider && isHistory(state.history)) return state as HpaState;
  // recordInitialRecommendation: the first sync remembers the current count.
  return { decider, history: { ...emptyHistory(), recommendations: [{ at: now, value: current }] } };
}

function isTimedValues(v: unknown): v is TimedValue[] {
  return Array.isArray(v) && v.every((e) => typeof e === 'object' && e !== null && typeof e.at === 'number' && typeof e.value === 'number');
}

function isHistory(v: unknown): v is HpaHistory {
  if (typeof v !== 'object' || v === null) return false;
  const h = v as Record<string, unknown>;
  return isTimedValues(h.recommendations) && isTimedValues(h.scaleUpEvents) && isTimedValues(h.scaleDownEvents);
}

/** True when the sync period has passed since the last decision (or time went backwards). */
export function syncDue(lastSyncAt: number | undefined, now: number, periodMs: number): boolean {
  return lastSyncAt === undefined || now - lastSyncAt >= periodMs || now < lastSyncAt;
}

/** One HPA reconcile: the decision and the history to keep. */
export function reconcileHpa(
  history: HpaHistory,
  current: number,
  bounds: { min: number; max: number },
  spec: ScalingInput,
  metrics: () => MetricOutcome,
  now: number,
): { result: ScaleResult; history: HpaHistory } {
  const up = defaultScaleUp(spec.stabilization.upSeconds);
  const down = defaultScaleDown(spec.stabilization.downSeconds);
  let decided: ScaleStep;
  if (current === 0 && bounds.min !== 0) {
    decided = step(bounds.min, 'MinReplicas', 'Current number of replicas below Spec.MinReplicas');
  } else if (current > bounds.max) {
    decided = step(bounds.max, 'MaxReplicas', 'Current number of replicas above Spec.MaxReplicas');
  } else if (current < bounds.min) {
    decided = step(bounds.min, 'MinReplicas', 'Current number of replicas below Spec.MinReplicas');
  } else {
    const outcome = metrics();
    if (!outcome.ok) return { result: noData(`the HPA was unable to compute the replica count: ${outcome.message}`), history };
    const proposal = step(outcome.replicas, outcome.reason, outcome.detail);
    const normalized = normalizeWithBehaviors(history, { current, desired: outcome.replicas, proposal, min: bounds.min, max: bounds.max, up, down }, now);
    history = normalized.history;
    decided =
      normalized.step === proposal
        ? proposal
        : { ...normalized.step, message: `${outcome.detail} → ${outcome.replicas}; ${normalized.step.message}` };
  }
  history = recordScaleEvent(history, current, decided.value, up, down, now);
  return { result: scaled(current, decided), history };
}

/** Runs `sync` once per sync period; between syncs the last decision stands. */
function periodic(
  state: HpaState,
  now: number,
  sync: (history: HpaHistory) => { result: ScaleResult; history: HpaHistory },
): { result: ScaleResult; next: HpaState } {
  if (state.last && !syncDue(state.lastSyncAt, now, HPA_SYNC_PERIOD_MS)) return { result: state.last, next: state };
  const { result, history } = sync(state.history);
  return { result, next: { ...state, history, lastSyncAt: now, last: result } };
}

/** Pods as the HPA would list them when the caller gives only the window average. */
function podsFromWindow(signals: Signals): PodSignal[] | undefined {
  const cpu = signals.stable.cpuUtilization;
  if (cpu === undefined) return undefined;
  const pods: PodSignal[] = [];
  for (let i = 0; i < signals.currentReplicas; i++) {
    const ready = i < signals.readyReplicas;
    const pod: PodSignal = { name: `replica-${i}`, ready, startedAt: -Infinity };
    if (ready) pod.cpuUtilization = cpu;
    else pod.pending = true;
    pods.push(pod);
  }
  return pods;
}

/**
 * Treatment A: CPU utilization against `spec.targetCpuUtilization` (default 80%),
 * per pod from `signals.pods`, or the stable window's average over the ready
 * replicas when pods are not given.
 */
export const hpaCpu = (signals: Signals, spec: ScalingInput, state: DeciderState | undefined, now: number): Decision<HpaState> => {
  const current = signals.currentReplicas;
  const target = spec.targetCpuUtilization ?? DEFAULT_CPU_TARGET;
  return periodic(readHpaState(state, 'hpa-cpu', current, now), now, (history) =>
    reconcileHpa(history, current, { min: spec.minReplicas, max: spec.maxReplicas }, spec, () => {
      const pods = signals.pods ?? podsFromWindow(signals);
      if (!pods || pods.length === 0) return { ok: false, message: 'no CPU metrics for any replica' };
      const p = cpuReplicas(current, pods, target, now);
      if (!p.ok) return p;
      return { ok: true, replicas: p.replicas, reason: p.replicas === current ? 'WithinTolerance' : 'CpuUtilization', detail: p.detail };
    }, now),
  );
};

/**
 * The service metrics as the HPA would see them: p95 latency against the SLO
 * (an object metric with a value target) and concurrency per ready replica
 * against `targetConcurrency`; each proposes a count and the largest wins. Like
 * the HPA, a missing metric blocks scaling down (it cannot tell a quiet metric
 * from a broken one) but not scaling up.
 */
export function serviceMetrics(signals: Signals, spec: ScalingInput): MetricOutcome {
  const current = signals.currentReplicas;
  const ready = signals.readyReplicas;
  const proposals: { replicas: number; reason: ScaleReason; detail: string }[] = [];
  const missing: string[] = [];

  const p95 = signals.stable.p95Ms;
  if (p95 === undefined) missing.push('no p95 latency (no completed requests in the window)');
  else {
    const ratio = p95 / spec.slo.latencyP95Ms;
    proposals.push({
      replicas: usageRatioReplicas(current, ratio, ready),
      reason: 'LatencySlo',
      detail: `p95 ${fmt(p95)} ms (target ${fmt(spec.slo.latencyP95Ms)} ms)`,
    });
  }

  const concurrency = signals.stable.concurrency;
  if (concurrency === undefined) missing.push('no concurrency signal');
  else if (ready === 0 && current !== 0) missing.push('no ready replica to average concurrency over');
  else {
    const ratio = ready === 0 ? concurrency / spec.targetConcurrency : concurrency / (spec.targetConcurrency * ready);
    proposals.push({
      replicas: usageRatioReplicas(current, ratio, ready),
      reason: 'Concurrency',
      detail: `concurrency ${fmt(concurrency)} (target ${fmt(spec.targetConcurrency)} per replica)`,
    });
  }

  if (proposals.length === 0) return { ok: false, message: missing.join('; ') };
  let best = proposals[0]!;
  for (const p of proposals) if (p.replicas > best.replicas) best = p;
  if (missing.length > 0 && best.replicas < current) {
    return { ok: false, message: `${missing.join('; ')}: not scaling down on partial metrics` };
  }
  const detail = proposals.map((p) => p.detail).join(', ');
  return { ok: true, replicas: best.replicas, reason: best.replicas === current ? 'WithinTolerance' : best.reason, detail };
}

/** Treatment B: the HPA on service signals (stable window). */
export const hpaService = (signals: Signals, spec: ScalingInput, state: DeciderState | undefined, now: number): Decision<HpaState> => {
  const current = signals.currentReplicas;
  return periodic(readHpaState(state, 'hpa-service', current, now), now, (history) =>
    reconcileHpa(history, current, { min: spec.minReplicas, max: spec.maxReplicas }, spec, () => serviceMetrics(signals, spec), now),
  );
};

