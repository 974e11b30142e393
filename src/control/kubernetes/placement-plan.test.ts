import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PoolSpec } from '../../api/pool.ts';
import type { SloRisk } from '../../placement/slo-risk.ts';
import { ELASTIC_DELETION_COST, isPlacementGated, placedCondition, planPlacementGate, podAllowsPool, poolSlots, waitingSentence, type GatedService, type PlacementGateInput } from './placement-plan.ts';

type Obj = Record<string, any>;

const POOLS = [
  PoolSpec.parse({ name: 'onprem', class: 'on-prem', replicasPerNode: 1, costPerHour: 12, minNodes: 2, maxNodes: 2, kubernetes: { nodeSelector: { 'example.com/rack': 'r7' } } }),
  PoolSpec.parse({ name: 'cloud', class: 'elastic', replicasPerNode: 1, costPerHour: 16, maxNodes: 1 }),
];
const ONPREM = { matchExpressions: [{ key: 'example.com/rack', operator: 'In', values: ['r7'] }] };
const CLOUD = { matchExpressions: [{ key: 'karb.dev/pool', operator: 'In', values: ['cloud'] }] };

const node = (name: string, labels: Record<string, string>, extra: { ready?: boolean; unschedulable?: boolean } = {}): Obj => ({
  metadata: { name, labels },
  spec: extra.unschedulable ? { unschedulable: true } : {},
  status: { conditions: [{ type: 'Ready', status: extra.ready === false ? 'False' : 'True' }] },
});
const NODES = [node('rack7-1', { 'example.com/rack': 'r7' }), node('rack7-2', { 'example.com/rack': 'r7' }), node('cloud-1', { 'karb.dev/pool': 'cloud' })];

let seq = 0;
/** A pod of `service`: gated (the default), bound to a node, or released with a node selector. */
const pod = (service: string, how: { node?: string; nodeSelector?: Record<string, string>; gated?: boolean; ready?: boolean; terminating?: boolean; terms?: Obj[]; gates?: string[] } = {}): Obj => {
  seq++;
  const gates = how.gates ?? (how.gated === false || how.node || how.nodeSelector ? [] : ['karb.dev/placement']);
  return {
    metadata: {
      name: `${service}-${seq}`,
      namespace: 'ml',
      resourceVersion: String(100 + seq),
      creationTimestamp: `2030-01-01T00:00:${String(seq).padStart(2, '0')}Z`,
      labels: { 'karb.dev/service': service, 'karb.dev/revision': `${service}-00001` },
      ...(how.terminating ? { deletionTimestamp: '2030-01-01T00:01:00Z' } : {}),
    },
    spec: {
      ...(how.node ? { nodeName: how.node } : {}),
      ...(how.nodeSelector ? { nodeSelector: how.nodeSelector } : {}),
      ...(gates.length > 0 ? { schedulingGates: gates.map((name) => ({ name })) } : {}),
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: how.terms ?? [ONPREM, CLOUD] } } },
    },
    status: { conditions: [{ type: 'Ready', status: how.ready === false ? 'False' : how.node ? 'True' : 'False' }] },
  };
};

const SAFE: SloRisk = { atRisk: false, reason: 'none', message: 'p95 12 ms is within 80 ms and no queue grows' };
const AT_RISK: SloRisk = { atRisk: true, reason: 'latency', message: 'p95 312 ms (stable window) is over 80 ms, 80% of the 100 ms SLO' };
const svc = (name: string, wanted: number, risk: SloRisk = SAFE, pools = ['onprem', 'cloud']): GatedService => ({ namespace: 'ml', name, team: 'ml', priority: 0, wanted, pools, risk, sloP95Ms: 100 });
const plan = (input: Partial<PlacementGateInput> & Pick<PlacementGateInput, 'pods' | 'services'>) => planPlacementGate({ pools: POOLS, nodes: NODES, ...input });

test('capacity: on-prem counts its Ready, schedulable nodes; elastic what maxNodes hold', () => {
  assert.equal(poolSlots(POOLS[0]!, NODES), 2);
  assert.equal(poolSlots(POOLS[0]!, [node('rack7-1', { 'example.com/rack': 'r7' }), node('rack7-2', { 'example.com/rack': 'r7' }, { ready: false }), node('rack7-3', { 'example.com/rack': 'r7' }, { unschedulable: true })]), 1);
  assert.equal(poolSlots(POOLS[1]!, []), 1, 'no cloud node yet: the pool provisions up to maxNodes');
  assert.equal(poolSlots(POOLS[1]!, [node('c1', { 'karb.dev/pool': 'cloud' }), node('c2', { 'karb.dev/pool': 'cloud' })]), 2, 'more nodes than maxNodes: they are there');
});

