import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../util/prng.ts';
import { decidePlacement, PlacementInputError } from './placement.ts';
import type { PlacementInput, PlacementPool, PlacementService, ServicePlacement, TeamQuota } from './types.ts';

const ONPREM: PlacementPool = { name: 'onprem', class: 'on-prem', capacity: 4, gpusPerReplica: 1 };
const CLOUD: PlacementPool = { name: 'cloud', class: 'elastic', capacity: 40, gpusPerReplica: 1 };

function svc(name: string, fields: Partial<PlacementService> = {}): PlacementService {
  return { name, team: name, priority: 0, wanted: 0, sloAtRisk: false, placed: {}, ...fields };
}

function decide(services: PlacementService[], pools: PlacementPool[] = [ONPREM, CLOUD], quotas: TeamQuota[] = []) {
  return decidePlacement({ pools, services, quotas });
}

function only(services: PlacementService[], pools?: PlacementPool[], quotas?: TeamQuota[]): ServicePlacement {
  return decide(services, pools, quotas).services[0]!;
}

test('on-prem first: replicas fill the on-prem pools, in their order, before any elastic pool', () => {
  const second: PlacementPool = { name: 'onprem-b', class: 'on-prem', capacity: 2, gpusPerReplica: 1 };
  const p = only([svc('chat', { wanted: 8, sloAtRisk: true })], [CLOUD, ONPREM, second]);
  assert.deepEqual(p.target, { cloud: 2, onprem: 4, 'onprem-b': 2 }, 'the elastic pool listed first still comes last');
  assert.deepEqual(p.start, { cloud: 2, onprem: 4, 'onprem-b': 2 });
  assert.equal(p.pending, undefined);
});

test('burst: an elastic pool only when on-prem has no room AND the SLO is at risk; otherwise the replica waits, reason on-prem-full', () => {
  const calm = only([svc('chat', { wanted: 6, placed: { onprem: 3 } })]);
  assert.deepEqual(calm.target, { onprem: 4, cloud: 0 });
  assert.equal(calm.pending?.count, 2);
  assert.equal(calm.pending?.reason, 'on-prem-full');
  assert.match(calm.pending!.message, /2 of 6 replicas of chat wait: on-prem is full and the SLO is not at risk/);

  const atRisk = only([svc('chat', { wanted: 6, placed: { onprem: 3 }, sloAtRisk: true })]);
  assert.deepEqual(atRisk.target, { onprem: 4, cloud: 2 });
  assert.equal(atRisk.pending, undefined);

  const roomOnPrem = only([svc('chat', { wanted: 4, placed: { onprem: 2 }, sloAtRisk: true })]);
  assert.deepEqual(roomOnPrem.target, { onprem: 4, cloud: 0 }, 'at risk, but on-prem has room: no elastic replica');
});

test('keep: elastic replicas stay while wanted and on-prem is full, even once the SLO is no longer at risk', () => {
  const p = only([svc('chat', { wanted: 6, placed: { onprem: 4, cloud: 2 }, sloAtRisk: false })]);
  assert.deepEqual(p.target, { onprem: 4, cloud: 2 });
  assert.deepEqual(p.retire, {});
  assert.deepEqual(p.moves, []);
  assert.equal(p.pending, undefined);
});

test('come back: when on-prem frees, elastic replicas move on-prem (start there, retire the elastic ones)', () => {
  // Another service left two on-prem slots; chat still wants 5.
  const d = decide([svc('chat', { wanted: 5, placed: { onprem: 2, cloud: 3 } }), svc('search', { wanted: 0, placed: {} })]);
  const p = d.services[0]!;
  assert.deepEqual(p.target, { onprem: 4, cloud: 1 });
  assert.deepEqual(p.start, { onprem: 2 });
  assert.deepEqual(p.retire, { cloud: 2 });
  assert.deepEqual(p.moves, [{ from: 'cloud', to: 'onprem', count: 2 }]);
  assert.deepEqual(d.pools, { onprem: 4, cloud: 1 });

  // Two elastic pools: the last-listed one empties first.
  const spot: PlacementPool = { name: 'spot', class: 'elastic', capacity: 8, gpusPerReplica: 1 };
  const two = only([svc('chat', { wanted: 5, placed: { onprem: 2, cloud: 2, spot: 1 } })], [ONPREM, CLOUD, spot]);
  assert.deepEqual(two.moves, [
    { from: 'spot', to: 'onprem', count: 1 },
    { from: 'cloud', to: 'onprem', count: 1 },
  ]);
  assert.deepEqual(two.target, { onprem: 4, cloud: 1, spot: 0 });
});

