/**
 * Capacity reservations, as pure builders: how GASCL's node request becomes something a cluster
 * autoscaler (Cluster Autoscaler, Karpenter) acts on. Both act only on Pending pods, so room for
 * replicas GASCL wants nodes for ahead of need is held by placeholder pods: a Deployment
 * `<service>-capacity` of pods that each request what one model replica requests (CPU, memory,
 * GPU) with the same pool affinity and tolerations, so each lands where a replica would and, with
 * no room there, stays Pending until a node is added. They run karb's own image doing nothing
 * (`karb reserve`: wait for SIGTERM, exit 0), at the PriorityClass `karb-capacity-reservation`
 * (value -10, `preemptionPolicy: Never`): any real replica (priority 0) preempts one at once, with
 * no grace period, and a placeholder never preempts anything. How many the controller keeps is
 * src/control/kubernetes/capacity-plan.ts's to say.
 */
import type { RevisionTemplate } from '../types.ts';
import { containerResources, podPlacement } from './deployment.ts';
import { MANAGED_BY } from './labels.ts';
import type { ClusterOptions } from './options.ts';
import { restrictedContainerSecurity, restrictedPodSecurity } from './security.ts';

type Obj = Record<string, unknown>;

/** The PriorityClass of every placeholder pod (`karb install` renders it). */
export const CAPACITY_PRIORITY_CLASS = 'karb-capacity-reservation';
/** Below the default 0 of every pod that names no class: any of them preempts a placeholder. */
export const CAPACITY_PRIORITY = -10;
/** The label that ties a reservation's Deployment and pods to their service (and selects them). */
export const LABEL_CAPACITY_FOR = 'karb.dev/capacity-for';
const COMPONENT = 'capacity-reservation';

/** The Deployment of a service's placeholder pods. */
export function capacityReservationName(service: string): string {
  return `${service}-capacity`;
}

export function capacityReservationLabels(service: string, userLabels: Record<string, string> = {}): Record<string, string> {
  return { ...userLabels, 'app.kubernetes.io/name': service, 'app.kubernetes.io/component': COMPONENT, ...MANAGED_BY, [LABEL_CAPACITY_FOR]: service };
}

export function buildCapacityPriorityClass(): Obj {
  return {
    apiVersion: 'scheduling.k8s.io/v1',
    kind: 'PriorityClass',
    metadata: { name: CAPACITY_PRIORITY_CLASS, labels: { 'app.kubernetes.io/name': 'karb', 'app.kubernetes.io/component': COMPONENT } },
    value: CAPACITY_PRIORITY,
    globalDefault: false,
    preemptionPolicy: 'Never',
    description:
      "karb's capacity reservations: placeholder pods that hold room on a pool's nodes for replicas karb's autoscaler (GASCL) asks nodes for ahead of need, so a cluster autoscaler provisions those nodes early. Any pod of priority 0 or more preempts them; they never preempt anything.",
  };
}

export interface CapacityReservation {
  service: string;
  namespace: string;
  /** The pool whose room is held (said in the Deployment's description). */
  pool: string;
  /** Placeholder pods: one per replica slot held. */
  replicas: number;
  /** What one replica requests: the serving revision's resources. */
  resources: RevisionTemplate['resources'];
  /** Where the service's replicas may run: its spec.placement. */
  placement?: RevisionTemplate['placement'];
  /** The service's own labels (team, cost centre), as on its other objects. */
  userLabels?: Record<string, string>;
}

/**
 * The placeholders' Deployment. Their pods run as the service's own service account (no token),
 * meet Pod Security "restricted", and are not the service's replicas: no `karb.dev/service` or
 * `karb.dev/revision` label, so no Service, PodDisruptionBudget or revision counts them.
 */
export function buildCapacityReservation(r: CapacityReservation, options: Pick<ClusterOptions, 'image' | 'pools'>): Obj {
  const labels = capacityReservationLabels(r.service, r.userLabels);
  // The service's pods' placement; a placeholder waits for no scheduling gate: it goes where room is.
  const { schedulingGates: _, ...placement } = podPlacement({ resources: r.resources, ...(r.placement ? { placement: r.placement } : {}) }, options.pools ?? []);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: capacityReservationName(r.service),
      namespace: r.namespace,
      labels,
      annotations: {
        'karb.dev/description': `placeholder pods holding room on pool ${r.pool} for replicas of ${r.service} that karb's autoscaler wants nodes for ahead of need; any real replica preempts them (PriorityClass ${CAPACITY_PRIORITY_CLASS})`,
      },
    },
    spec: {
      replicas: r.replicas,
      revisionHistoryLimit: 1,
      selector: { matchLabels: { [LABEL_CAPACITY_FOR]: r.service } },
      // Nothing is served: a changed template replaces them all at once.
      strategy: { type: 'Recreate' },
      template: {
        metadata: { labels },
        spec: {
          serviceAccountName: r.service,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          priorityClassName: CAPACITY_PRIORITY_CLASS,
          // Preempted or scaled away, a placeholder has nothing to finish: its room is free at once.
          terminationGracePeriodSeconds: 0,
          securityContext: restrictedPodSecurity(),
          ...placement,
          containers: [
            {
              name: 'reserve',
              image: options.image,
              args: ['reserve'],
              resources: containerResources({ resources: r.resources }),
              securityContext: restrictedContainerSecurity(),
            },
          ],
        },
      },
    },
  };
}
