/**
 * The case study's comparison on the built-in hybrid scenario (seed 1): the same teams, traffic
 * and GASCL deciders under in-order and on-prem-first placement. The simulation is deterministic,
 * so these are the directions of the differences for this seed, not timings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GASCL_LATENCY_HEADROOM } from '../autoscaler/gascl.ts';
import { SLO_RISK_LATENCY_HEADROOM } from '../placement/slo-risk.ts';
import { evaluateScenario, prepareScenario, runTask, type ScenarioOutcome } from './evaluate.ts';
import { scenarioReport, summarizePlacement, type PlacementSummary } from './report.ts';
import { builtInScenario } from './scenarios.ts';

/** On-prem-first may lose at most this share of the service-minutes within the SLO. */
const SLO_MINUTES_MARGIN = 0.02;

let outcome: ScenarioOutcome | undefined;
const run = (): ScenarioOutcome => (outcome ??= evaluateScenario(builtInScenario('hybrid'), { policies: ['gascl'], oracle: false }));
const row = (placement: string): PlacementSummary => {
  const r = scenarioReport(run()).placement?.find((p) => p.policy === 'gascl' && p.placement === placement);
  assert.ok(r, `gascl ran under ${placement}`);
  return r;
};

test('placement reads latency risk with GASCL\'s own headroom', () => {
  assert.equal(SLO_RISK_LATENCY_HEADROOM, GASCL_LATENCY_HEADROOM);
});

test('the hybrid scenario runs the same for the same seed', () => {
  const { scenario, initialReplicas } = prepareScenario(builtInScenario('hybrid'));
  const again = runTask(scenario, initialReplicas, { policy: 'gascl', placement: 'on-prem-first' }).run;
  const first = run().runs.find((r) => r.placement === 'on-prem-first')!;
  assert.deepEqual(summarizePlacement(again, 250), summarizePlacement(first, 250));
  assert.deepEqual(again.series, first.series);
  assert.equal(again.arrivals, first.arrivals);
});

test('on-prem-first keeps on-prem busier and buys fewer cloud node-hours, for less, than in-order', () => {
  const inOrder = row('in-order');
  const first = row('on-prem-first');
  assert.ok(first.onPremUtilizationPct > inOrder.onPremUtilizationPct, `on-prem utilization ${inOrder.onPremUtilizationPct}% → ${first.onPremUtilizationPct}%`);
  assert.ok(first.cloudNodeHours < inOrder.cloudNodeHours, `cloud node-hours ${inOrder.cloudNodeHours} → ${first.cloudNodeHours}`);
  assert.ok(first.costUsd < inOrder.costUsd, `cost $${inOrder.costUsd} → $${first.costUsd}`);
  assert.ok(first.moves > 0, 'elastic replicas came back on-prem');
  assert.equal(inOrder.moves, 0);
});

test('on-prem-first loses SLO minutes only within the margin, and only the lowest priority loses any', () => {
  const inOrder = row('in-order');
  const first = row('on-prem-first');
  const margin = Math.floor(SLO_MINUTES_MARGIN * inOrder.serviceMinutes);
  assert.ok(first.sloMinutes >= inOrder.sloMinutes - margin, `SLO minutes ${inOrder.sloMinutes} → ${first.sloMinutes} of ${first.serviceMinutes} (margin ${margin})`);
  const lowest = Math.min(...first.services.map((s) => s.priority));
  first.services.forEach((s, i) => {
    if (s.priority === lowest) return;
    assert.ok(s.sloMinutes >= inOrder.services[i]!.sloMinutes, `${s.name} (priority ${s.priority}): ${inOrder.services[i]!.sloMinutes} → ${s.sloMinutes} SLO minutes`);
  });
});

test("the research team's cloud quota holds its bursts back (reason quota); nobody else waits for quota", () => {
  const first = row('on-prem-first');
  for (const s of first.services) {
    if (s.team === 'research') assert.ok(s.pendingReplicaMinutes.quota > 0, `${s.name} waited ${s.pendingReplicaMinutes.quota} replica-minutes for quota`);
    else assert.equal(s.pendingReplicaMinutes.quota, 0, s.name);
  }
});

test('without the quota, placement alone still keeps on-prem busier and buys fewer cloud node-hours', () => {
  const sc = { ...builtInScenario('hybrid'), quotas: [], placements: ['on-prem-first' as const] };
  const alone = scenarioReport(evaluateScenario(sc, { policies: ['gascl'], oracle: false })).placement![0]!;
  const inOrder = row('in-order');
  assert.ok(alone.onPremUtilizationPct > inOrder.onPremUtilizationPct, `on-prem utilization ${inOrder.onPremUtilizationPct}% → ${alone.onPremUtilizationPct}%`);
  assert.ok(alone.cloudNodeHours < inOrder.cloudNodeHours, `cloud node-hours ${inOrder.cloudNodeHours} → ${alone.cloudNodeHours}`);
  assert.ok(alone.cloudNodeHours > row('on-prem-first').cloudNodeHours, 'the quota accounts for the rest of the saving');
  assert.equal(alone.pendingReplicaMinutes.quota, 0);
});
