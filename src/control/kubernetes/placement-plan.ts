/**
 * The placement gate's pure half (placement-gate.ts acts on it): from the declared pools, the
 * cluster's Nodes, karb's pods and the services that may burst (they name an on-prem and an
 * elastic pool, so their pods start gated), the placement decider's input (src/placement), its
 * decision, and what karb does about it:
 *
 * | decision                         | on the cluster                                                  |
 * |----------------------------------|-----------------------------------------------------------------|
 * | start n on a pool                | release n gated pods (oldest first): the pool's node selector    |
 * |                                  | added and karb's gate removed, in one update                     |
 * | pending (on-prem-full, …)        | the rest stay gated; the sentence says why (`waitingSentence`)   |
 * | move elastic → on-prem           | evict one elastic pod once every other replica of the service is |
 * |                                  | ready and none waits; its replacement is gated, and goes on-prem |
 * | retire (fewer wanted)            | nothing: the Deployment's scale-down removes pods                |
 *
 * Capacity is counted in replicas, as the decider counts: an on-prem pool holds replicasPerNode on
 * each of its Ready, schedulable Nodes; an elastic pool what maxNodes hold (its nodes come on
 * demand). Room already taken by karb pods outside the decision (services that name one pool, other
 * pool lists) is taken off. Services naming the same pools, in the same order, are decided
 * together; different pool lists are decided one after another, each on the room the last left.
 * Nothing here reads the cluster, the store or a clock.
 */
import { poolClass, poolNodeSelector, type Pool } from '../../api/pool.ts';
import { decidePlacement } from '../../placement/placement.ts';
import { SLO_RISK_LATENCY_HEADROOM, type SloRisk } from '../../placement/slo-risk.ts';
import type { PlacementPool, PlacementService, PoolClass, ServicePlacement } from '../../placement/types.ts';
import { LABEL_SERVICE, PLACEMENT_GATE } from '../../runtime/kubernetes/labels.ts';

type Obj = Record<string, any>;

/** A service whose pods karb places: it names a declared on-prem pool and a declared elastic one. */
export interface GatedService {
  namespace: string;
  name: string;
  team: string;
  priority: number;
  /** Replicas karb asks of its Deployments now, every revision together. */
  wanted: number;
  /** The pools it names, in order of preference (all declared). */
  pools: readonly string[];
  /** Whether its SLO is at risk now, and the reading (sloRisk on its signal windows). */
  risk: SloRisk;
  /** Its SLO's p95, for the sentence of why replicas wait. */
  sloP95Ms: number;
}

export interface PlacementGateInput {
  /** Every declared pool (the pools file). */
  pools: readonly Pool[];
  nodes: readonly Obj[];
  /** karb's replica pods, every service's: where they run is room taken. */
  pods: readonly Obj[];
  services: readonly GatedService[];
  /** Pods released earlier whose update the watch has not shown yet (namespace/name → pool). */
  released?: ReadonlyMap<string, string>;
  /** Pods evicted earlier that the watch still shows running (namespace/name). */
  evicting?: ReadonlySet<string>;
}

export interface Release {
  namespace: string;
  service: string;
  pod: string;
  /** The pod as read: the update is made on this version only. */
  resourceVersion: string;
  pool: string;
  class: PoolClass;
  /** The pool's node selector, added to the pod's. */
  nodeSelector: Record<string, string>;
  /** The pod's other scheduling gates, kept. */
  otherGates: Array<{ name: string }>;
  /**
   * `controller.kubernetes.io/pod-deletion-cost` for the pod: an elastic replica costs less to
   * delete than the default 0, so its ReplicaSet removes it before an on-prem one when it scales down.
   */
  deletionCost?: string;
}

/** The annotation a ReplicaSet reads to choose which pods to delete first (lower first). */
export const POD_DELETION_COST = 'controller.kubernetes.io/pod-deletion-cost';
/** An elastic replica's deletion cost: below the default 0 of every other pod. */
export const ELASTIC_DELETION_COST = '-100';

export interface Eviction {
  namespace: string;
  service: string;
  pod: string;
  from: string;
  to: string;
}

export interface ServiceOutcome {
  namespace: string;
  name: string;
  /** The decider's placement of the service (its name in it is namespace/name). */
  placement: ServicePlacement;
  risk: SloRisk;
  sloP95Ms: number;
  /** Its pods still behind the gate after this plan's releases. */
  gated: number;
}

export interface PlacementGatePlan {
  releases: Release[];
  evictions: Eviction[];
  services: ServiceOutcome[];
}

const podKey = (pod: Obj): string => `${pod.metadata?.namespace}/${pod.metadata?.name}`;

/** Whether a pod still waits behind karb's placement gate. */
export function isPlacementGated(pod: Obj): boolean {
  return ((pod.spec?.schedulingGates ?? []) as Array<{ name?: string }>).some((g) => g.name === PLACEMENT_GATE);
}

function matches(labels: Readonly<Record<string, string>> | undefined, selector: Readonly<Record<string, string>>): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

