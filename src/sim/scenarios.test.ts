import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simulate } from './cluster.ts';
import { BUILT_IN_NAMES, ScenarioError, builtInScenario, loadScenarioFile } from './scenarios.ts';
import { ScriptedController } from './test-support.ts';
import { laneSeed } from './services.ts';
import { arrivalsPerSecond } from './traffic.ts';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'karb-sim-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const BASE_YAML = `
name: replayed
slo: { latencyP95Ms: 300 }
pools:
  - { name: onprem, replicasPerNode: 2, costPerHour: 5, minNodes: 1, maxNodes: 1 }
scaling: { initialReplicas: 2 }
service:
  serviceTime: { meanMs: 20, p95Ms: 40 }
  concurrency: 1
`;

test('the built-in scenarios are the plan: step, burst and diurnal on an on-prem and a cloud GPU pool', () => {
  assert.deepEqual(BUILT_IN_NAMES, ['step', 'burst', 'diurnal', 'hybrid']);
  for (const name of ['step', 'burst', 'diurnal']) {
    const sc = builtInScenario(name);
    assert.equal(sc.name, name);
    assert.deepEqual(sc.pools.map((p) => [p.name, p.accelerator, p.minNodes === p.maxNodes]), [
      ['onprem-a100', 'gpu', true],
      ['cloud-a100', 'gpu', false],
    ]);
    assert.ok(sc.pools[1]!.provisioningDelay.meanMs > 0);
    assert.deepEqual(sc.decisionPeriodsMs, { gascl: 2000, 'hpa-cpu': 15_000, 'hpa-service': 15_000, 'keda-queue': 15_000 });
    assert.deepEqual(sc.windows, { stableMs: 60_000, panicMs: 6000 });
  }
  assert.equal(builtInScenario('burst', 9).seed, 9);
  assert.throws(() => builtInScenario('nope'), ScenarioError);
});

test('the built-in hybrid scenario: three teams of different priorities share a fixed on-prem pool and a pricier elastic one, under both placements', () => {
  const sc = builtInScenario('hybrid');
  assert.deepEqual(sc.pools.map((p) => [p.name, p.class, p.costPerHour]), [
    ['onprem-a100', 'on-prem', 12],
    ['cloud-a100', 'elastic', 16],
  ]);
  assert.ok(sc.pools[1]!.provisioningDelay.meanMs >= 60_000, 'cloud nodes take minutes');
  assert.deepEqual(sc.services?.map((s) => [s.name, s.team, s.priority]), [
    ['chat', 'product', 100],
    ['search', 'search', 50],
    ['embeddings', 'research', 10],
  ]);
  assert.deepEqual(sc.placements, ['in-order', 'on-prem-first']);
  assert.deepEqual(sc.quotas, [{ team: 'research', maxGpus: 8, poolClass: 'elastic' }]);
  // The two diurnal services peak 40 minutes apart.
  const peakMinute = (i: number) => {
    const perSecond = arrivalsPerSecond(sc.services![i]!.traffic, sc.durationMs, laneSeed(sc.seed, i));
    let best = 0;
    for (let m = 1; m < 120; m++) if (perSecond.slice(m * 60, m * 60 + 60).reduce((a, b) => a + b, 0) > perSecond.slice(best * 60, best * 60 + 60).reduce((a, b) => a + b, 0)) best = m;
    return best;
  };
  assert.ok(Math.abs(peakMinute(0) - 60) <= 3, `chat peaks at minute ${peakMinute(0)}`);
  assert.ok(Math.abs(peakMinute(1) - 100) <= 3, `search peaks at minute ${peakMinute(1)}`);
});

test('several services, placement and quotas: mistakes get their paths', () => {
  withDir((dir) => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      `${BASE_YAML}duration: 5m
traffic: { shape: { kind: constant, rps: 1 } }
services:
  - { name: a, traffic: { shape: { kind: constant, rps: 1 } } }
  - { name: a, priority: -1, traffic: { shape: { kind: constant, rps: 1 } } }
placement: [on-prem-first, on-prem-first]
quotas:
  - { team: nobody, maxReplicas: 2 }
  - { team: a }
`,
    );
    let message = '';
    try {
      loadScenarioFile(file);
    } catch (err) {
      message = (err as Error).message;
    }
    for (const expected of [
      'traffic: needs exactly one of traffic (one service) or services (several sharing the pools)',
      'services[1].priority: Too small',
      'quotas[1]: needs maxReplicas, maxGpus or both',
    ]) {
      assert.ok(message.includes(expected), `missing "${expected}" in:\n${message}`);
    }
    writeFileSync(
      file,
      `${BASE_YAML}duration: 5m
services:
  - { name: a, traffic: { shape: { kind: constant, rps: 1 } } }
  - { name: a, team: lab, traffic: { shape: { kind: constant, rps: 1 } } }
placement: [on-prem-first, on-prem-first]
quotas:
  - { team: nobody, maxReplicas: 2 }
