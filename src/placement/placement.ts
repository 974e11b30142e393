/**
 * Placement: which pool each replica runs on when pools differ in cost — on-prem first, burst to an
 * elastic pool only when the SLO is at risk, and back on-prem as soon as there is room. Pure: the
 * pools (in order of preference), the services (team, priority, replicas wanted, SLO at risk, where
 * their replicas are now) and the team quotas in; where every replica should be, and the starts,
 * retirements and moves that get there, out. Nothing here reads a clock, a store or a cluster.
 *
 * | # | rule            | what happens                                                                                   |
 * |---|-----------------|------------------------------------------------------------------------------------------------|
 * | 1 | quota           | a team never gets more replicas (or GPUs) than its quotas allow, on every pool or on one class's;  |
 * |   |                 | the rest wait pending, reason `quota`; a team above a quota (one lowered) retires the excess    |
 * | 2 | on-prem first   | replicas fill the on-prem pools, in the pools' order, before any elastic pool                   |
 * | 3 | priority        | on-prem slots go by priority, highest first: a lower-priority service yields its on-prem        |
 * |   |                 | replicas to a higher one that wants them, and those go elastic or wait (rules 5, 9)              |
 * | 4 | stickiness      | at one priority, each service first keeps the slots it holds; free slots go to services whose   |
 * |   |                 | SLO is at risk first, then in the input's order                                                  |
 * | 5 | burst           | a new replica goes to an elastic pool only when on-prem has no room for it AND its service's SLO |
 * |   |                 | is at risk (slo-risk.ts); otherwise it waits pending, reason `on-prem-full`                      |
 * | 6 | keep            | replicas already on an elastic pool stay while they are wanted and on-prem has no room, whether  |
 * |   |                 | or not the SLO is still at risk (a burst's replicas do not leave the moment they help)           |
 * | 7 | come back       | when on-prem has room, a service's elastic replicas move there: start on-prem, then retire the   |
 * |   |                 | elastic one once the new one is ready (`moves`), so elastic nodes empty and can be removed       |
 * | 8 | scale-down      | fewer replicas wanted retire elastic ones first (the last-listed elastic pool first), on-prem last |
 * | 9 | no room         | with every pool the replica may use full, it waits pending, reason `no-capacity`                 |
 *
 * Elastic capacity is shared by the same rules in the same order: by priority, keep before grow.
 * The decision is a whole placement, computed afresh from what is placed now, so applying it and
 * deciding again changes nothing (tested).
 */
import { InvalidRequestError } from '../errors.ts';
import { describeQuota, QuotaLedger } from './quota.ts';
import type { PendingReason, PlacementDecision, PlacementInput, PlacementMove, PlacementPool, PlacementService, ServicePlacement, TeamQuota } from './types.ts';

/** Input the decider cannot use; the message names the field's path. */
export class PlacementInputError extends InvalidRequestError {
  constructor(message: string) {
    super(`placement input: ${message}`, { code: 'INVALID_PLACEMENT_INPUT' });
  }
}

interface Working {
  service: PlacementService;
  index: number;
  target: Map<string, number>;
  assigned: number;
  /** The quota that held back a replica some pool had room for, if one did. */
  quotaBound?: TeamQuota;
}