function nodeUsable(node: Obj): boolean {
  if (node.spec?.unschedulable === true) return false;
  return ((node.status?.conditions ?? []) as Obj[]).some((c) => c.type === 'Ready' && c.status === 'True');
}

function podReady(pod: Obj): boolean {
  return ((pod.status?.conditions ?? []) as Obj[]).some((c) => c.type === 'Ready' && c.status === 'True');
}

/**
 * Whether the pod's required node affinity lets it run on the pool (its one term per named pool,
 * as deployment.ts renders them); a pod with none may run anywhere.
 */
export function podAllowsPool(pod: Obj, selector: Readonly<Record<string, string>>): boolean {
  const terms = (pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []) as Obj[];
  if (terms.length === 0) return true;
  return terms.some((t) => {
    const expressions = (t.matchExpressions ?? []) as Obj[];
    return expressions.length > 0 && expressions.every((e) => e.operator === 'In' && selector[e.key] !== undefined && (e.values as string[]).includes(selector[e.key]!));
  });
}

/** The pools a pod occupies: its node's, once bound; the pool it was given, while not yet bound. */
export function poolsOfPod(pod: Obj, pools: readonly Pool[], nodes: ReadonlyMap<string, Obj>, released?: ReadonlyMap<string, string>): string[] {
  const nodeName = pod.spec?.nodeName as string | undefined;
  if (nodeName) {
    const labels = nodes.get(nodeName)?.metadata?.labels as Record<string, string> | undefined;
    return pools.filter((p) => matches(labels, poolNodeSelector(p))).map((p) => p.name);
  }
  const given = released?.get(podKey(pod));
  if (given !== undefined) return [given];
  if (isPlacementGated(pod)) return [];
  const selector = pod.spec?.nodeSelector as Record<string, string> | undefined;
  return selector === undefined ? [] : pools.filter((p) => matches(selector, poolNodeSelector(p))).map((p) => p.name);
}

function poolNodes(pool: Pool, nodes: readonly Obj[]): Obj[] {
  const selector = poolNodeSelector(pool);
  return nodes.filter((n) => matches(n.metadata?.labels, selector));
}

/** The pool's Nodes that can take pods now: its selector's labels, Ready, not cordoned. */
export function poolNodeCount(pool: Pool, nodes: readonly Obj[]): number {
  return poolNodes(pool, nodes).filter(nodeUsable).length;
}

/** Replicas a pool holds, as the decider counts them (see the module's comment). */
export function poolSlots(pool: Pool, nodes: readonly Obj[]): number {
  if (poolClass(pool) === 'on-prem') return poolNodeCount(pool, nodes) * pool.replicasPerNode;
  return Math.max(pool.maxNodes, poolNodes(pool, nodes).length) * pool.replicasPerNode;
}

function gpusPerReplica(p: Pool): number {
  if (p.gpusPerNode !== undefined) return p.gpusPerNode / p.replicasPerNode;
  return p.accelerator === 'gpu' ? 1 : 0;
}

const byAge = (a: Obj, b: Obj): number =>
  String(a.metadata?.creationTimestamp ?? '').localeCompare(String(b.metadata?.creationTimestamp ?? '')) || String(a.metadata?.name).localeCompare(String(b.metadata?.name));

