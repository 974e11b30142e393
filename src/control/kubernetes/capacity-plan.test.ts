import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PoolSpec } from '../../api/pool.ts';
import { gascl } from '../../autoscaler/index.ts';
import type { DeciderState, ScaleResult } from '../../autoscaler/types.ts';
import { baseSpec, signalsOf } from '../../autoscaler/test-support.ts';
import { planReservation, poolCapacity, reservationPool, reservationSentence, reservedSlots, type ReservationInput } from './capacity-plan.ts';
import { poolNodeCount } from './placement-plan.ts';

const ONPREM = PoolSpec.parse({ name: 'onprem-gpu', class: 'on-prem', replicasPerNode: 1, costPerHour: 12, minNodes: 2, maxNodes: 2, kubernetes: { nodeSelector: { 'example.com/rack': 'r7' } } });
const CLOUD = PoolSpec.parse({ name: 'cloud-gpu', replicasPerNode: 2, costPerHour: 16, maxNodes: 8, provisioningDelay: { mean: '90s', jitter: '20s' } });
const SPOT = PoolSpec.parse({ name: 'spot-gpu', class: 'elastic', replicasPerNode: 1, costPerHour: 5, minNodes: 1, maxNodes: 1, provisioningDelay: '2m' });
const POOLS = [ONPREM, CLOUD, SPOT];

const node = (name: string, labels: Record<string, string>, ready = true, unschedulable = false) => ({
  metadata: { name, labels },
  spec: unschedulable ? { unschedulable: true } : {},
  status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});

test('the pool a reservation holds room on: a service naming one declared elastic pool, and no other', () => {
  assert.equal(reservationPool(['cloud-gpu'], POOLS), CLOUD, 'elastic by default: it can grow');
  assert.equal(reservationPool(['spot-gpu'], POOLS), SPOT, 'elastic by its own word');
  assert.equal(reservationPool(['onprem-gpu'], POOLS), undefined, 'on-prem nodes are fixed: nothing would provision them');
  assert.equal(reservationPool(['onprem-gpu', 'cloud-gpu'], POOLS), undefined, 'several pools: the placement gate or the scheduler spreads them');
  assert.equal(reservationPool(['cloud-gpu', 'spot-gpu'], POOLS), undefined);
  assert.equal(reservationPool([], POOLS), undefined);
  assert.equal(reservationPool(['tpu'], POOLS), undefined, 'not declared');
  assert.equal(reservationPool(['cloud-gpu'], []), undefined, 'no pools file');
});

test('the pool as GASCL reads it: its Ready, schedulable Nodes by its selector, its limits, the mean provisioning delay', () => {
  const nodes = [
    node('cloud-1', { 'karb.dev/pool': 'cloud-gpu' }),
    node('cloud-2', { 'karb.dev/pool': 'cloud-gpu', 'nvidia.com/gpu.present': 'true' }),
    node('cloud-3', { 'karb.dev/pool': 'cloud-gpu' }, false),
    node('cloud-4', { 'karb.dev/pool': 'cloud-gpu' }, true, true),
    node('rack7-1', { 'example.com/rack': 'r7' }),
    node('spot-1', { 'karb.dev/pool': 'spot-gpu' }),
    { metadata: { name: 'new', labels: { 'karb.dev/pool': 'cloud-gpu' } } },
  ];
  assert.equal(poolNodeCount(CLOUD, nodes), 2, 'not the NotReady one, not the cordoned one, not one with no status yet');
  assert.equal(poolNodeCount(ONPREM, nodes), 1, 'by its declared selector');
  assert.deepEqual(poolCapacity(CLOUD, nodes), { replicasPerNode: 2, currentNodes: 2, maxNodes: 8, provisioningMs: 90_000 });
  assert.deepEqual(poolCapacity(SPOT, nodes), { replicasPerNode: 1, currentNodes: 1, maxNodes: 1, provisioningMs: 120_000 });
  assert.equal(poolCapacity(CLOUD, []).currentNodes, 0);
});

test('slots held: desiredNodes × replicasPerNode − the replicas wanted, never below zero, none without a node request', () => {
  const cases: Array<[number | undefined, number, number, number, string]> = [
    [undefined, 1, 3, 0, 'no node request: the pool as it is'],
    [2, 1, 1, 1, 'two nodes kept through the node delay for one replica'],
    [3, 1, 1, 2, 'three for one'],
    [2, 2, 3, 1, 'three replicas on two nodes of two: the last node’s free slot'],
    [2, 2, 4, 0, 'nodes exactly full'],
    [2, 1, 5, 0, 'minReplicas above what the pool may hold (NodeLimit): nothing beyond'],
    [0, 4, 0, 0, 'no nodes at all'],
    [3, 0, 1, 0, 'a pool of no replicas per node holds nothing'],
  ];
  for (const [nodes, perNode, replicas, slots, why] of cases) assert.equal(reservedSlots(nodes, perNode, replicas), slots, why);
});