test('scale-down retires elastic replicas first, the last-listed elastic pool first, on-prem last', () => {
  const spot: PlacementPool = { name: 'spot', class: 'elastic', capacity: 8, gpusPerReplica: 1 };
  const p = only([svc('chat', { wanted: 5, placed: { onprem: 4, cloud: 2, spot: 2 } })], [ONPREM, CLOUD, spot]);
  assert.deepEqual(p.target, { onprem: 4, cloud: 1, spot: 0 });
  assert.deepEqual(p.retire, { cloud: 1, spot: 2 });
  const down = only([svc('chat', { wanted: 2, placed: { onprem: 4, cloud: 2 } })]);
  assert.deepEqual(down.target, { onprem: 2, cloud: 0 });
  assert.deepEqual(down.retire, { onprem: 2, cloud: 2 });
});

test('priority: a lower-priority service yields its on-prem replicas; they go elastic only if its SLO is at risk, else wait', () => {
  const high = svc('chat', { priority: 10, wanted: 3 });
  const lowCalm = svc('batch', { priority: 1, wanted: 4, placed: { onprem: 4 } });
  const calm = decide([lowCalm, high]);
  assert.deepEqual(calm.services[1]!.target, { onprem: 3, cloud: 0 }, 'the higher priority takes on-prem, listed first or not');
  assert.deepEqual(calm.services[0]!.target, { onprem: 1, cloud: 0 });
  assert.deepEqual(calm.services[0]!.retire, { onprem: 3 });
  assert.equal(calm.services[0]!.pending?.reason, 'on-prem-full');
  assert.equal(calm.services[0]!.pending?.count, 3);

  const atRisk = decide([{ ...lowCalm, sloAtRisk: true }, high]);
  assert.deepEqual(atRisk.services[0]!.target, { onprem: 1, cloud: 3 });
  assert.deepEqual(atRisk.services[0]!.start, { cloud: 3 });
  assert.deepEqual(atRisk.services[0]!.moves, [], 'on-prem → elastic is no move: the slot is needed now');
});

test('stickiness: at one priority nobody is displaced; free slots go to a service at risk first', () => {
  const d = decide([svc('a', { wanted: 4, placed: { onprem: 1 } }), svc('b', { wanted: 4, placed: { onprem: 2 }, sloAtRisk: true })]);
  assert.deepEqual(d.services[0]!.target, { onprem: 1, cloud: 0 });
  assert.equal(d.services[0]!.pending?.count, 3);
  assert.deepEqual(d.services[1]!.target, { onprem: 3, cloud: 1 }, 'b keeps its 2, takes the free slot (at risk first), bursts for the last');
});

test('quota: a team at its quota gets no more replicas; they wait with the reason quota', () => {
  const quotas: TeamQuota[] = [{ team: 'research', maxReplicas: 5 }];
  const d = decide([svc('train', { team: 'research', wanted: 3, sloAtRisk: true }), svc('eval', { team: 'research', wanted: 4, sloAtRisk: true })], [ONPREM, CLOUD], quotas);
  assert.deepEqual(d.services[0]!.target, { onprem: 3, cloud: 0 });
  assert.deepEqual(d.services[1]!.target, { onprem: 1, cloud: 1 });
  assert.equal(d.services[1]!.pending?.reason, 'quota');
  assert.equal(d.services[1]!.pending?.count, 2);
  assert.match(d.services[1]!.pending!.message, /team research is at its quota of 5 replicas on every pool/);

  // A team above its quota (the quota was lowered) retires the excess, elastic first.
  const over = only([svc('train', { team: 'research', wanted: 6, placed: { onprem: 4, cloud: 2 } })], [ONPREM, CLOUD], [{ team: 'research', maxReplicas: 5 }]);
  assert.deepEqual(over.target, { onprem: 4, cloud: 1 });
  assert.deepEqual(over.retire, { cloud: 1 });
  assert.equal(over.pending?.reason, 'quota');
});

