import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simulate } from './cluster.ts';
import type { MinuteResult } from './metrics.ts';
import { beyondBoundsLine, nearOracle, neverBehind, pointOf, scenarioTargets, type RunPoint } from './targets.ts';
import { ScriptedController, smallScenario } from './test-support.ts';

const p = (name: string, sloMinutes: number, gpuNodeHours: number, minutes = 60): RunPoint => ({ name, sloMinutes, minutes, gpuNodeHours });

test('a run point over a range of minutes: minutes within the SLO (a minute without traffic counts) and the node-hours billed in them', () => {
  const minutes: MinuteResult[] = [
    { requests: 10, failures: 0, p95Ms: 100, gpuNodeHours: 0.5 },
    { requests: 10, failures: 1, p95Ms: Infinity, gpuNodeHours: 1 },
    { requests: 0, failures: 0, p95Ms: NaN, gpuNodeHours: 0.25 },
    { requests: 10, failures: 0, p95Ms: 300, gpuNodeHours: 2 },
  ];
  assert.deepEqual(pointOf('x', minutes, 250), { name: 'x', sloMinutes: 2, minutes: 4, gpuNodeHours: 3.75 });
  assert.deepEqual(pointOf('x', minutes, 250, 2), { name: 'x', sloMinutes: 1, minutes: 2, gpuNodeHours: 2.25 });
  assert.deepEqual(pointOf('x', minutes, 300, 1, 4), { name: 'x', sloMinutes: 2, minutes: 3, gpuNodeHours: 3.25 });
});

test("a run's per-minute GPU node-hours add up to its total and follow the nodes it held", () => {
  const sc = smallScenario({
    duration: '4m',
    pools: [{ name: 'cloud', accelerator: 'gpu', replicasPerNode: 2, costPerHour: 1, minNodes: 0, maxNodes: 4, provisioningDelay: '10s' }],
    scaling: { minReplicas: 0, maxReplicas: 8, initialReplicas: 2 },
  });
  // One node from the start; three from 90 s; one again from 150 s.
  const run = simulate(sc, new ScriptedController([
    { atSec: 1, action: { desiredReplicas: 2, desiredNodes: 1 } },
    { atSec: 90, action: { desiredReplicas: 6, desiredNodes: 3 } },
    { atSec: 150, action: { desiredReplicas: 2, desiredNodes: 1 } },
  ]), { initialReplicas: 2 });
  const perMinute = run.minutes.map((m) => m.gpuNodeHours * 3600);
  assert.equal(run.minutes.length, 4);
  const total = run.minutes.reduce((n, m) => n + m.gpuNodeHours, 0);
  assert.ok(Math.abs(total - run.gpuNodeHours) < 1e-9, `${total} against ${run.gpuNodeHours}`);
  assert.ok(Math.abs(perMinute[0]! - 60) < 1e-6, `minute 0: ${perMinute[0]} node-seconds`);
  assert.ok(perMinute[1]! > 60 + 2 * 25, `minute 1 holds two more nodes for its last 30 s: ${perMinute[1]} node-seconds`);
  assert.ok(perMinute[2]! > perMinute[3]!, 'the extra nodes go in minute 2');
  assert.ok(Math.abs(perMinute[3]! - 60) < 1e-6, `minute 3: ${perMinute[3]} node-seconds`);
});

test('never behind holds when GASCL keeps the most minutes for no more than 1.05× the cheapest as good', () => {
  const natives = [p('hpa-cpu', 50, 4), p('hpa-service', 57, 10), p('keda-queue', 40, 12)];
  const t = neverBehind(p('gascl', 57, 10.4), natives, [p('reactive bound', 45, 3), p('standing bound', 60, 12)]);
  assert.equal(t.holds, true, t.reasons.join('; '));
  assert.deepEqual(t.reasons, []);
  assert.deepEqual(t.bestNative, { name: 'hpa-service', sloMinutes: 57 });
  assert.deepEqual(t.cheapestAsGood, { name: 'hpa-service', sloMinutes: 57, gpuNodeHours: 10, gasclOverIt: 1.04 });
  assert.deepEqual(t.compared, ['hpa-cpu', 'hpa-service', 'keda-queue', 'reactive bound', 'standing bound']);
  assert.deepEqual(t.dominatedBy, []);
});

test('never behind fails on fewer minutes than the best of A–C, and says by how many', () => {
  const t = neverBehind(p('gascl', 55, 6), [p('hpa-cpu', 50, 4), p('hpa-service', 57, 20)]);
  assert.equal(t.holds, false);
  assert.equal(t.reasons.length, 1);
  assert.match(t.reasons[0]!, /keeps 55 of 60 minutes within the SLO, 2 minutes fewer than hpa-service \(57\)/);
});

test('never behind fails above 1.05× the node-hours of the cheapest of A–C that keeps as many minutes', () => {
  const natives = [p('hpa-cpu', 58, 10), p('hpa-service', 59, 8), p('keda-queue', 20, 1)];
  const over = neverBehind(p('gascl', 59, 8.5), natives);
  assert.equal(over.holds, false);
  assert.equal(over.cheapestAsGood?.name, 'hpa-service', 'hpa-cpu is dearer, keda-queue keeps fewer minutes');
  assert.match(over.reasons.join('\n'), /spends 8\.50 GPU node-hours, 1\.06× those of hpa-service \(8\.00\)/);
  assert.equal(neverBehind(p('gascl', 59, 8.4), natives).holds, true, '1.05× exactly is allowed');
  // No native keeps as many minutes: the cost part holds whatever GASCL spends, unless one dominates it.
  const alone = neverBehind(p('gascl', 60, 30), natives);
  assert.equal(alone.holds, true, alone.reasons.join('; '));
  assert.equal(alone.cheapestAsGood, undefined);
});

