import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSimulateCommand } from './cli.ts';
import type { SimulationReport } from './report.ts';
import { builtInScenario, loadScenarioFile } from './scenarios.ts';

const SCENARIO = `
name: mini-burst
description: a small burst on a fixed and an elastic pool
duration: 8m
slo: { latencyP95Ms: 250, coldStartMs: 8000 }
pools:
  - { name: onprem, replicasPerNode: 2, costPerHour: 4, minNodes: 1, maxNodes: 1 }
  - { name: cloud, replicasPerNode: 2, costPerHour: 8, maxNodes: 6, provisioningDelay: { mean: 30s, jitter: 5s } }
service:
  serviceTime: { meanMs: 40, p95Ms: 90 }
  concurrency: 2
  coldStart: { imagePull: 5s, modelLoad: { mean: 3s, jitter: 1s } }
scaling: { minReplicas: 1, maxReplicas: 12, targetConcurrency: 1.5 }
traffic:
  shape: { kind: bursts, baseRps: 40, factor: 3, duration: 40s, at: [2m, 5m] }
---
name: mini-step
duration: 5m
pools:
  - { name: cloud, replicasPerNode: 2, costPerHour: 8, maxNodes: 6, initialNodes: 1, provisioningDelay: 20s }
service:
  serviceTime: { meanMs: 40, p95Ms: 90 }
  concurrency: 2
traffic:
  shape: { kind: steps, steps: [{ at: 0s, rps: 20 }, { at: 1m, rps: 80 }] }
`;

interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

async function simulateCli(args: string[]): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const code = await runSimulateCommand(args, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
  });
  return { code, stdout, stderr };
}