test('quota per pool class and in GPUs: an elastic GPU budget stops the burst, not on-prem', () => {
  const bigGpu: PlacementPool = { ...CLOUD, gpusPerReplica: 2 };
  const quotas: TeamQuota[] = [{ team: 'research', maxGpus: 4, poolClass: 'elastic' }];
  const p = only([svc('train', { team: 'research', wanted: 10, sloAtRisk: true })], [ONPREM, bigGpu], quotas);
  assert.deepEqual(p.target, { onprem: 4, cloud: 2 }, '4 on-prem (the quota counts elastic only), 2 × 2 GPUs elastic');
  assert.equal(p.pending?.reason, 'quota');
  assert.equal(p.pending?.count, 4);
  assert.match(p.pending!.message, /quota of 4 GPUs on elastic pools/);
  // Another team is not bound by it.
  assert.equal(only([svc('chat', { team: 'product', wanted: 10, sloAtRisk: true })], [ONPREM, bigGpu], quotas).pending, undefined);
});

test('no room anywhere: the replica waits, reason no-capacity', () => {
  const small: PlacementPool = { ...CLOUD, capacity: 2 };
  const p = only([svc('chat', { wanted: 9, sloAtRisk: true })], [ONPREM, small]);
  assert.deepEqual(p.target, { onprem: 4, cloud: 2 });
  assert.deepEqual(p.pending && { count: p.pending.count, reason: p.pending.reason }, { count: 3, reason: 'no-capacity' });
});

/** A random but valid input: a few pools and services, some placed, some quotas. */
function randomInput(seed: number): PlacementInput {
  const rng = seededRandom(seed);
  const pools: PlacementPool[] = [];
  const nPools = 1 + rng.int(4);
  for (let i = 0; i < nPools; i++) pools.push({ name: `p${i}`, class: rng.chance(0.5) ? 'on-prem' : 'elastic', capacity: rng.int(12), gpusPerReplica: rng.chance(0.2) ? 0 : 1 + rng.int(2) });
  const teams = ['a', 'b', 'c'];
  const services: PlacementService[] = [];
  const used = new Map(pools.map((p) => [p.name, 0]));
  const nServices = 1 + rng.int(5);
  for (let i = 0; i < nServices; i++) {
    const placed: Record<string, number> = {};
    for (const p of pools) {
      const n = rng.int(Math.max(1, p.capacity - used.get(p.name)! + 1));
      if (n > 0) {
        placed[p.name] = n;
        used.set(p.name, used.get(p.name)! + n);
      }
    }
    services.push({ name: `s${i}`, team: teams[rng.int(3)]!, priority: rng.int(3), wanted: rng.int(16), sloAtRisk: rng.chance(0.5), placed });
  }
  const quotas: TeamQuota[] = [];
  if (rng.chance(0.6)) quotas.push({ team: teams[rng.int(3)]!, maxReplicas: rng.int(10) });
  if (rng.chance(0.4)) quotas.push({ team: teams[rng.int(3)]!, maxGpus: rng.int(12), poolClass: rng.chance(0.5) ? 'elastic' : 'on-prem' });
  return { pools, services, quotas };
}

