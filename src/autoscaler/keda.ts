/**
 * KARB treatment C: KEDA on queue depth. Two loops, as in a cluster:
 * - KEDA's operator polls every 30 s. The trigger is active while the queue is
 *   above the activation threshold (0). Active at zero replicas → scale to
 *   max(1, minReplicas). Inactive with replicas and minReplicas 0 → scale to zero
 *   once the last active poll is older than the cooldown (`scaleToZeroAfterMs`);
 *   never active since start → at once, as KEDA does.
 * - The HPA KEDA creates runs every 15 s between 1 and N: queue depth is an
 *   external metric with an average-value target of `targetConcurrency` per
 *   replica, with the HPA's stabilization and rate policies. It does nothing at
 *   zero replicas when minReplicas is 0 (below a higher minReplicas, see hpa.ts).
 *
 * | Poll sees      | Replicas | minReplicas | Then                                     |
 * | queue > 0      | 0        | any         | Activation → max(1, minReplicas)         |
 * | queue > 0      | ≥ 1      | any         | remember now as last active; HPA decides |
 * | queue = 0      | ≥ 1      | 0           | cooldown passed → ScaleToZero; else HPA  |
 * | queue = 0      | < min    | ≥ 1         | MinReplicas                              |
 * | no queue data  | any      | any         | nothing (a scaler error); HPA decides    |
 */
import type { Decision, DeciderState, ScaleResult, ScalingInput, Signals } from './types.ts';
import { averageValueReplicas } from './hpa-replicas.ts';
import { HPA_SYNC_PERIOD_MS, readHpaState, reconcileHpa, syncDue, type HpaState } from './hpa.ts';
import { fmt, scaled, secs, step } from './steps.ts';

/** KEDA's default pollingInterval. */
export const KEDA_POLLING_INTERVAL_MS = 30_000;
/** The trigger is active while the queue is above this (KEDA's default activation value). */
export const KEDA_ACTIVATION_THRESHOLD = 0;

export type KedaState = HpaState & {
  decider: 'keda-queue';
  lastPollAt?: number;
  lastActiveAt?: number;
};

function readKedaState(state: DeciderState | undefined, current: number, now: number): KedaState {
  const hpa = readHpaState(state, 'keda-queue', current, now);
  const s = state && state.decider === 'keda-queue' ? state : {};
  const out: KedaState = { ...hpa, decider: 'keda-queue' };
  if (typeof s.lastPollAt === 'number') out.lastPollAt = s.lastPollAt;
  if (typeof s.lastActiveAt === 'number') out.lastActiveAt = s.lastActiveAt;
  return out;
}

export const kedaQueue = (signals: Signals, spec: ScalingInput, state: DeciderState | undefined, now: number): Decision<KedaState> => {
  const current = signals.currentReplicas;
  const queue = signals.panic.queueDepth ?? signals.stable.queueDepth;
  const s = readKedaState(state, current, now);
  const next: KedaState = { ...s };
  let result: ScaleResult | undefined;

  if (syncDue(s.lastPollAt, now, KEDA_POLLING_INTERVAL_MS)) {
    next.lastPollAt = now;
    if (queue !== undefined) {
      const active = queue > KEDA_ACTIVATION_THRESHOLD;
      if (active) {
        next.lastActiveAt = now;
        if (current === 0) {
          const to = Math.max(1, spec.minReplicas);
          result = scaled(current, step(to, 'Activation', `queue ${fmt(queue)} > activation threshold ${KEDA_ACTIVATION_THRESHOLD}`));
        }
      } else if (current > 0 && spec.minReplicas === 0) {
        const cooldown = spec.scaleToZeroAfterMs;
        // KEDA compares with a strict "before": the cooldown must have fully passed.
        if (s.lastActiveAt === undefined || s.lastActiveAt + cooldown < now) {
          const why = s.lastActiveAt === undefined ? 'queue empty and never active' : `queue empty for ${secs(now - s.lastActiveAt)} (cooldown ${secs(cooldown)})`;
          result = scaled(current, step(0, 'ScaleToZero', why));
        }
      } else if (current < spec.minReplicas) {
        result = scaled(current, step(spec.minReplicas, 'MinReplicas', 'the replica count is less than minReplicas'));
      }
    }
  }

  if (!result && syncDue(s.lastSyncAt, now, HPA_SYNC_PERIOD_MS)) {
    next.lastSyncAt = now;
    if (current === 0 && spec.minReplicas === 0) {
      result = scaled(0, step(0, 'ScaleToZero', 'idle at zero; the HPA is inactive until the queue activates the service'));
    } else {
      const reconciled = reconcileHpa(s.history, current, { min: Math.max(1, spec.minReplicas), max: spec.maxReplicas }, spec, () => {
        if (queue === undefined) return { ok: false, message: 'no queue depth signal' };
        const replicas = averageValueReplicas(current, queue, spec.targetConcurrency);
        const detail = `queue ${fmt(queue)} (target ${fmt(spec.targetConcurrency)} per replica)`;
        return { ok: true, replicas, reason: replicas === current ? 'WithinTolerance' : 'QueueDepth', detail };
      }, now);
      next.history = reconciled.history;
      result = reconciled.result;
    }
  }

  if (!result) return { result: s.last ?? scaled(current, step(current, 'WithinTolerance', 'waiting for the next poll')), next };
  next.last = result;
  return { result, next };
};