/** `scenarios` written to a scenario file in a scratch folder, removed once `fn` is done. */
function withScenarioFile(fn: (file: string, dir: string) => Promise<void>, scenarios = SCENARIO): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'karb-simulate-'));
  const file = join(dir, 'scenarios.yaml');
  writeFileSync(file, scenarios);
  return fn(file, dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

test('same seed, same JSON report, byte for byte (in this thread or on workers); another seed, another report', () =>
  withScenarioFile(async (file) => {
    const a = await simulateCli(['--scenario', file, '--json', '--seed', '7', '--jobs', '1']);
    const b = await simulateCli(['--scenario', file, '--json', '--seed', '7', '--jobs', '3']);
    const c = await simulateCli(['--scenario', file, '--json', '--seed', '8', '--jobs', '1']);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(a.stdout, b.stdout);
    assert.notEqual(a.stdout, c.stdout);

    const report = JSON.parse(a.stdout) as SimulationReport;
    assert.deepEqual(report.scenarios.map((s) => s.name), ['mini-burst', 'mini-step']);
    const burst = report.scenarios[0]!;
    assert.equal(burst.sloP95Ms, 250);
    assert.equal(burst.seed, 7);
    assert.deepEqual(burst.treatments.map((t) => t.policy), ['hpa-cpu', 'hpa-service', 'keda-queue', 'gascl', 'oracle']);
    for (const t of burst.treatments) {
      for (const key of ['p50Ms', 'p95Ms', 'sloMinutesPct', 'rejectRate', 'gpuNodeHours', 'coldStarts', 'scaleEvents', 'oscillations'] as const) {
        assert.equal(typeof t[key], 'number', `${t.policy}.${key}`);
      }
      assert.ok(t.sloMinutesPct >= 0 && t.sloMinutesPct <= 100);
      assert.equal(t.minutes, 8);
    }
    // GASCL's targets, for scripts: never behind A–C and the bounds, and against the line between the bounds; no period declared, so no near-oracle target.
    const targets = burst.targets;
    assert.ok(targets, 'the GASCL targets are in the report');
    assert.equal(typeof targets.neverBehind.holds, 'boolean');
    assert.deepEqual(targets.neverBehind.compared, ['hpa-cpu', 'hpa-service', 'keda-queue', 'reactive bound', 'standing bound']);
    assert.equal(targets.neverBehind.holds, targets.neverBehind.reasons.length === 0);
    const gascl = burst.treatments.find((t) => t.policy === 'gascl')!;
    assert.equal(targets.neverBehind.minutes - targets.neverBehind.sloMinutes, gascl.minutesOverSlo);
    assert.ok(Math.abs(targets.neverBehind.gpuNodeHours - gascl.gpuNodeHours) < 0.002, 'node-hours summed by minute are the run’s');
    assert.equal(targets.nearOracle, undefined);
    const line = targets.beyondBoundsLine;
    assert.ok(line);
    assert.equal(line.holds, line.marginPct! >= 0);
    assert.equal(line.gascl.sloMinutesPct, gascl.sloMinutesPct);
    assert.equal(line.reactive.sloMinutesPct, burst.reactiveBound!.sloMinutesPct);
    assert.equal(line.standing.sloMinutesPct, burst.standingBound!.sloMinutesPct);
  }));

const SEASONAL = `
name: mini-days
description: three 4-minute days, the period declared
duration: 12m
slo: { latencyP95Ms: 400, coldStartMs: 8000 }
pools:
  - { name: onprem, replicasPerNode: 2, costPerHour: 4, minNodes: 1, maxNodes: 1 }
  - { name: cloud, replicasPerNode: 2, costPerHour: 8, maxNodes: 6, provisioningDelay: 20s }
service:
  serviceTime: { meanMs: 40, p95Ms: 90 }
  concurrency: 2
  coldStart: { modelLoad: 3s }
scaling: { minReplicas: 1, maxReplicas: 12, targetConcurrency: 1.5, seasonality: { period: 4m } }
traffic:
  shape: { kind: diurnal, minRps: 5, maxRps: 60, period: 4m, variation: { peak: 0.1, shift: 10s } }
`;

test('--json: a scenario that declares its period gets the near-oracle target, counted from the second period on', () =>
  withScenarioFile(async (file) => {
    const r = await simulateCli(['--scenario', file, '--json', '--policies', 'hpa-service,gascl,oracle', '--jobs', '1']);
    assert.equal(r.code, 0, r.stderr);
    const s = (JSON.parse(r.stdout) as SimulationReport).scenarios[0]!;
    const near = s.targets?.nearOracle;
    assert.ok(near, 'near-oracle target reported');
    assert.equal(near.fromMinute, 4);
    assert.equal(near.minutes, 8);
    assert.deepEqual(near.target, { sloMinutesPct: 99, nodeHoursVsOracle: 1.15 });
    assert.equal(near.holds, near.sloMinutesPct >= 99 && near.nodeHoursVsOracle <= 1.15);
    assert.equal(near.holds, near.reasons.length === 0);
    assert.deepEqual(s.targets?.neverBehind.compared, ['hpa-service', 'reactive bound', 'standing bound']);

    const md = await simulateCli(['--scenario', file, '--policies', 'hpa-service,gascl,oracle', '--jobs', '1']);
    assert.match(md.stdout, /GASCL target 2, near the oracle .*minute 4: .*\): [\d.]+% of 8 minutes, [\d.]+× — (holds|does not hold: .*)\./);
  }, SEASONAL));

