/**
 * What the placement decider reads and returns (placement.ts). Pools come in order of preference,
 * as services name them in `spec.placement.pools` and scenarios list them; counts are replicas.
 */
import type { Pool } from '../api/pool.ts';

/** on-prem: fixed nodes, paid for whether used or not; elastic: nodes provisioned on demand (src/api/pool.ts). */
export type PoolClass = NonNullable<Pool['class']>;

export interface PlacementPool {
  name: string;
  class: PoolClass;
  /** Replicas the pool can hold: on-prem, what its nodes hold now; elastic, what it holds at maxNodes. */
  capacity: number;
  /** GPUs one replica takes here (gpusPerNode ÷ replicasPerNode; 0 on a CPU pool), for GPU quotas. */
  gpusPerReplica: number;
}

export interface PlacementService {
  name: string;
  team: string;
  /** Higher goes first when on-prem is contended. */
  priority: number;
  /** Replicas its scaling decider wants. */
  wanted: number;
  /** Whether its SLO is at risk now (`sloRisk` in slo-risk.ts, on its signals). */
  sloAtRisk: boolean;
  /** Its replicas now, by pool name: running, starting, or given the pool and waiting for a node there. */
  placed: Readonly<Record<string, number>>;
}

/** A team's ceiling: replicas, GPUs or both, on every pool or on the pools of one class. */
export interface TeamQuota {
  team: string;
  maxReplicas?: number;
  maxGpus?: number;
  /** Counts only replicas on pools of this class; default every pool. */
  poolClass?: PoolClass;
}

export interface PlacementInput {
  /** In order of preference. */
  pools: readonly PlacementPool[];
  services: readonly PlacementService[];
  quotas?: readonly TeamQuota[];
}

/**
 * Why wanted replicas have no pool: `quota` (the team is at a quota), `on-prem-full` (on-prem has no
 * room and the SLO is not at risk, so no elastic node is bought), `no-capacity` (every pool the
 * replica may use is full).
 */
export type PendingReason = 'quota' | 'on-prem-full' | 'no-capacity';

/** Start `count` replicas on `to` (on-prem), then retire as many on `from` (elastic) once they are ready. */
export interface PlacementMove {
  from: string;
  to: string;
  count: number;
}

export interface ServicePlacement {
  name: string;
  /** Where its replicas should be, by pool name (every pool, 0 included). */
  target: Record<string, number>;
  /** Replicas to start, by pool (only pools with some): new ones and the on-prem halves of moves. */
  start: Record<string, number>;
  /** Replicas to retire, by pool (only pools with some): fewer wanted, yielded, over quota, and the elastic halves of moves. */
  retire: Record<string, number>;
  /** Elastic replicas coming back on-prem; each is in `start` and `retire` too. */
  moves: PlacementMove[];
  /** Wanted replicas left without a pool, why, and a sentence for people; absent when every one is placed. */
  pending?: { count: number; reason: PendingReason; message: string };
}

export interface PlacementDecision {
  /** In the order of the input's services. */
  services: ServicePlacement[];
  /** Replicas each pool should hold, all services together, by pool name. */
  pools: Record<string, number>;
}