export function decidePlacement(input: PlacementInput): PlacementDecision {
  validatePlacementInput(input);
  const pools = input.pools;
  const onPrem = pools.filter((p) => p.class === 'on-prem');
  const elastic = pools.filter((p) => p.class === 'elastic');
  const free = new Map(pools.map((p) => [p.name, p.capacity]));
  const ledger = new QuotaLedger(input.quotas ?? []);
  const work: Working[] = input.services.map((service, index) => ({ service, index, target: new Map(pools.map((p) => [p.name, 0])), assigned: 0 }));

  /** Gives `w` up to `limit` more replicas on `pool`, as room, its want and its team's quotas allow. */
  const grant = (w: Working, pool: PlacementPool, limit: number): void => {
    const room = Math.min(limit, w.service.wanted - w.assigned, free.get(pool.name)!);
    if (room <= 0) return;
    const quota = ledger.room(w.service.team, pool);
    if (quota.room < room && quota.binding) w.quotaBound ??= quota.binding;
    const n = Math.min(room, quota.room);
    if (n <= 0) return;
    ledger.take(w.service.team, pool, n);
    free.set(pool.name, free.get(pool.name)! - n);
    w.target.set(pool.name, w.target.get(pool.name)! + n);
    w.assigned += n;
  };
  const held = (w: Working, pool: PlacementPool): number => w.service.placed[pool.name] ?? 0;
  // Rule 4: at one priority, services at risk take free slots first, then in the input's order.
  const growOrder = (level: Working[]): Working[] => [...level].sort((a, b) => Number(b.service.sloAtRisk) - Number(a.service.sloAtRisk) || a.index - b.index);

  const levels = priorityLevels(work);
  // Rules 1–4: on-prem by priority; at each priority, keep what is held, then grow into what is free.
  for (const level of levels) {
    for (const w of level) for (const p of onPrem) grant(w, p, held(w, p));
    for (const w of growOrder(level)) for (const p of onPrem) grant(w, p, Infinity);
  }
  // Rules 5, 6 and 8: what on-prem cannot hold stays elastic where it is; more goes elastic only at risk.
  for (const level of levels) {
    for (const w of level) for (const p of elastic) grant(w, p, held(w, p));
    for (const w of growOrder(level)) if (w.service.sloAtRisk) for (const p of elastic) grant(w, p, Infinity);
  }

  const totals: Record<string, number> = Object.fromEntries(pools.map((p) => [p.name, 0]));
  const services = work.map((w) => {
    for (const p of pools) totals[p.name]! += w.target.get(p.name)!;
    return placementOf(w, pools, onPrem, elastic);
  });
  return { services, pools: totals };
}

/** Services grouped by priority, highest first; input order within a group. */
function priorityLevels(work: Working[]): Working[][] {
  const byPriority = new Map<number, Working[]>();
  for (const w of work) {
    const level = byPriority.get(w.service.priority) ?? [];
    level.push(w);
    byPriority.set(w.service.priority, level);
  }
  return [...byPriority.entries()].sort((a, b) => b[0] - a[0]).map(([, level]) => level);
}

/** The target as changes from what is placed: starts, retirements, elastic → on-prem moves, and what waits. */
function placementOf(w: Working, pools: readonly PlacementPool[], onPrem: PlacementPool[], elastic: PlacementPool[]): ServicePlacement {
  const s = w.service;
  const target: Record<string, number> = {};
  const start: Record<string, number> = {};
  const retire: Record<string, number> = {};
  for (const p of pools) {
    const t = w.target.get(p.name)!;
    const delta = t - (s.placed[p.name] ?? 0);
    target[p.name] = t;
    if (delta > 0) start[p.name] = delta;
    if (delta < 0) retire[p.name] = -delta;
  }
  // Rule 7: pair on-prem starts (first-listed first) with elastic retirements (last-listed first).
  const moves: PlacementMove[] = [];
  const ins = onPrem.filter((p) => start[p.name]).map((p) => ({ pool: p.name, left: start[p.name]! }));
  const outs = [...elastic].reverse().filter((p) => retire[p.name]).map((p) => ({ pool: p.name, left: retire[p.name]! }));
  for (let i = 0, o = 0; i < ins.length && o < outs.length; ) {
    const count = Math.min(ins[i]!.left, outs[o]!.left);
    moves.push({ from: outs[o]!.pool, to: ins[i]!.pool, count });
    ins[i]!.left -= count;
    outs[o]!.left -= count;
    if (ins[i]!.left === 0) i++;
    if (outs[o]!.left === 0) o++;
  }
  const out: ServicePlacement = { name: s.name, target, start, retire, moves };
  const missing = s.wanted - w.assigned;
  if (missing > 0) out.pending = pendingOf(w, missing);
  return out;
}

