import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simulate } from './cluster.ts';
import { BUILT_IN_NAMES, ScenarioError, builtInScenario, loadScenarioFile } from './scenarios.ts';
import { ScriptedController } from './test-support.ts';
import { laneSeed } from './services.ts';
import type { TrafficConfig, TrafficShape } from './scenario-schema.ts';
import { scalingInput } from './treatments.ts';
import { arrivalsPerSecond, expectedArrivals, noiseFactors, openArrivals, tokenWork } from './traffic.ts';

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
  assert.deepEqual(BUILT_IN_NAMES, ['step', 'burst', 'diurnal', 'hybrid', 'llm', 'multiday']);
  for (const name of ['step', 'burst', 'diurnal', 'llm', 'multiday']) {
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

/** Every generated arrival of a scenario: time, work and tokens. */
function drawAll(sc: ReturnType<typeof builtInScenario>, durationMs = sc.durationMs) {
  const cursor = openArrivals(sc.traffic, durationMs, sc.seed);
  const out: Array<{ t: number; work: number; tokensIn: number; tokensOut: number }> = [];
  while (cursor.time < Infinity) {
    out.push({ t: cursor.time, work: cursor.work, tokensIn: cursor.tokensIn ?? 0, tokensOut: cursor.tokensOut ?? 0 });
    cursor.advance();
  }
  return out;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

test('built-in llm: heavy-tailed tokens per request, priced as a replayed trace prices them, the same for the same seed', () => {
  const sc = builtInScenario('llm');
  assert.equal(sc.slo.latencyP95Ms, 8000);
  const tenMinutes = 600_000;
  const a = drawAll(sc, tenMinutes);
  const again = drawAll(sc, tenMinutes);
  assert.deepEqual(again.slice(0, 1000), a.slice(0, 1000), 'same seed, same arrivals and tokens');
  const other = drawAll(builtInScenario('llm', 2), tenMinutes);
  assert.notDeepEqual(other.slice(0, 100).map((r) => r.tokensOut), a.slice(0, 100).map((r) => r.tokensOut), 'another seed, other tokens');

  const per = { baseMs: sc.service.serviceTime.meanMs, ...sc.service.perToken! };
  for (const r of a.slice(0, 200)) assert.equal(r.work, tokenWork(per, r.tokensIn, r.tokensOut));
  const tokensIn = a.map((r) => r.tokensIn).sort((x, y) => x - y);
  const tokensOut = a.map((r) => r.tokensOut).sort((x, y) => x - y);
  assert.ok(Math.abs(quantile(tokensIn, 0.5) / 300 - 1) < 0.05, `median tokens in ${quantile(tokensIn, 0.5)}`);
  assert.ok(Math.abs(quantile(tokensOut, 0.5) / 200 - 1) < 0.05, `median tokens out ${quantile(tokensOut, 0.5)}`);
  assert.ok(Math.abs(quantile(tokensOut, 0.99) / 1200 - 1) < 0.1, `p99 tokens out ${quantile(tokensOut, 0.99)}`);
  assert.ok(tokensOut.at(-1)! <= 4096 && tokensIn.at(-1)! <= 16_384, 'capped at max');
  const work = a.map((r) => r.work).sort((x, y) => x - y);
  assert.ok(quantile(work, 0.99) / quantile(work, 0.5) > 4, `work p99/p50 ${(quantile(work, 0.99) / quantile(work, 0.5)).toFixed(2)}: a heavy tail`);
  assert.ok(quantile(work, 0.95) * per.baseMs < sc.slo.latencyP95Ms, 'the p95 request alone fits in the SLO');
});

test('a generated request and a replayed one with the same tokens get the same work', () => {
  const sc = builtInScenario('llm');
  const drawn = drawAll(sc, 20_000);
  withDir((dir) => {
    writeFileSync(join(dir, 'trace.csv'), ['t,tokens_in,tokens_out', ...drawn.map((r) => `${r.t / 1000},${r.tokensIn},${r.tokensOut}`)].join('\n'));
    const file = join(dir, 'replay.yaml');
    const per = sc.service.perToken!;
    writeFileSync(file, `${BASE_YAML.replace('meanMs: 20, p95Ms: 40', `meanMs: ${sc.service.serviceTime.meanMs}, p95Ms: ${sc.service.serviceTime.p95Ms}`)}  perToken: { inMs: ${per.inMs}, outMs: ${per.outMs} }\ntraffic:\n  replay: { file: trace.csv }\n`);
    const [replayed] = loadScenarioFile(file);
    assert.ok(replayed && replayed.traffic.kind === 'replay');
    assert.deepEqual([...replayed.traffic.work!], drawn.map((r) => r.work));
  });
});

test('built-in llm: bursty arrivals, minute to minute, after a calm start', () => {
  const sc = builtInScenario('llm');
  const perSecond = arrivalsPerSecond(sc.traffic, sc.durationMs, sc.seed);
  const perMinute = Array.from({ length: 60 }, (_, m) => perSecond.slice(m * 60, m * 60 + 60).reduce((a, b) => a + b, 0));
  const cv = (xs: number[]) => {
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    return Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length) / mean;
  };
  // Poisson alone at 100 req/s varies about 1.3% minute to minute.
  assert.ok(cv(perMinute.slice(0, 5)) < 0.05, `the first 5 minutes are calm: ${cv(perMinute.slice(0, 5)).toFixed(3)}`);
  assert.ok(cv(perMinute.slice(5)) > 0.3, `then bursty: ${cv(perMinute.slice(5)).toFixed(3)}`);
  assert.ok(Math.max(...perMinute) > 2 * 6000, 'some minute above twice the mean rate');
  const mean = perMinute.reduce((a, b) => a + b, 0) / 60 / 60;
  assert.ok(mean > 70 && mean < 130, `mean ${mean.toFixed(1)} req/s`);
});

test('rate noise scales each step of any shape by its factor', () => {
  const noise = { everyMs: 60_000, sigma: 0.5, fromMs: 120_000 };
  const factors = noiseFactors(noise, 600_000, 7);
  assert.deepEqual([factors[0], factors[1]], [1, 1], 'none before `from`');
  assert.deepEqual(noiseFactors({ ...noise, fromMs: 0 }, 600_000, 7).slice(2), factors.slice(2), '`from` changes no later factor');
  const shapes: TrafficShape[] = [
    { kind: 'constant', rps: 50 },
    { kind: 'ramp', fromRps: 10, toRps: 90, over: '5m' },
    { kind: 'diurnal', minRps: 10, maxRps: 90, period: '4m' },
  ];
  for (const shape of shapes) {
    const traffic: TrafficConfig = { kind: 'shape', shape, rateNoise: noise };
    const plain: TrafficConfig = { kind: 'shape', shape };
    // Expected arrivals in each minute, with and without noise: their ratio is the minute's factor.
    for (let k = 0; k < 10; k++) {
      const minute = (t: TrafficConfig) => expectedArrivals(t, (k + 1) * 60_000, 7) - expectedArrivals(t, k * 60_000, 7);
      const ratio = minute(traffic) / minute(plain);
      assert.ok(Math.abs(ratio - factors[k]!) < 1e-6, `${shape.kind} minute ${k}: ${ratio} against ${factors[k]}`);
    }
  }
});

test('built-in multiday: four days of one shape, each a little different, with the period declared to the deciders', () => {
  const sc = builtInScenario('multiday');
  const periodMs = 3 * 3_600_000;
  assert.equal(sc.scaling.seasonalPeriodMs, periodMs);
  assert.equal(sc.durationMs, 4 * periodMs);
  const view = { timeMs: 0, readyReplicas: 1, replicas: 1, nodes: 2, maxNodes: 32, signals: () => { throw new Error('not read'); } };
  assert.equal(scalingInput('gascl', sc, view).seasonalPeriodMs, periodMs, 'the deciders are told the period');
  assert.equal(scalingInput('gascl', builtInScenario('burst'), view).seasonalPeriodMs, undefined);

  const perSecond = arrivalsPerSecond(sc.traffic, sc.durationMs, sc.seed);
  const days = 4;
  const slots = periodMs / 600_000; // 10-minute means
  const day = (d: number) => Array.from({ length: slots }, (_, i) => {
    const from = (d * periodMs) / 1000 + i * 600;
    return perSecond.slice(from, from + 600).reduce((a, b) => a + b, 0) / 600;
  });
  const shapes = Array.from({ length: days }, (_, d) => day(d));
  const peaks = shapes.map((s) => Math.max(...s));
  for (const peak of peaks) assert.ok(peak > 100 && peak < 135, `a day's peak ${peak.toFixed(1)} req/s: 120 within ±10%, less the averaging`);
  assert.ok(Math.max(...peaks) / Math.min(...peaks) > 1.03, `the days differ: peaks ${peaks.map((x) => x.toFixed(1)).join(', ')}`);
  const first = shapes[0]!;
  for (let d = 1; d < days; d++) {
    const other = shapes[d]!;
    // Day d tracks day 1 within the noise: ±10% at the peak twice over, a few minutes of shift on the ramps, Poisson counts.
    first.forEach((x, i) => {
      const y = other[i]!;
      assert.ok(Math.abs(y - x) <= 0.22 * Math.max(x, y) + 6, `day ${d + 1}, 10-minute slot ${i}: ${y.toFixed(1)} against day 1's ${x.toFixed(1)}`);
    });
    assert.ok(Math.min(...other) < 15, 'nights are quiet');
  }
  assert.ok(peaks[0]! / Math.min(...first) > 8, 'a day from night to noon spans an order of magnitude');

  const again = arrivalsPerSecond(sc.traffic, sc.durationMs, sc.seed);
  assert.deepEqual(again.slice(0, 3600), perSecond.slice(0, 3600), 'same seed, same arrivals');
});

test('tokens, rate noise, day-to-day variation and seasonality: mistakes get their paths', () => {
  withDir((dir) => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      `${BASE_YAML}duration: 10m
traffic:
  shape: { kind: diurnal, minRps: 1, maxRps: 5, period: 8m, variation: { peak: 0.1, shift: 3m } }
  rateNoise: { every: 1500ms, sigma: 0.3 }
  tokens: { out: { median: 200, p99: 100 } }
`.replace('scaling: { initialReplicas: 2 }', 'scaling: { initialReplicas: 2, seasonality: { period: 30s } }'),
    );
    assert.throws(() => loadScenarioFile(file), (err: Error) => {
      for (const expected of [
        'traffic.shape.variation.shift: must be at most a quarter of the period (8m)',
        'traffic.rateNoise.every: must be a whole number of seconds',
        'traffic.tokens.out.p99: must be >= median (got 100 < 200)',
        'service.perToken: is required with traffic.tokens',
        'scaling.seasonality.period: must be at least a minute',
      ]) {
        assert.ok(err.message.includes(expected), `missing "${expected}" in:\n${err.message}`);
      }
      return true;
    });
    writeFileSync(join(dir, 'trace.csv'), 't\n0\n1\n');
    writeFileSync(file, `${BASE_YAML}traffic:\n  replay: { file: trace.csv }\n  rateNoise: { sigma: 0.3 }\n  tokens: { in: { median: 10, p99: 20 } }\n`);
    assert.throws(() => loadScenarioFile(file), (err: Error) => {
      assert.match(err.message, /traffic\.rateNoise: applies to a shape; a replay keeps its arrival times/);
      assert.match(err.message, /traffic\.tokens: applies to a shape; a replay takes its tokens from its tokens_in \/ tokens_out columns/);
      return true;
    });
  });
});