test('never behind fails when a treatment or a bound keeps strictly more minutes for strictly fewer node-hours', () => {
  const t = neverBehind(p('gascl', 50, 6), [p('hpa-cpu', 40, 3)], [p('reactive bound', 52, 5), p('standing bound', 60, 6)]);
  assert.equal(t.holds, false);
  assert.deepEqual(t.dominatedBy, [{ by: 'reactive bound', sloMinutesMore: 2, gpuNodeHoursFewer: 1 }]);
  assert.match(t.reasons.join('\n'), /dominated by reactive bound: 2 more minutes within the SLO for 1\.00 fewer GPU node-hours/);
  // As many minutes for less, or more minutes for the same, does not dominate.
  assert.equal(neverBehind(p('gascl', 50, 6), [], [p('reactive bound', 50, 2), p('standing bound', 60, 6)]).holds, true);
});

test('near the oracle: ≥ 99% of minutes at ≤ 1.15× its node-hours, each half failing on its own', () => {
  const oracle = p('oracle', 100, 10, 100);
  const ok = nearOracle(p('gascl', 99, 11.5, 100), oracle, 60);
  assert.equal(ok.holds, true, ok.reasons.join('; '));
  assert.deepEqual([ok.fromMinute, ok.minutes, ok.sloMinutesPct, ok.nodeHoursVsOracle], [60, 100, 99, 1.15]);
  assert.deepEqual(ok.target, { sloMinutesPct: 99, nodeHoursVsOracle: 1.15 });
  const missed = nearOracle(p('gascl', 98, 10, 100), oracle, 60);
  assert.equal(missed.holds, false);
  assert.match(missed.reasons.join('\n'), /98\.0% of minutes within the SLO from minute 60 on, below 99%/);
  const dear = nearOracle(p('gascl', 100, 11.6, 100), oracle, 60);
  assert.equal(dear.holds, false);
  assert.match(dear.reasons.join('\n'), /1\.16× the oracle's GPU node-hours from minute 60 on, above 1\.15×/);
});

test('beyond the bounds line: above or on the line through reactive and standing holds, below does not', () => {
  // Reactive 50% at 4, standing 100% at 8: the line gives 75% at 6.
  const reactive = p('reactive bound', 30, 4);
  const standing = p('standing bound', 60, 8);
  const above = beyondBoundsLine(p('gascl', 48, 6), reactive, standing);
  assert.equal(above.holds, true);
  assert.deepEqual([above.lineSloMinutesPct, above.marginPct], [75, 5]);
  assert.equal(beyondBoundsLine(p('gascl', 45, 6), reactive, standing).holds, true, 'on the line');
  const below = beyondBoundsLine(p('gascl', 42, 6), reactive, standing);
  assert.equal(below.holds, false);
  assert.equal(below.marginPct, -5);
  assert.match(below.reasons[0]!, /70\.0% of minutes within the SLO at 6\.00 GPU node-hours, 5\.0 points below the line between the bounds/);
  // The line extends past the bounds: beyond the standing bound's cost it asks for more than 100%.
  assert.equal(beyondBoundsLine(p('gascl', 60, 9), reactive, standing).holds, false);
  assert.equal(beyondBoundsLine(p('gascl', 24, 3), reactive, standing).holds, true, 'cheaper than reacting, above the line extended');
  // The bounds' order does not matter.
  assert.equal(beyondBoundsLine(p('gascl', 42, 6), standing, reactive).holds, false);
});

test('beyond the bounds line when the line is vertical or a point', () => {
  const vertical = [p('reactive bound', 30, 5), p('standing bound', 60, 5)] as const;
  assert.equal(beyondBoundsLine(p('gascl', 10, 4), ...vertical).holds, true, 'left of a vertical line');
  assert.equal(beyondBoundsLine(p('gascl', 60, 6), ...vertical).holds, false);
  const point = [p('reactive bound', 60, 5), p('standing bound', 60, 5)] as const;
  assert.equal(beyondBoundsLine(p('gascl', 60, 5), ...point).holds, true);
  assert.equal(beyondBoundsLine(p('gascl', 59, 4), ...point).holds, false);
  assert.equal(beyondBoundsLine(p('gascl', 60, 5.5), ...point).holds, false);
});

test("a scenario's targets: near the oracle only with a seasonal period, the bounds line only with both bounds", () => {
  const gascl = p('gascl', 58, 6);
  const bare = scenarioTargets({ gascl, natives: [p('hpa-cpu', 50, 5)] });
  assert.deepEqual(Object.keys(bare), ['neverBehind']);
  const all = scenarioTargets({
    gascl,
    natives: [p('hpa-cpu', 50, 5)],
    reactive: p('reactive bound', 55, 4),
    standing: p('standing bound', 60, 8),
    seasonal: { fromMinute: 30, gascl: p('gascl', 30, 3, 30), oracle: p('oracle', 30, 2.8, 30) },
  });
  assert.deepEqual(Object.keys(all), ['neverBehind', 'nearOracle', 'beyondBoundsLine']);
  assert.equal(all.nearOracle?.holds, true);
  assert.deepEqual(all.neverBehind.compared, ['hpa-cpu', 'reactive bound', 'standing bound']);
});