export function planPlacementGate(input: PlacementGateInput): PlacementGatePlan {
  const declared = new Map(input.pools.map((p) => [p.name, p]));
  const nodes = new Map(input.nodes.map((n) => [n.metadata?.name as string, n]));
  const released = input.released ?? new Map<string, string>();
  const evicting = input.evicting ?? new Set<string>();
  const live = input.pods.filter((p) => !p.metadata?.deletionTimestamp);
  const podsOf = (s: GatedService) => live.filter((p) => p.metadata?.namespace === s.namespace && p.metadata?.labels?.[LABEL_SERVICE] === s.name);
  // Where every pod is, once: room taken per pool.
  const where = new Map(input.pods.map((p) => [p, poolsOfPod(p, input.pools, nodes, released)] as const));
  /** Releases made by earlier groups in this plan, per pool. */
  const taken = new Map<string, number>();
  const plan: PlacementGatePlan = { releases: [], evictions: [], services: [] };

  const groups = new Map<string, GatedService[]>();
  for (const s of input.services) {
    const k = s.pools.join(',');
    groups.set(k, [...(groups.get(k) ?? []), s]);
  }
  for (const services of groups.values()) {
    const pools = services[0]!.pools.map((name) => declared.get(name)).filter((p) => p !== undefined);
    // The group's own replicas: placed on a pool (bound there, or given it), or waiting behind the gate.
    const mine = new Set<Obj>();
    const facts = services.map((s) => {
      const placed: Record<string, number> = {};
      const gated: Obj[] = [];
      const onPool = new Map<string, Obj[]>();
      for (const pod of podsOf(s)) {
        if (evicting.has(podKey(pod))) continue;
        const pool = pools.find((p) => where.get(pod)!.includes(p.name));
        if (pool !== undefined) {
          placed[pool.name] = (placed[pool.name] ?? 0) + 1;
          onPool.set(pool.name, [...(onPool.get(pool.name) ?? []), pod]);
          mine.add(pod);
        } else if (isPlacementGated(pod)) gated.push(pod);
      }
      return { service: s, placed, gated: gated.sort(byAge), onPool };
    });
    const placementPools: PlacementPool[] = pools.map((p) => {
      let others = 0;
      for (const [pod, at] of where) if (at.includes(p.name) && !mine.has(pod)) others++;
      return { name: p.name, class: poolClass(p), capacity: Math.max(0, poolSlots(p, input.nodes) - others - (taken.get(p.name) ?? 0)), gpusPerReplica: gpusPerReplica(p) };
    });
    const decisionServices: PlacementService[] = facts.map(({ service: s, placed }) => ({
      name: `${s.namespace}/${s.name}`,
      team: s.team,
      priority: s.priority,
      wanted: s.wanted,
      sloAtRisk: s.risk.atRisk,
      placed,
    }));
    const decision = decidePlacement({ pools: placementPools, services: decisionServices });
    facts.forEach(({ service: s, gated, onPool }, i) => {
      const placement = decision.services[i]!;
      const waiting = [...gated];
      for (const pool of pools) {
        for (let n = placement.start[pool.name] ?? 0; n > 0; n--) {
          const selector = poolNodeSelector(pool);
          const at = waiting.findIndex((pod) => podAllowsPool(pod, selector));
          if (at < 0) break;
          const [pod] = waiting.splice(at, 1) as [Obj];
          taken.set(pool.name, (taken.get(pool.name) ?? 0) + 1);
          plan.releases.push({
            namespace: s.namespace,
            service: s.name,
            pod: pod.metadata.name,
            resourceVersion: String(pod.metadata.resourceVersion ?? ''),
            pool: pool.name,
            class: poolClass(pool),
            nodeSelector: { ...selector },
            otherGates: ((pod.spec?.schedulingGates ?? []) as Array<{ name: string }>).filter((g) => g.name !== PLACEMENT_GATE),
            ...(poolClass(pool) === 'elastic' ? { deletionCost: ELASTIC_DELETION_COST } : {}),
          });
        }
      }
      // A move, one replica at a time: only a service at full strength gives up an elastic pod.
      const move = placement.moves[0];
      const steady = gated.length === 0 && [...onPool.values()].flat().every(podReady) && !podsOf(s).some((p) => evicting.has(podKey(p)));
      if (move !== undefined && steady) {
        const pod = [...(onPool.get(move.from) ?? [])].sort(byAge).pop();
        if (pod !== undefined) plan.evictions.push({ namespace: s.namespace, service: s.name, pod: pod.metadata.name, from: move.from, to: move.to });
      }
      plan.services.push({ namespace: s.namespace, name: s.name, placement, risk: s.risk, sloP95Ms: s.sloP95Ms, gated: waiting.length });
    });
  }
  return plan;
}

function fmt(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

/**
 * Why a service's replicas wait, for people: the decider's sentence, and for on-prem-full what the
 * SLO reading was, in words that do not change with every request (status is written on change).
 */
export function waitingSentence(outcome: ServiceOutcome): string | undefined {
  const pending = outcome.placement.pending;
  if (pending === undefined) return undefined;
  if (pending.reason !== 'on-prem-full') return pending.message;
  const headroom = fmt(SLO_RISK_LATENCY_HEADROOM * outcome.sloP95Ms);
  const reading = outcome.risk.message.startsWith('no latency measured')
    ? 'no latency measured yet'
    : `p95 within ${headroom} ms, ${fmt(SLO_RISK_LATENCY_HEADROOM * 100)}% of the ${fmt(outcome.sloP95Ms)} ms SLO, and no queue growing`;
  return `${pending.message} (${reading})`;
}

/** The `Placed` condition of a gated service: where its replicas go, or why some wait. */
export function placedCondition(outcome: ServiceOutcome): { type: 'Placed'; status: 'True' | 'False'; reason: string; message: string } {
  const p = outcome.placement;
  const waiting = waitingSentence(outcome);
  if (p.pending !== undefined && waiting !== undefined) {
    const reason = { 'on-prem-full': 'WaitingForOnPrem', 'no-capacity': 'NoCapacity', quota: 'QuotaReached' }[p.pending.reason];
    return { type: 'Placed', status: 'False', reason, message: waiting };
  }
  const where = Object.entries(p.target).filter(([, n]) => n > 0).map(([pool, n]) => `${n} on ${pool}`);
  const moves = p.moves.map((m) => `; ${m.count} moving from ${m.from} back to ${m.to}`).join('');
  return { type: 'Placed', status: 'True', reason: 'Placed', message: where.length === 0 ? 'no replica wanted' : `every replica has a pool: ${where.join(', ')}${moves}` };
}
