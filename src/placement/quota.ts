/**
 * Team quotas during one placement decision: what each team has been given so far, and how many
 * more replicas a pool may take for it before a quota binds. Replicas count one each; GPUs count
 * the pool's GPUs per replica. A quota with a `poolClass` counts only that class's pools.
 */
import type { PlacementPool, TeamQuota } from './types.ts';

/** A hair of slack so 8 GPUs at 0.5 per replica stay 16 replicas after floating-point noise. */
const EPSILON = 1e-9;

interface Used {
  quota: TeamQuota;
  replicas: number;
  gpus: number;
}

export interface QuotaRoom {
  /** More replicas the pool may take for the team (Infinity without a quota that applies). */
  room: number;
  /** The quota that sets `room`, when one does. */
  binding?: TeamQuota;
}

export class QuotaLedger {
  readonly #byTeam = new Map<string, Used[]>();

  constructor(quotas: readonly TeamQuota[]) {
    for (const quota of quotas) {
      const list = this.#byTeam.get(quota.team) ?? [];
      list.push({ quota, replicas: 0, gpus: 0 });
      this.#byTeam.set(quota.team, list);
    }
  }

  room(team: string, pool: PlacementPool): QuotaRoom {
    let out: QuotaRoom = { room: Infinity };
    for (const used of this.#applying(team, pool)) {
      const { maxReplicas, maxGpus } = used.quota;
      let room = Infinity;
      if (maxReplicas !== undefined) room = Math.min(room, maxReplicas - used.replicas);
      if (maxGpus !== undefined && pool.gpusPerReplica > 0) room = Math.min(room, Math.floor((maxGpus - used.gpus) / pool.gpusPerReplica + EPSILON));
      room = Math.max(0, room);
      if (room < out.room) out = { room, binding: used.quota };
    }
    return out;
  }

  take(team: string, pool: PlacementPool, replicas: number): void {
    for (const used of this.#applying(team, pool)) {
      used.replicas += replicas;
      used.gpus += replicas * pool.gpusPerReplica;
    }
  }

  *#applying(team: string, pool: PlacementPool): Iterable<Used> {
    for (const used of this.#byTeam.get(team) ?? []) if (used.quota.poolClass === undefined || used.quota.poolClass === pool.class) yield used;
  }
}

/** "8 replicas and 8 GPUs on elastic pools" — a quota as people read it. */
export function describeQuota(q: TeamQuota): string {
  const parts: string[] = [];
  if (q.maxReplicas !== undefined) parts.push(`${q.maxReplicas} replicas`);
  if (q.maxGpus !== undefined) parts.push(`${q.maxGpus} GPUs`);
  return `${parts.join(' and ')} ${q.poolClass === undefined ? 'on every pool' : `on ${q.poolClass} pools`}`;
}