test('on-prem full and the SLO not at risk: the oldest gated pod goes on-prem, the rest wait gated, and the sentence says why', () => {
  // Another service (naming on-prem only, so not gated) holds one on-prem node.
  const filler = pod('filler', { node: 'rack7-1', terms: [ONPREM] });
  const burst = [pod('burst'), pod('burst'), pod('burst')];
  const p = plan({ pods: [filler, ...burst], services: [svc('burst', 3)] });
  assert.deepEqual(p.releases, [
    { namespace: 'ml', service: 'burst', pod: burst[0]!.metadata.name, resourceVersion: burst[0]!.metadata.resourceVersion, pool: 'onprem', class: 'on-prem', nodeSelector: { 'example.com/rack': 'r7' }, otherGates: [] },
  ]);
  assert.deepEqual(p.evictions, []);
  const [outcome] = p.services;
  assert.deepEqual(outcome!.placement.pending, { count: 2, reason: 'on-prem-full', message: '2 of 3 replicas of ml/burst wait: on-prem is full and the SLO is not at risk, so no elastic node is bought' });
  assert.equal(outcome!.gated, 2);
  assert.equal(waitingSentence(outcome!), '2 of 3 replicas of ml/burst wait: on-prem is full and the SLO is not at risk, so no elastic node is bought (p95 within 80 ms, 80% of the 100 ms SLO, and no queue growing)');
  assert.deepEqual(placedCondition(outcome!), { type: 'Placed', status: 'False', reason: 'WaitingForOnPrem', message: waitingSentence(outcome!) });
  const unmeasured = plan({ pods: [filler, ...burst], services: [{ ...svc('burst', 3), risk: { atRisk: false, reason: 'none', message: 'no latency measured and no growing queue' } }] });
  assert.match(waitingSentence(unmeasured.services[0]!)!, /\(no latency measured yet\)$/);
});

test('the SLO at risk: what on-prem cannot hold goes to the elastic pool, and what no pool holds waits, reason no-capacity', () => {
  const filler = pod('filler', { node: 'rack7-1', terms: [ONPREM] });
  const burst = [pod('burst'), pod('burst'), pod('burst')];
  const p = plan({ pods: [filler, ...burst], services: [svc('burst', 3, AT_RISK)] });
  assert.deepEqual(p.releases.map((r) => [r.pod, r.pool, r.class]), [[burst[0]!.metadata.name, 'onprem', 'on-prem'], [burst[1]!.metadata.name, 'cloud', 'elastic']]);
  assert.equal(p.releases[1]!.nodeSelector['karb.dev/pool'], 'cloud');
  // The elastic replica is the first its ReplicaSet deletes on a scale-down; the on-prem one keeps the default.
  assert.equal(p.releases[1]!.deletionCost, ELASTIC_DELETION_COST);
  assert.equal(p.releases[0]!.deletionCost, undefined);
  assert.ok(Number(ELASTIC_DELETION_COST) < 0);
  const [outcome] = p.services;
  assert.equal(outcome!.placement.pending?.reason, 'no-capacity');
  assert.deepEqual(placedCondition(outcome!).reason, 'NoCapacity');
});

test('where replicas are: bound pods by their node, released ones by their node selector; a terminating pod holds its node but is no replica', () => {
  const bound = pod('burst', { node: 'rack7-1' });
  const leaving = pod('burst', { node: 'rack7-2', terminating: true });
  const selected = pod('burst', { nodeSelector: { 'karb.dev/pool': 'cloud' } });
  const waiting = pod('burst');
  // on-prem: rack7-1 holds a replica, rack7-2 a pod still stopping; the cloud pool's one node is given to a replica.
  const p = plan({ pods: [bound, leaving, selected, waiting], services: [svc('burst', 3, AT_RISK)] });
  const outcome = p.services[0]!;
  assert.deepEqual(outcome.placement.target, { onprem: 1, cloud: 1 });
  assert.deepEqual(p.releases, [], 'no room anywhere: the gated pod waits');
  assert.deepEqual([outcome.placement.pending?.count, outcome.placement.pending?.reason, outcome.gated], [1, 'no-capacity', 1]);
  // Once the stopping pod is gone, its node is room for the one waiting.
  assert.deepEqual(plan({ pods: [bound, selected, waiting], services: [svc('burst', 3, AT_RISK)] }).releases.map((r) => [r.pod, r.pool]), [[waiting.metadata.name, 'onprem']]);
});

