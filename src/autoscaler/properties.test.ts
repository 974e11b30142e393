import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DeciderState, PodSignal, ScalingInput, ScalingPolicyName, Signals, WindowSignals } from './types.ts';
import { deciderFor } from './index.ts';
import { baseSpec, directionChanges, runPlant, seeded } from './test-support.ts';

const POLICIES: ScalingPolicyName[] = ['gascl', 'hpa-cpu', 'hpa-service', 'keda-queue'];
const HALF_HOUR = 1800;

function changesAfter(counts: readonly number[], from: number): number {
  let n = 0;
  for (let i = Math.max(1, from); i < counts.length; i++) if (counts[i] !== counts[i - 1]) n++;
  return n;
}

test('under constant load every policy converges and stops changing', () => {
  for (const policy of POLICIES) {
    for (let seed = 1; seed <= 8; seed++) {
      const random = seeded(seed * 7919);
      const rps = 200 + random() * 1800;
      const initialReplicas = 1 + Math.floor(random() * 4);
      const spec = baseSpec({ policy, slo: { latencyP95Ms: 500, coldStartMs: 10_000 } });
      const steps = runPlant(deciderFor(policy), spec, { arrivalRps: () => rps, replicaRps: 250, serviceMs: 40, coldStartMs: 10_000, noise: 0.03, seed, initialReplicas }, HALF_HOUR);
      const counts = steps.map((s) => s.current);
      const what = `${policy}, seed ${seed}, ${Math.round(rps)} req/s from ${initialReplicas}: ${counts.filter((c, i) => i === 0 || c !== counts[i - 1]).join('→')}`;
      // Up to the load (maybe past it while a backlog drains), then down once: no more turns than that.
      assert.ok(directionChanges(counts) <= 2, `oscillates: ${what}`);
      assert.ok(changesAfter(counts, HALF_HOUR / 2) <= 1, `still moving in the second quarter hour: ${what}`);
      assert.ok(counts.at(-1)! * 250 > rps, `settled below the load: ${what}`);
    }
  }
});

test('GASCL settles with noisy load and p95 near its headroom (it may probe once, not cycle)', () => {
  for (let seed = 1; seed <= 8; seed++) {
    const random = seeded(seed * 104_729);
    const rps = 200 + random() * 1800;
    const spec = baseSpec({ slo: { latencyP95Ms: 250, coldStartMs: 2_000 } });
    const steps = runPlant(deciderFor('gascl'), spec, { arrivalRps: () => rps, replicaRps: 250, serviceMs: 40, coldStartMs: 2_000, noise: 0.1, seed, initialReplicas: 2 }, HALF_HOUR);
    const counts = steps.map((s) => s.current);
    const what = `seed ${seed}, ${Math.round(rps)} req/s: ${counts.filter((c, i) => i === 0 || c !== counts[i - 1]).join('→')}`;
    assert.ok(directionChanges(counts) <= 4, `oscillates: ${what}`);
    assert.ok(changesAfter(counts, HALF_HOUR / 2) <= 2, `cycles: ${what}`);
  }
});

function maybe<T>(random: () => number, value: T, p = 0.8): T | undefined {
  return random() < p ? value : undefined;
}

function randomWindow(random: () => number, windowSeconds: number): WindowSignals {
  const w: WindowSignals = { windowSeconds };
  const set = <K extends keyof WindowSignals>(key: K, value: WindowSignals[K] | undefined) => {
    if (value !== undefined) w[key] = value;
  };
  set('requestRate', maybe(random, random() * 3000));
  set('concurrency', maybe(random, random() * 400));
  set('queueDepth', maybe(random, random() < 0.3 ? 0 : random() * 2000));
  set('p50Ms', maybe(random, random() * 500));
  set('p95Ms', maybe(random, random() * 3000));
  set('errorRate', maybe(random, random()));
  set('cpuUtilization', maybe(random, random() * 2));
  set('queueGrowthPerSec', maybe(random, (random() - 0.5) * 400));
  return w;
}

function randomSignals(random: () => number, now: number): Signals {
  const current = Math.floor(random() * 45);
  const ready = Math.floor(random() * (current + 1));
  const signals: Signals = { stable: randomWindow(random, 60), panic: randomWindow(random, 6), readyReplicas: ready, currentReplicas: current };
  if (random() < 0.5) {
    signals.pods = Array.from({ length: current }, (_, i): PodSignal => {
      const pod: PodSignal = { name: `p${i}`, ready: i < ready, startedAt: now - random() * 900_000 };
      if (random() < 0.8) pod.cpuUtilization = random() * 2;
      if (random() < 0.1) pod.pending = true;
      if (random() < 0.5) pod.readyChangedAt = pod.startedAt + random() * 60_000;
      return pod;
    });
  }
  if (random() < 0.5) signals.coldStartMs = random() * 20_000;
  if (random() < 0.3) signals.replicaCapacityRps = 1 + random() * 500;
  if (random() < 0.7) signals.lastRequestAt = now - random() * 900_000;
  return signals;
}

test('min and max replicas (and maxNodes) hold for any signals, in any order', () => {
  for (const policy of POLICIES) {
    const random = seeded(policy.length * 31 + 5);
    for (let run = 0; run < 20; run++) {
      const minReplicas = Math.floor(random() * 4);
      const spec: ScalingInput = baseSpec({
        policy,
        minReplicas,
        maxReplicas: Math.max(1, minReplicas) + Math.floor(random() * 25),
        targetConcurrency: 1 + random() * 20,
        scaleToZeroAfterMs: random() * 600_000,
        stabilization: { upSeconds: random() < 0.3 ? random() * 60 : 0, downSeconds: random() * 600 },
        slo: { latencyP95Ms: 20 + random() * 1000, coldStartMs: 100 + random() * 20_000 },
        targetCpuUtilization: 0.2 + random(),
      });
      if (random() < 0.5) spec.capacity = { replicasPerNode: 1 + Math.floor(random() * 8), currentNodes: Math.floor(random() * 6), maxNodes: 1 + Math.floor(random() * 10) };
      let state: DeciderState | undefined;
      let now = 1_700_000_000_000;
      for (let i = 0; i < 100; i++) {
        now += random() * 40_000;
        const signals = randomSignals(random, now);
        const d = deciderFor(policy)(signals, spec, state, now);
        state = JSON.parse(JSON.stringify(d.next)) as DeciderState;
        const r = d.result;
        if (!r.valid) continue;
        const where = `${policy} run ${run} step ${i}: ${r.message}`;
        assert.ok(Number.isInteger(r.desiredReplicas), where);
        assert.ok(r.desiredReplicas >= spec.minReplicas && r.desiredReplicas <= spec.maxReplicas, `out of [${spec.minReplicas}, ${spec.maxReplicas}]: ${where}`);
        if (r.desiredNodes !== undefined) assert.ok(r.desiredNodes <= spec.capacity!.maxNodes && Number.isInteger(r.desiredNodes), where);
        assert.match(r.message, /^\d+→\d+: \S/, where);
      }
    }
  }
});