const input = (over: Partial<ReservationInput>): ReservationInput => ({ replicasPerNode: 1, desiredNodes: 2, desiredReplicas: 1, asked: 1, placed: 1, current: 0, running: 0, ...over });

test('the plan: the slots, except that a replica still to be placed keeps the running placeholders it will preempt', () => {
  assert.deepEqual(planReservation(input({})), { replicas: 1, slots: 1, holding: false }, 'a reservation begins');
  assert.deepEqual(planReservation(input({ current: 1, running: 1 })), { replicas: 1, slots: 1, holding: false }, 'and stays');
  assert.deepEqual(planReservation(input({ desiredNodes: 4, current: 1, running: 1 })), { replicas: 3, slots: 3, holding: false }, 'grows at once');
  // A second replica is asked for: the reservation has no slot left for it, but its placeholder stays until the replica has a node.
  const growing = input({ desiredReplicas: 2, asked: 2, placed: 1, current: 1, running: 1 });
  assert.deepEqual(planReservation(growing), { replicas: 1, slots: 0, holding: true });
  assert.deepEqual(planReservation({ ...growing, placed: 2 }), { replicas: 0, slots: 0, holding: false }, 'placed: released');
  assert.deepEqual(planReservation({ ...growing, running: 0 }), { replicas: 0, slots: 0, holding: false }, 'a placeholder not running (preempted, recreated Pending) is not kept: it would only ask for a node');
  assert.deepEqual(planReservation({ ...growing, desiredNodes: undefined, current: 3, running: 2 }), { replicas: 2, slots: 0, holding: true }, 'at most those running');
  assert.deepEqual(planReservation({ ...growing, asked: 1, placed: 2 }), { replicas: 0, slots: 0, holding: false }, 'scaling down: nothing waits');
});

test('with GASCL’s own decisions: a fresh state keeps the pool; after a node delay its nodes beyond the replicas are held; a scale-down keeps them for the delay', () => {
  const nodes = [node('gpu-1', { 'karb.dev/pool': 'spot-gpu' }), node('gpu-2', { 'karb.dev/pool': 'spot-gpu' }), node('gpu-3', { 'karb.dev/pool': 'spot-gpu' })];
  const pool = PoolSpec.parse({ name: 'spot-gpu', class: 'elastic', replicasPerNode: 1, costPerHour: 5, maxNodes: 3 });
  const NOW = 3_000_000_000;
  let state: DeciderState | undefined;
  const decide = (seconds: number, replicas: number, minReplicas: number): { result: Extract<ScaleResult, { valid: true }>; slots: number } => {
    const spec = baseSpec({ minReplicas, maxReplicas: 3, stabilization: { upSeconds: 0, downSeconds: 0 }, capacity: poolCapacity(pool, nodes) });
    const d = gascl(signalsOf({ ready: replicas }, { concurrency: 0, queueDepth: 0 }), spec, state, NOW + seconds * 1000);
    state = JSON.parse(JSON.stringify(d.next)) as DeciderState;
    const result = d.result;
    if (!result.valid) throw new Error(result.message);
    return { result, slots: reservedSlots(result.desiredNodes, pool.replicasPerNode, result.desiredReplicas) };
  };
  assert.equal(decide(0, 2, 2).slots, 0, 'two replicas on three nodes, a fresh state: no node request');
  assert.equal(decide(30, 2, 2).result.desiredNodes, undefined, 'not yet a whole node delay of history');
  const steady = decide(60, 2, 2);
  assert.deepEqual([steady.result.desiredReplicas, steady.result.desiredNodes, steady.slots], [2, 2, 0], 'two nodes for two: nothing beyond');
  // minReplicas 2 → 1: one replica, but the two nodes the last minute needed are kept: room for one more is held.
  const down = decide(62, 2, 1);
  assert.deepEqual([down.result.desiredReplicas, down.result.desiredNodes, down.slots], [1, 2, 1]);
  assert.equal(reservationSentence(pool.name, { desiredNodes: down.result.desiredNodes, replicasPerNode: 1, desiredReplicas: 1 }, down.slots), 'holding room for 1 more replica on pool spot-gpu: the autoscaler wants 2 nodes (1 replica per node) for 1 replica; placeholder pods at priority -10 hold it, and any replica preempts them');
  assert.equal(decide(100, 1, 1).slots, 1, 'within the node delay');
  const later = decide(123, 1, 1);
  assert.deepEqual([later.result.desiredNodes, later.slots], [1, 0], 'a whole delay at one: one node, nothing held');
  assert.equal(reservationSentence(pool.name, { desiredNodes: 1, replicasPerNode: 1, desiredReplicas: 1 }, 0), 'room on pool spot-gpu released: 1 node (1 replica per node) holds no more than its 1 replica');
  assert.equal(reservationSentence(pool.name, { desiredNodes: undefined, replicasPerNode: 2, desiredReplicas: 3 }, 0), 'room on pool spot-gpu released: the autoscaler wants no nodes beyond its 3 replicas');
});