test('markdown by default; --only, --policies and --plots', () =>
  withScenarioFile(async (file, dir) => {
    const plots = join(dir, 'plots');
    const r = await simulateCli(['--scenario', file, '--only', 'mini-step', '--policies', 'gascl,oracle', '--plots', plots, '--jobs', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^### mini-step — SLO p95 250 ms, 5 min/m);
    assert.match(r.stdout, /\| D gascl \|/);
    assert.match(r.stdout, /\| oracle \|/);
    assert.doesNotMatch(r.stdout, /hpa-cpu/);
    assert.match(r.stdout, /GASCL target 1, never behind .*compared with reactive bound, standing bound\): \d+ of 5 minutes at [\d.]+ GPU node-hours — (holds|does not hold: .*)\./);
    // Here the bounds are one point (the oracle's peak is its plan throughout), so the verdict says so instead of a margin.
    assert.match(r.stdout, /GASCL target 3, on or beyond the line between the bounds .*: GASCL [\d.]+% at [\d.]+(, [\d.]+ points (above|below) the line \([\d.-]+% there\))? — (holds|does not hold.*)\./);
    assert.doesNotMatch(r.stdout, /GASCL target 2/, 'no period declared');
    assert.match(r.stderr, /simulated mini-step: [\d,]+ requests/);
    assert.deepEqual(readdirSync(plots), ['mini-step.svg']);
    const svg = readFileSync(join(plots, 'mini-step.svg'), 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal((svg.match(/<polyline /g) ?? []).length, 2 * 3, 'latency, replicas and queue for each of the two runs');
    assert.match(svg, /SLO 250 ms/);
  }));

const SHARED = `
name: mini-hybrid
duration: 6m
slo: { latencyP95Ms: 250, coldStartMs: 8000 }
pools:
  - { name: onprem, class: on-prem, replicasPerNode: 2, costPerHour: 4, minNodes: 2, maxNodes: 2 }
  - { name: cloud, class: elastic, replicasPerNode: 2, costPerHour: 8, maxNodes: 6, provisioningDelay: 30s }
service:
  serviceTime: { meanMs: 40, p95Ms: 90 }
  concurrency: 2
  coldStart: { modelLoad: 3s }
scaling: { minReplicas: 1, maxReplicas: 8, targetConcurrency: 1.5 }
services:
  - { name: chat, team: product, priority: 10, traffic: { shape: { kind: bursts, baseRps: 30, factor: 3, duration: 60s, at: [2m] } } }
  - { name: batch, team: research, traffic: { shape: { kind: constant, rps: 20 } } }
placement: [in-order, on-prem-first]
quotas: [{ team: research, maxReplicas: 2, poolClass: elastic }]
`;

test('several services under two placements: on-prem utilization, cloud node-hours, cost and SLO minutes side by side, in JSON and markdown', () =>
  withScenarioFile(async (file) => {
    const json = await simulateCli(['--scenario', file, '--json', '--policies', 'gascl,hpa-service,oracle', '--jobs', '1']);
    assert.equal(json.code, 0, json.stderr);
    const s = (JSON.parse(json.stdout) as SimulationReport).scenarios[0]!;
    assert.ok(Array.isArray(s.initialReplicas) && s.initialReplicas.length === 2, 'one starting count per service');
    assert.deepEqual(s.treatments.map((t) => [t.policy, t.placement]), [
      ['hpa-service', 'in-order'],
      ['gascl', 'in-order'],
      ['hpa-service', 'on-prem-first'],
      ['gascl', 'on-prem-first'],
    ], 'no oracle: it plans one service');
    // No oracle, so no bounds: only never behind, against hpa-service under the first placement, in service-minutes.
    assert.deepEqual(Object.keys(s.targets ?? {}), ['neverBehind']);
    assert.deepEqual(s.targets?.neverBehind.compared, ['hpa-service']);
    assert.equal(s.targets?.neverBehind.minutes, 12);
    assert.equal(s.targets?.neverBehind.sloMinutes, s.placement?.find((p) => p.policy === 'gascl' && p.placement === 'in-order')?.sloMinutes);
    assert.deepEqual(s.placement?.map((p) => [p.policy, p.placement]), s.treatments.map((t) => [t.policy, t.placement]));
    for (const p of s.placement!) {
      for (const key of ['onPremUtilizationPct', 'cloudNodeHours', 'costUsd', 'sloMinutes', 'serviceMinutes', 'sloMinutesPct', 'moves'] as const) assert.equal(typeof p[key], 'number', `${p.policy} ${p.placement} ${key}`);
      assert.equal(p.serviceMinutes, 12, 'two services × 6 minutes');
      assert.ok(p.onPremUtilizationPct > 0 && p.onPremUtilizationPct <= 100);
      assert.deepEqual(p.services.map((v) => [v.name, v.team, v.priority]), [['chat', 'product', 10], ['batch', 'research', 0]]);
    }

    const md = await simulateCli(['--scenario', file, '--policies', 'gascl', '--jobs', '2']);
    assert.equal(md.code, 0, md.stderr);
    assert.match(md.stdout, /\| D gascl \(on-prem-first\) \|/);
    assert.match(md.stdout, /\| policy \| placement \| on-prem util % \| cloud node-h \| cost \$ \| SLO minutes \|/);
    assert.match(md.stdout, /\| D gascl \| on-prem-first \| [\d.]+ \| [\d.]+ \| \d+ \| \d+ of 12 \([\d.]+%\) \| \d+ \| \d+ \/ \d+ \/ \d+ \|/);
    assert.match(md.stdout, /- gascl, in-order: chat \(team product, priority 10\) \d+\/6; batch \(team research, priority 0\) \d+\/6/);
    assert.match(md.stderr, /gascl in-order [\d.]+s/);
    assert.match(md.stderr, /gascl on-prem-first [\d.]+s/);
  }, SHARED));

test('--print-scenario prints a built-in that loads back as the same scenario', async () => {
  for (const name of ['burst', 'hybrid', 'llm', 'multiday']) {
    const r = await simulateCli(['--print-scenario', name]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`^name: ${name}\ndescription: `));
    await withScenarioFile(async (_file, dir) => {
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, r.stdout);
      assert.deepEqual(loadScenarioFile(file), [builtInScenario(name)]);
    });
  }
});