`,
    );
    assert.throws(() => loadScenarioFile(file), (err: Error) => {
      for (const expected of ['services[1].name: "a" names two services', 'placement: names a placement policy twice', 'quotas[0].team: no service of team "nobody" (teams: a, lab)']) {
        assert.ok(err.message.includes(expected), `missing "${expected}" in:\n${err.message}`);
      }
      return true;
    });
  });
});

test('built-in step traffic follows its levels', () => {
  const sc = builtInScenario('step');
  const perSecond = arrivalsPerSecond(sc.traffic, sc.durationMs, sc.seed);
  const mean = (from: number, to: number) => perSecond.slice(from, to).reduce((a, b) => a + b, 0) / (to - from);
  assert.ok(Math.abs(mean(0, 600) - 200) < 5);
  assert.ok(Math.abs(mean(600, 2400) - 1600) < 10);
  assert.ok(Math.abs(mean(2400, 3600) - 200) < 5);
});

test('a scenario file with mistakes gets every error with its path', () => {
  withDir((dir) => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      `
name: Bad Name
duration: 10 minutes
pools:
  - { name: a, replicasPerNode: 4, costPerHour: 1, minNodes: 3, maxNodes: 2 }
  - { name: a, replicasPerNode: 4, costPerHour: 1, maxNodes: 2 }
service:
  serviceTime: { meanMs: 50, p95Ms: 400 }
  concurency: 4
decisionPeriods: { gascl: 1500ms }
traffic:
  shape: { kind: steps, steps: [] }
`,
    );
    let error: unknown;
    try {
      loadScenarioFile(file);
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof ScenarioError);
    assert.equal(error.code, 'INVALID_SCENARIO');
    const message = error.message;
    assert.ok(message.startsWith(`${file}: invalid scenario:`), message);
    for (const expected of [
      'name: must be lowercase',
      'duration: must be a duration',
      'pools[0].maxNodes: must be >= minNodes (got 2 < 3)',
      'pools[1].name: "a" names two pools',
      'service.serviceTime.p95Ms: must be at most 3.87× meanMs',
      'service: Unrecognized key: "concurency"',
      'decisionPeriods.gascl: must be a whole number of seconds',
      'traffic.shape.steps: needs at least one step',
    ]) {
      assert.ok(message.includes(expected), `missing "${expected}" in:\n${message}`);
    }
  });
});

test('traffic needs exactly one of a shape or a replay; broken YAML says where', () => {
  withDir((dir) => {
    const neither = join(dir, 'neither.yaml');
    writeFileSync(neither, `${BASE_YAML}duration: 1m\ntraffic: {}\n`);
    assert.throws(() => loadScenarioFile(neither), /traffic: needs exactly one of shape .* or replay/);
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'name: [unclosed\n');
    assert.throws(() => loadScenarioFile(broken), /broken\.yaml: invalid YAML at line \d+/);
    assert.throws(() => loadScenarioFile(join(dir, 'missing.yaml')), /missing\.yaml: cannot read the scenario file/);
  });
});

test('a replayed CSV: times scaled by timeScale, tokens scale each request’s service time', () => {
  withDir((dir) => {
    // 200 light requests in the first 10 s, then 200 heavy ones (many output tokens) in the next 10 s.
    const rows = ['t,tokens_in,tokens_out'];
    for (let i = 0; i < 200; i++) rows.push(`${(i * 0.05).toFixed(3)},10,0`);
    for (let i = 0; i < 200; i++) rows.push(`${(10 + i * 0.05).toFixed(3)},10,20`);
    writeFileSync(join(dir, 'trace.csv'), rows.join('\n'));
    const file = join(dir, 'replay.yaml');
    writeFileSync(file, `${BASE_YAML}  perToken: { inMs: 0.5, outMs: 4 }\ntraffic:\n  replay: { file: trace.csv, timeScale: 2 }\n`);
    const [sc] = loadScenarioFile(file);
    assert.ok(sc);
    assert.equal(sc.durationMs, 40_000, 'the 20 s trace replayed at half speed lasts 40 s');
    assert.equal(sc.traffic.kind, 'replay');
    const perSecond = arrivalsPerSecond(sc.traffic, sc.durationMs, sc.seed);
    assert.equal(perSecond.reduce((a, b) => a + b, 0), 400);
    assert.equal(perSecond[0], 10, '20 req/s in the trace, 10 req/s replayed at timeScale 2');

    const run = simulate(sc, new ScriptedController([]), { initialReplicas: 2 });
    assert.equal(run.arrivals, 400);
    assert.ok(run.succeeded >= 398, 'all served but those still in flight when the run ends');
    // Light: (20 + 5) ms mean; heavy: (20 + 5 + 80) ms mean. Minute 0 holds both; the median is light, the p95 heavy.
    const p50 = run.latency.percentile(50, false)!;
    const p95 = run.latency.percentile(95, false)!;
    assert.ok(p50 < 60, `p50 ${p50}`);
    assert.ok(p95 > 100, `p95 ${p95}`);
  });
});

test('tokens in a trace without service.perToken is an error that says what to add', () => {
  withDir((dir) => {
    writeFileSync(join(dir, 'trace.csv'), 't,tokens_in,tokens_out\n0,1,2\n');
    const file = join(dir, 's.yaml');
    writeFileSync(file, `${BASE_YAML}traffic:\n  replay: { file: trace.csv }\n`);
    assert.throws(() => loadScenarioFile(file), /service\.perToken: is required to use the tokens_in\/tokens_out columns/);
    writeFileSync(join(dir, 'bad.csv'), 't\n0\nsoon\n');
    writeFileSync(file, `${BASE_YAML}traffic:\n  replay: { file: bad.csv }\n`);
    assert.throws(() => loadScenarioFile(file), /traffic\.replay\.file: bad\.csv:3: "t" must be the arrival time in seconds/);
  });
});
