/**
 * What should run for one service, decided purely from the stored service, its
 * revisions and what is ready now. The reconciler acts on the plan; nothing
 * here touches the runtime or the store.
 *
 * Traffic moves from the stable revision to the latest one only once the latest
 * one has all its desired replicas ready, so stable capacity is never reduced
 * before its successor can take the load:
 *
 * | stable      | latest ready      | replicas            | traffic          | next stable |
 * |-------------|-------------------|---------------------|------------------|-------------|
 * | none        | any               | latest: n           | latest 100       | latest      |
 * | = latest    | any               | latest: n           | latest 100       | latest      |
 * | older       | < n               | stable: n, latest: n| stable 100       | stable      |
 * | older       | = n               | latest: n           | latest 100       | latest      |
 *
 * Revisions that are neither stable nor latest (superseded before they were
 * promoted, or replaced) are removed from the runtime.
 */
import type { RevisionRecord, StoredService } from './store.ts';

export interface PlanInput {
  service: StoredService;
  /** Ordered by number, oldest first; at least one. */
  revisions: RevisionRecord[];
  /** Ready replicas per revision name. */
  ready: ReadonlyMap<string, number>;
  /** The revision that served all traffic at the last reconcile, if any. */
  stableRevision?: string;
}

export interface ServicePlan {
  stableRevision: string;
  latestRevision: string;
  replicas: Array<{ revision: string; replicas: number }>;
  traffic: Array<{ revision: string; weight: number }>;
  /** Set when this plan moves traffic to a new revision. */
  promoted?: { from?: string; to: string };
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
  const stable = input.revisions.find((r) => r.name === input.stableRevision);

  if (!stable || stable.name === latest.name) {
    return {
      stableRevision: latest.name,
      latestRevision: latest.name,
      replicas: [{ revision: latest.name, replicas: n }],
      traffic: [{ revision: latest.name, weight: 100 }],
      ...(stable ? {} : { promoted: { to: latest.name } }),
    };
  }

  const latestReady = input.ready.get(latest.name) ?? 0;
  if (latestReady >= n) {
    return {
      stableRevision: latest.name,
      latestRevision: latest.name,
      replicas: [{ revision: latest.name, replicas: n }],
      traffic: [{ revision: latest.name, weight: 100 }],
      promoted: { from: stable.name, to: latest.name },
    };
  }
  return {
    stableRevision: stable.name,
    latestRevision: latest.name,
    replicas: [
      { revision: stable.name, replicas: n },
      { revision: latest.name, replicas: n },
    ],
    traffic: [{ revision: stable.name, weight: 100 }],
  };
}
