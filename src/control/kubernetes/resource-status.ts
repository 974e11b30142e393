/**
 * An InferenceService's status on a cluster: the status the reconciler writes (the same as
 * `karb up` shows), plus what Kubernetes tools read — the scale subresource's `replicas` and
 * `selector`, the printer columns' `summary`, conditions `RevisionsReady` and
 * `RolloutProgressing`, `observedGeneration` on every condition — plus the rollout and
 * autoscaler state a restarted controller continues from. Pure, both ways.
 */
import { statusSummary, type Condition, type InferenceServiceStatus } from '../../api/index.ts';
import { revisionSelector, selectorText } from '../../runtime/kubernetes/labels.ts';
import type { AutoscalerRecord } from '../store.ts';
import { ACTIVE_PHASES, type RolloutPhase } from '../../rollout/types.ts';

/** What the embedded store keeps in tables of its own; on a cluster it lives in status. */
export interface ControllerState {
  rollout?: unknown;
  autoscaler?: AutoscalerRecord;
}

const KUBERNETES_ONLY_FIELDS = ['replicas', 'selector', 'summary', 'controllerState'] as const;
const KUBERNETES_ONLY_CONDITIONS = new Set(['RevisionsReady', 'RolloutProgressing']);

type KubeCondition = Condition & { observedGeneration?: number };

/**
 * `previous` is the resource's status as last written: a derived condition keeps its
 * lastTransitionTime while its status stays, and takes `now` when it changes.
 */
export function toResourceStatus(status: InferenceServiceStatus, state: ControllerState, generation: number, previous: Record<string, unknown> | undefined, now: Date): Record<string, unknown> {
  const revisions = status.revisions ?? [];
  const serving = revisions.find((r) => r.name === status.stableRevision);
  const behind = revisions.filter((r) => r.ready < r.desired);
  const rollout = status.rollout as { phase?: string; message?: string; reason?: string } | undefined;
  const before = (previous?.conditions ?? []) as KubeCondition[];
  const extra: Condition[] = [
    behind.length === 0
      ? { type: 'RevisionsReady', status: 'True', reason: 'AllRevisionsReady', message: revisions.map((r) => `${r.name} ${r.ready}/${r.desired}`).join(', ') || 'no revisions' }
      : { type: 'RevisionsReady', status: 'False', reason: 'RevisionsNotReady', message: behind.map((r) => `${r.name} ${r.ready}/${r.desired} ready`).join(', ') },
    rollout?.phase !== undefined && ACTIVE_PHASES.has(rollout.phase as RolloutPhase)
      ? { type: 'RolloutProgressing', status: 'True', reason: rollout.reason ?? rollout.phase, message: rollout.message ?? rollout.phase }
      : { type: 'RolloutProgressing', status: 'False', reason: rollout?.phase ?? 'NoRollout', message: rollout?.message ?? 'no rollout in progress' },
  ];
  const since = (c: Condition): string => {
    const old = before.find((p) => p.type === c.type);
    return old?.status === c.status && old.lastTransitionTime ? old.lastTransitionTime : now.toISOString();
  };
  const conditions: KubeCondition[] = [
    ...(status.conditions ?? []).map((c) => ({ ...c, observedGeneration: generation })),
    ...extra.map((c) => ({ ...c, lastTransitionTime: since(c), observedGeneration: generation })),
  ];
  return {
    ...status,
    conditions,
    observedGeneration: generation,
    replicas: serving?.ready ?? 0,
    ...(status.stableRevision ? { selector: selectorText(revisionSelector(status.stableRevision)) } : {}),
    summary: statusSummary(status),
    controllerState: { ...(state.rollout !== undefined ? { rollout: state.rollout } : {}), ...(state.autoscaler ? { autoscaler: state.autoscaler } : {}) },
  };
}

/** Splits a resource's status back into the reconciler's status and the controller's state. */
export function fromResourceStatus(raw: Record<string, unknown> | undefined): { status: InferenceServiceStatus; state: ControllerState } {
  if (raw === undefined) return { status: {}, state: {} };
  const status: Record<string, unknown> = { ...raw };
  for (const field of KUBERNETES_ONLY_FIELDS) delete status[field];
  if (Array.isArray(raw.conditions)) {
    status.conditions = (raw.conditions as KubeCondition[])
      .filter((c) => !KUBERNETES_ONLY_CONDITIONS.has(c.type))
      .map(({ observedGeneration: _, ...c }) => c);
  }
  const state = (raw.controllerState ?? {}) as ControllerState;
  return { status: status as InferenceServiceStatus, state: { ...state } };
}
