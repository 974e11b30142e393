/**
 * Capacity reservations on a cluster, the pure half (the actor is capacity-reservations.ts): which
 * pool GASCL's node requests are about for a service, what that pool's capacity is as GASCL reads
 * it, and how many placeholder pods hold the room GASCL asks for beyond the replicas.
 *
 * - **The pool.** A service naming exactly one declared pool, an elastic one: its nodes come and go
 *   with a cluster autoscaler, which acts on Pending pods. An on-prem pool's nodes are fixed (nothing
 *   would provision them), and a service naming several pools is spread by the scheduler's
 *   preferences or karb's placement gate (one pool's numbers would misstate its room): neither gets
 *   capacity, so for them GASCL asks for no nodes, as before.
 * - **Its capacity** (GASCL's `ScalingInput.capacity`): replicasPerNode and maxNodes as declared,
 *   the provisioning delay's mean, and the pool's Nodes now: those carrying its node selector's
 *   labels that are Ready and schedulable.
 * - **The reservation.** GASCL's decision asks for `desiredNodes` (replicas that will not fit, or
 *   nodes kept through its node delay); when desiredNodes × replicasPerNode exceeds the replicas
 *   wanted, one placeholder per slot of the difference holds it. A replica still to be placed
 *   (asked of its Deployments, not yet on a node) takes a running placeholder's room by preemption,
 *   at once: until it has its node the running placeholders are kept (placeholders not running are
 *   not), so the room it preempts is there and nothing else frees a second slot for it; the
 *   reservation shrinks once the replica runs.
 */
import { durationMs } from '../../api/index.ts';
import { poolClass, type Pool } from '../../api/pool.ts';
import type { ScalingInput } from '../../autoscaler/types.ts';
import { poolNodeCount } from './placement-plan.ts';

type Obj = Record<string, any>;

/** The pool a service's node requests (and its reservation) are about, if any (see the module's comment). */
export function reservationPool(poolNames: readonly string[], declared: readonly Pool[]): Pool | undefined {
  if (poolNames.length !== 1) return undefined;
  const pool = declared.find((p) => p.name === poolNames[0]);
  return pool !== undefined && poolClass(pool) === 'elastic' ? pool : undefined;
}

/** The pool as GASCL reads it. */
export function poolCapacity(pool: Pool, nodes: readonly Obj[]): NonNullable<ScalingInput['capacity']> {
  const delay = pool.provisioningDelay;
  return {
    replicasPerNode: pool.replicasPerNode,
    currentNodes: poolNodeCount(pool, nodes),
    maxNodes: pool.maxNodes,
    provisioningMs: durationMs(typeof delay === 'string' ? delay : delay.mean),
  };
}

/** Replica slots GASCL's decision wants beyond the replicas: desiredNodes × replicasPerNode − replicas, at least 0. */
export function reservedSlots(desiredNodes: number | undefined, replicasPerNode: number, desiredReplicas: number): number {
  if (desiredNodes === undefined || !(replicasPerNode > 0)) return 0;
  return Math.max(0, desiredNodes * replicasPerNode - desiredReplicas);
}

export interface ReservationInput {
  replicasPerNode: number;
  /** GASCL's last decision: the nodes it wants the pool to have, when it said. */
  desiredNodes: number | undefined;
  /** The replicas wanted: the decision's count within the spec's bounds (what the reconciler runs). */
  desiredReplicas: number;
  /** Replicas asked of the service's Deployments (every revision), and those of its pods on a node, not being deleted. */
  asked: number;
  placed: number;
  /** The reservation as it stands: its Deployment's replicas (0 with none), and its placeholders running. */
  current: number;
  running: number;
}

export interface ReservationPlan {
  /** Placeholders to keep. */
  replicas: number;
  /** The slots the decision wants held. */
  slots: number;
  /** Kept above `slots` while a replica takes a placeholder's room. */
  holding: boolean;
}

export function planReservation(i: ReservationInput): ReservationPlan {
  const slots = reservedSlots(i.desiredNodes, i.replicasPerNode, i.desiredReplicas);
  const held = Math.min(i.current, i.running);
  if (i.asked > i.placed && held > slots) return { replicas: held, slots, holding: true };
  return { replicas: slots, slots, holding: false };
}

/** For people: why the reservation is what it is now (its events). */
export function reservationSentence(pool: string, i: Pick<ReservationInput, 'desiredNodes' | 'replicasPerNode' | 'desiredReplicas'>, slots: number): string {
  const per = `${i.replicasPerNode} replica${i.replicasPerNode === 1 ? '' : 's'} per node`;
  const replicas = `${i.desiredReplicas} replica${i.desiredReplicas === 1 ? '' : 's'}`;
  if (slots > 0) {
    return `holding room for ${slots} more replica${slots === 1 ? '' : 's'} on pool ${pool}: the autoscaler wants ${i.desiredNodes} nodes (${per}) for ${replicas}; placeholder pods at priority -10 hold it, and any replica preempts them`;
  }
  return i.desiredNodes === undefined
    ? `room on pool ${pool} released: the autoscaler wants no nodes beyond its ${replicas}`
    : `room on pool ${pool} released: ${i.desiredNodes === 1 ? '1 node' : `${i.desiredNodes} nodes`} (${per}) ${i.desiredNodes === 1 ? 'holds' : 'hold'} no more than its ${replicas}`;
}