test('every decision keeps the invariants, and deciding again on its placement changes nothing', () => {
  for (let seed = 1; seed <= 400; seed++) {
    const input = randomInput(seed);
    const d = decidePlacement(input);
    const where = `seed ${seed}: ${JSON.stringify(input)} → ${JSON.stringify(d)}`;
    for (const pool of input.pools) assert.ok(d.pools[pool.name]! <= pool.capacity, `pool ${pool.name} over capacity, ${where}`);
    for (const quota of input.quotas ?? []) {
      let replicas = 0;
      let gpus = 0;
      d.services.forEach((p, i) => {
        if (input.services[i]!.team !== quota.team) return;
        for (const pool of input.pools) {
          if (quota.poolClass !== undefined && pool.class !== quota.poolClass) continue;
          replicas += p.target[pool.name]!;
          gpus += p.target[pool.name]! * pool.gpusPerReplica;
        }
      });
      if (quota.maxReplicas !== undefined) assert.ok(replicas <= quota.maxReplicas, `quota ${JSON.stringify(quota)} exceeded, ${where}`);
      if (quota.maxGpus !== undefined) assert.ok(gpus <= quota.maxGpus + 1e-9, `GPU quota ${JSON.stringify(quota)} exceeded, ${where}`);
    }
    d.services.forEach((p, i) => {
      const s = input.services[i]!;
      const total = Object.values(p.target).reduce((a, b) => a + b, 0);
      assert.equal(total + (p.pending?.count ?? 0), s.wanted, `wanted = placed + pending, ${where}`);
      for (const pool of input.pools) {
        const delta = p.target[pool.name]! - (s.placed[pool.name] ?? 0);
        assert.equal(delta, (p.start[pool.name] ?? 0) - (p.retire[pool.name] ?? 0), `start/retire match the target, ${where}`);
        if (pool.class === 'elastic' && !s.sloAtRisk) assert.ok(delta <= 0, `an elastic replica started without SLO risk, ${where}`);
      }
    });
    // Applied, then decided again: nothing to do.
    const again = decidePlacement({ ...input, services: input.services.map((s, i) => ({ ...s, placed: d.services[i]!.target })) });
    again.services.forEach((p, i) => {
      assert.deepEqual(p.target, d.services[i]!.target, `stable, ${where}`);
      assert.deepEqual([p.start, p.retire, p.moves], [{}, {}, []], `no changes once applied, ${where}`);
    });
  }
});

test('bad input gets an error that names the field', () => {
  const cases: Array<[PlacementInput, RegExp]> = [
    [{ pools: [], services: [] }, /placement input: pools: needs at least one pool/],
    [{ pools: [ONPREM, { ...CLOUD, name: 'onprem' }], services: [] }, /pools\[1\]\.name: "onprem" names two pools/],
    [{ pools: [{ ...ONPREM, capacity: 2.5 }], services: [] }, /pools\[0\]\.capacity: must be a whole number ≥ 0 \(got 2\.5\)/],
    [{ pools: [{ ...ONPREM, class: 'cloud' as 'elastic' }], services: [] }, /pools\[0\]\.class: must be on-prem or elastic \(got "cloud"\)/],
    [{ pools: [ONPREM], services: [svc('a', { wanted: -1 })] }, /services\[0\]\.wanted: must be a whole number ≥ 0 \(got -1\)/],
    [{ pools: [ONPREM], services: [svc('a'), svc('a')] }, /services\[1\]\.name: "a" names two services/],
    [{ pools: [ONPREM], services: [svc('a', { placed: { gpu: 1 } })] }, /services\[0\]\.placed\.gpu: no pool named "gpu" \(pools: onprem\)/],
    [{ pools: [ONPREM], services: [], quotas: [{ team: 'x' }] }, /quotas\[0\]: needs maxReplicas, maxGpus or both/],
    [{ pools: [ONPREM], services: [], quotas: [{ team: 'x', maxGpus: -2 }] }, /quotas\[0\]\.maxGpus: must be a number ≥ 0/],
  ];
  for (const [input, pattern] of cases) {
    assert.throws(() => decidePlacement(input), (err: unknown) => err instanceof PlacementInputError && pattern.test(err.message) && err.code === 'INVALID_PLACEMENT_INPUT', String(pattern));
  }
});