test('usage errors exit 2, an unusable scenario file exits 1, both with one clear message', async () => {
  const help = await simulateCli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: karb simulate/);

  for (const [args, pattern] of [
    [['--bogus'], /Unknown option '--bogus'/],
    [['--policies', 'gascl,hpa-gpu'], /--policies: unknown policy "hpa-gpu"; choose from hpa-cpu, hpa-service, keda-queue, gascl, oracle/],
    [['--only', 'spike'], /--only: unknown scenario "spike"; the built-in ones are step, burst, diurnal/],
    [['--seed', '1.5'], /--seed must be a whole number/],
    [['--jobs', '0'], /--jobs must be a whole number from 1 to 64/],
    [['--print-scenario', 'spike'], /--print-scenario: unknown scenario "spike"/],
  ] as const) {
    const r = await simulateCli([...args]);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, pattern);
    assert.equal(r.stdout, '');
  }

  await withScenarioFile(async (_file, dir) => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'name: x\npools: []\nservice: { serviceTime: { meanMs: 1, p95Ms: 2 } }\ntraffic: { shape: { kind: constant, rps: 1 } }\n');
    const r = await simulateCli(['--scenario', bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad\.yaml: invalid scenario:\n {2}pools: needs at least one node pool\n {2}duration: is required with a traffic shape/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });
});

test('--html writes one self-contained page with each scenario table and plots, and no script', () =>
  withScenarioFile(async (file, dir) => {
    const out = join(dir, 'report.html');
    const r = await simulateCli(['--scenario', file, '--only', 'mini-step', '--seed', '3', '--jobs', '1', '--html', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /wrote .*report\.html/);
    const html = readFileSync(out, 'utf8');
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /<h2>mini-step<\/h2>/);
    assert.equal((html.match(/<tr class="/g) ?? []).length, 5, 'four treatments and the oracle');
    assert.match(html, /<td>D gascl<\/td>/);
    assert.equal((html.match(/<svg /g) ?? []).length, 1, 'the scenario plot, inline');
    assert.doesNotMatch(html, /<script|src=|href="http/i, 'nothing to run or fetch');
    // The markdown on stdout is the same report.
    assert.match(r.stdout, /### mini-step/);

    const bad = await simulateCli(['--scenario', file, '--only', 'mini-step', '--jobs', '1', '--html', join(dir, 'missing', 'report.html')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--html: cannot write .*name a file in a directory that exists/);
  }));