function pendingOf(w: Working, count: number): { count: number; reason: PendingReason; message: string } {
  const s = w.service;
  const of = `${count} of ${s.wanted} replicas of ${s.name} wait`;
  if (w.quotaBound) return { count, reason: 'quota', message: `${of}: team ${s.team} is at its quota of ${describeQuota(w.quotaBound)}` };
  if (!s.sloAtRisk) return { count, reason: 'on-prem-full', message: `${of}: on-prem is full and the SLO is not at risk, so no elastic node is bought` };
  return { count, reason: 'no-capacity', message: `${of}: every pool it may use is full` };
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

function isAmount(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

const CLASSES = new Set(['on-prem', 'elastic']);

/** Throws PlacementInputError at the first field the decider cannot use, with its path. */
export function validatePlacementInput(input: PlacementInput): void {
  const fail = (path: string, message: string): never => {
    throw new PlacementInputError(`${path}: ${message}`);
  };
  if (!Array.isArray(input.pools) || input.pools.length === 0) fail('pools', 'needs at least one pool');
  const names = new Set<string>();
  input.pools.forEach((p, i) => {
    if (typeof p.name !== 'string' || p.name === '') fail(`pools[${i}].name`, 'must be a pool name');
    if (names.has(p.name)) fail(`pools[${i}].name`, `"${p.name}" names two pools; pool names must be unique`);
    names.add(p.name);
    if (!CLASSES.has(p.class)) fail(`pools[${i}].class`, `must be on-prem or elastic (got ${JSON.stringify(p.class)})`);
    if (!isCount(p.capacity)) fail(`pools[${i}].capacity`, `must be a whole number ≥ 0 (got ${String(p.capacity)})`);
    if (!isAmount(p.gpusPerReplica)) fail(`pools[${i}].gpusPerReplica`, `must be a number ≥ 0 (got ${String(p.gpusPerReplica)})`);
  });
  const services = new Set<string>();
  input.services.forEach((s, i) => {
    if (typeof s.name !== 'string' || s.name === '') fail(`services[${i}].name`, 'must be a service name');
    if (services.has(s.name)) fail(`services[${i}].name`, `"${s.name}" names two services; service names must be unique`);
    services.add(s.name);
    if (typeof s.team !== 'string' || s.team === '') fail(`services[${i}].team`, 'must be a team name');
    if (typeof s.priority !== 'number' || !Number.isFinite(s.priority)) fail(`services[${i}].priority`, `must be a number (got ${String(s.priority)})`);
    if (!isCount(s.wanted)) fail(`services[${i}].wanted`, `must be a whole number ≥ 0 (got ${String(s.wanted)})`);
    if (typeof s.sloAtRisk !== 'boolean') fail(`services[${i}].sloAtRisk`, 'must be true or false');
    for (const [pool, n] of Object.entries(s.placed ?? {})) {
      if (!names.has(pool)) fail(`services[${i}].placed.${pool}`, `no pool named "${pool}" (pools: ${[...names].join(', ')})`);
      if (!isCount(n)) fail(`services[${i}].placed.${pool}`, `must be a whole number ≥ 0 (got ${String(n)})`);
    }
  });
  (input.quotas ?? []).forEach((q, i) => {
    if (typeof q.team !== 'string' || q.team === '') fail(`quotas[${i}].team`, 'must be a team name');
    if (q.maxReplicas === undefined && q.maxGpus === undefined) fail(`quotas[${i}]`, 'needs maxReplicas, maxGpus or both');
    if (q.maxReplicas !== undefined && !isCount(q.maxReplicas)) fail(`quotas[${i}].maxReplicas`, `must be a whole number ≥ 0 (got ${String(q.maxReplicas)})`);
    if (q.maxGpus !== undefined && !isAmount(q.maxGpus)) fail(`quotas[${i}].maxGpus`, `must be a number ≥ 0 (got ${String(q.maxGpus)})`);
    if (q.poolClass !== undefined && !CLASSES.has(q.poolClass)) fail(`quotas[${i}].poolClass`, `must be on-prem or elastic (got ${JSON.stringify(q.poolClass)})`);
  });
}
