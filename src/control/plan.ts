/**
 * What should run for one service, decided purely from the stored service, its
 * revisions and its rollout. The reconciler acts on the plan; nothing here
 * touches the runtime or the store.
 *
 * | rollout                     | replicas                                | traffic                       |
 * |-----------------------------|-----------------------------------------|-------------------------------|
 * | none (one revision)         | latest: n                               | latest 100                    |
 * | any (see src/rollout)       | what `rolloutTargets` says, > 0 only;   | serving and new revision by   |
 * |                             | the serving revision always listed      | weight (0 kept: preview route)|
 *
 * Revisions not listed (superseded, replaced, scaled down after a rollout)
 * are removed from the runtime.
 */
import { rolloutTargets } from '../rollout/machine.ts';
import type { RolloutState } from '../rollout/types.ts';
import type { RevisionRecord, StoredService } from './store.ts';

export interface PlanInput {
  service: StoredService;
  /** Ordered by number, oldest first; at least one. */
  revisions: RevisionRecord[];
  /** The service's rollout, in progress or finished; none while its first revision serves. */
  rollout?: RolloutState;
  /** Milliseconds since the epoch. */
  now: number;
}

export interface ServicePlan {
  /** The revision serving the service (status.stableRevision). */
  stableRevision: string;
  latestRevision: string;
  replicas: Array<{ revision: string; replicas: number }>;
  traffic: Array<{ revision: string; weight: number }>;
  /** Copy this share of requests to the new revision (rollout mirroring). */
  mirror?: { revision: string; percent: number };
}

/** Replicas each running revision keeps. */
export interface ReplicaTarget {
  replicas: number;
  reason: 'MinReplicas' | 'WarmFloor' | 'Autoscaler';
  message: string;
}

/**
 * The replica count of a revision: the autoscaler's desired count, bounded by
 * the spec's min and max (so `minReplicas: 0` allows zero). Before the
 * autoscaler has decided, the spec's minReplicas, with at least one replica
 * kept warm so the first request is answered without a cold start.
 */
export function replicaTarget(service: StoredService, autoscaled?: { desiredReplicas: number; message: string }): ReplicaTarget {
  const { minReplicas, maxReplicas } = service.spec.scaling;
  if (autoscaled !== undefined) {
    const replicas = Math.max(minReplicas, Math.min(maxReplicas, autoscaled.desiredReplicas));
    return { replicas, reason: 'Autoscaler', message: autoscaled.message };
  }
  if (minReplicas >= 1) {
    return { replicas: Math.min(minReplicas, maxReplicas), reason: 'MinReplicas', message: `scaling.minReplicas is ${minReplicas}` };
  }
  return { replicas: 1, reason: 'WarmFloor', message: 'one replica is kept warm (scaling.minReplicas is 0)' };
}

export function planService(input: PlanInput, target = replicaTarget(input.service)): ServicePlan {
  const latest = input.revisions[input.revisions.length - 1];
  if (!latest) throw new RangeError(`service ${input.service.metadata.name} has no revision`);
  const n = target.replicas;
  const rollout = input.rollout;
  if (rollout === undefined) {
    return { stableRevision: latest.name, latestRevision: latest.name, replicas: [{ revision: latest.name, replicas: n }], traffic: [{ revision: latest.name, weight: 100 }] };
  }
  const t = rolloutTargets(rollout, n, input.service.spec, input.now);
  const other = t.serving === rollout.stable ? rollout.revision : rollout.stable;
  const count = (revision: string) => (revision === rollout.stable ? t.replicas.stable : t.replicas.revision);
  const weight = (revision: string) => (revision === rollout.stable ? t.weights.stable : t.weights.revision);
  const listed = [t.serving, ...(count(other) > 0 ? [other] : [])].sort((a, b) => (a === rollout.stable ? -1 : b === rollout.stable ? 1 : 0));
  return {
    stableRevision: t.serving,
    latestRevision: latest.name,
    replicas: listed.map((revision) => ({ revision, replicas: count(revision) })),
    traffic: listed.map((revision) => ({ revision, weight: weight(revision) })),
    ...(t.mirror ? { mirror: { revision: rollout.revision, percent: input.service.spec.rollout.mirrorPercent } } : {}),
  };
}