test('a release is made once: the plan on the released pods releases nothing more and says every replica has a pool', () => {
  const burst = [pod('burst'), pod('burst')];
  const first = plan({ pods: burst, services: [svc('burst', 2)] });
  assert.equal(first.releases.length, 2);
  const after = burst.map((p, i) => ({ ...p, spec: { ...p.spec, schedulingGates: undefined, nodeSelector: first.releases[i]!.nodeSelector } }));
  const again = plan({ pods: after, services: [svc('burst', 2)] });
  assert.deepEqual(again.releases, []);
  assert.deepEqual(placedCondition(again.services[0]!), { type: 'Placed', status: 'True', reason: 'Placed', message: 'every replica has a pool: 2 on onprem' });
  // And with the releases still in flight (the watch not caught up), nothing is released twice.
  const inFlight = plan({ pods: burst, services: [svc('burst', 2)], released: new Map(first.releases.map((r) => [`ml/${r.pod}`, r.pool])) });
  assert.deepEqual(inFlight.releases, []);
});

test('other scheduling gates are kept; a pod is released only to a pool its node affinity allows', () => {
  const withOther = pod('burst', { gates: ['karb.dev/placement', 'example.com/quota'] });
  const p = plan({ pods: [withOther], services: [svc('burst', 1)] });
  assert.deepEqual(p.releases[0]!.otherGates, [{ name: 'example.com/quota' }]);
  assert.equal(isPlacementGated(withOther), true);
  // A pod of an older revision that named the cloud pool only is not put on-prem.
  const cloudOnly = pod('burst', { terms: [CLOUD] });
  assert.equal(podAllowsPool(cloudOnly, { 'example.com/rack': 'r7' }), false);
  assert.equal(podAllowsPool(cloudOnly, { 'karb.dev/pool': 'cloud' }), true);
  assert.deepEqual(plan({ pods: [cloudOnly], services: [svc('burst', 1)] }).releases, []);
});

test('on-prem room again: one elastic pod is evicted, only with every other replica ready and none waiting, and not twice', () => {
  const onprem = pod('burst', { node: 'rack7-1' });
  const cloud = pod('burst', { node: 'cloud-1' });
  const p = plan({ pods: [onprem, cloud], services: [svc('burst', 2)] });
  assert.deepEqual(p.services[0]!.placement.moves, [{ from: 'cloud', to: 'onprem', count: 1 }]);
  assert.deepEqual(p.evictions, [{ namespace: 'ml', service: 'burst', pod: cloud.metadata.name, from: 'cloud', to: 'onprem' }]);
  assert.match(placedCondition(p.services[0]!).message, /2 on onprem; 1 moving from cloud back to onprem$/);

  const starting = pod('burst', { node: 'rack7-1', ready: false });
  assert.deepEqual(plan({ pods: [starting, cloud], services: [svc('burst', 2)] }).evictions, [], 'a replica not ready yet: the elastic one stays');
  assert.deepEqual(plan({ pods: [onprem, cloud], services: [svc('burst', 2)], evicting: new Set([`ml/${cloud.metadata.name}`]) }).evictions, [], 'evicted already');
  // Its replacement, gated, goes on-prem while the evicted pod is still stopping.
  const replacement = pod('burst');
  const next = plan({ pods: [onprem, { ...cloud, metadata: { ...cloud.metadata, deletionTimestamp: '2030-01-01T00:02:00Z' } }, replacement], services: [svc('burst', 2)] });
  assert.deepEqual(next.releases.map((r) => [r.pod, r.pool]), [[replacement.metadata.name, 'onprem']]);
});

test('services naming other pool lists are decided after, on the room left', () => {
  const a = pod('a');
  const b = pod('b', { terms: [ONPREM, CLOUD] });
  const filler = pod('filler', { node: 'rack7-1', terms: [ONPREM] });
  const p = plan({ pods: [filler, a, b], services: [svc('a', 1), { ...svc('b', 1), pools: ['onprem', 'cloud'].reverse() }] });
  // a takes the last on-prem node; b (cloud first, then on-prem) is not at risk, and on-prem has no room left.
  assert.deepEqual(p.releases.map((r) => [r.service, r.pool]), [['a', 'onprem']]);
  assert.equal(p.services.find((s) => s.name === 'b')!.placement.pending?.reason, 'on-prem-full');
});
