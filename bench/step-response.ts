/**
 * Step response of the real embedded system: `karb up`, one service whose
 * replicas are bound by service time rather than CPU (each model run sleeps
 * `--inject-latency-ms`, one request per run, as a GPU-bound model would be),
 * so extra replicas add capacity even on a two-core machine. Open-loop load
 * steps from 20% to 150% of one replica's capacity (measured first, closed
 * loop); the GASCL loop must bring p95 back under the SLO.
 *
 * Reported, from one run: recovery (the step → the first second after which
 * every second's p95 stays under the SLO) against its target, one cold start
 * (measured on the replicas that started) plus two decision periods, as a
 * ratio; the replicas over time; errors.
 *
 *   node bench/step-response.ts [--service-ms 20] [--slo-ms 200] [--json]
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { AUTOSCALER_PERIOD_MS } from '../src/control/autoscaling-loop.ts';
import { createHttpSender, runOpenLoop, type RunResult } from '../src/loadgen/runner.ts';
import { generatedSchedule } from '../src/loadgen/schedule.ts';
import { startKarbUp, waitFor, workDir } from '../test/helpers.ts';
import { FRAUD_REQUEST, servedBy } from '../test/rollout-support.ts';

const { values } = parseArgs({ options: { 'service-ms': { type: 'string', default: '20' }, 'slo-ms': { type: 'string', default: '200' }, json: { type: 'boolean', default: false } } });
const serviceMs = Number(values['service-ms']);
const sloMs = Number(values['slo-ms']);
const BEFORE_MS = 15_000;
const AFTER_MS = 45_000;
const name = 'step';

interface Replica {
  name: string;
  phase: string;
  startedAt: number;
  readyAt?: number;
}

const work = workDir('karb-bench-step-');
const up = await startKarbUp(work.dir);
try {
  const put = await fetch(`${up.controlUrl}/api/v1/services/${name}`, {
    method: 'PUT',
    headers: { ...up.admin, 'content-type': 'application/json' },
    body: JSON.stringify({
      apiVersion: 'karb.dev/v1alpha1',
      kind: 'InferenceService',
      metadata: { name },
      spec: {
        model: servedBy(name, 'fraud-v1.onnx', ['--inject-latency-ms', String(serviceMs), '--max-batch-size', '1']),
        slo: { latencyP95Ms: sloMs, coldStartMs: 3000 },
        scaling: { policy: 'gascl', minReplicas: 1, maxReplicas: 8, targetConcurrency: 2 },
      },
    }),
  });
  if (!put.ok) throw new Error(`apply: ${put.status} ${await put.text()}`);
  await waitFor('the service to serve', async () => (await fetch(`${up.gatewayUrl}/v2/models/${name}/ready`, { headers: up.auth })).ok, 30_000);
  const target = { url: `${up.gatewayUrl}/v2/models/${name}/infer`, method: 'POST', headers: { ...up.auth, 'content-type': 'application/json' }, body: FRAUD_REQUEST };

  // One replica's capacity: closed loop at a few requests in flight for 3 s.
  const calibrate = createHttpSender(target, { connections: 4, timeoutMs: 10_000 });
  let done = 0;
  const until = Date.now() + 3000;
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (Date.now() < until) if ((await calibrate.send({ atMs: 0 })).status === 200) done++;
  }));
  await calibrate.close();
  const capacity = done / 3;

  const replicas: Array<{ t: number; ready: number; total: number }> = [];
  const seen = new Map<string, Replica>();
  let polling = true;
  const started = Date.now();
  const poll = (async () => {
    while (polling) {
      const items = ((await (await fetch(`${up.controlUrl}/api/v1/replicas?service=${name}`, { headers: up.admin })).json()) as { items: Replica[] }).items;
      for (const r of items) seen.set(r.name, r);
      replicas.push({ t: (Date.now() - started) / 1000, ready: items.filter((r) => r.phase === 'Ready').length, total: items.filter((r) => r.phase !== 'Stopped').length });
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  const sender = createHttpSender(target, { connections: 256, timeoutMs: 30_000 });
  const schedule = generatedSchedule({ shape: 'step', rate: 0.2 * capacity, toRate: 1.5 * capacity, atMs: BEFORE_MS }, { durationMs: BEFORE_MS + AFTER_MS, seed: 7 });
  const run: RunResult = await runOpenLoop({ schedule, send: sender.send });
  polling = false;
  await poll;
  await sender.close();

  const events = ((await (await fetch(`${up.controlUrl}/api/v1/events`, { headers: up.admin })).json()) as { items: Array<{ time: string; reason: string; message: string; service: string; replica?: string }> }).items
    .filter((e) => e.service === name && e.replica === undefined && Date.parse(e.time) >= started)
    .map((e) => `${((Date.parse(e.time) - started) / 1000).toFixed(1)}s ${e.reason}: ${e.message}`);
  const stepSecond = BEFORE_MS / 1000;
  const after = run.series.filter((s) => s.t >= stepSecond);
  const lastBad = [...after].reverse().find((s) => s.p95Ms !== null && s.p95Ms > sloMs);
  const recoveredAt = lastBad === undefined ? stepSecond : lastBad.t + 1;
  const coldStarts = [...seen.values()].filter((r) => r.readyAt !== undefined && r.startedAt >= started).map((r) => r.readyAt! - r.startedAt);
  const coldStartMs = coldStarts.length ? coldStarts.reduce((a, b) => a + b, 0) / coldStarts.length : NaN;
  const targetS = (coldStartMs + 2 * AUTOSCALER_PERIOD_MS) / 1000;
  const recoveryS = recoveredAt - stepSecond;
  const report = {
    machine: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
    serviceMs,
    sloMs,
    replicaCapacityRps: Number(capacity.toFixed(1)),
    rates: { before: Number((0.2 * capacity).toFixed(1)), after: Number((1.5 * capacity).toFixed(1)) },
    recoverySeconds: recoveryS,
    targetSeconds: Number(targetS.toFixed(2)),
    recoveryOverTarget: Number((recoveryS / targetS).toFixed(2)),
    coldStartMs: Math.round(coldStartMs),
    peakReplicas: Math.max(...replicas.map((r) => r.ready)),
    scaleEvents: events,
    errors: run.totals.errors,
    errorsByCode: run.totals.errorsByCode,
    p95BySecond: run.series.map((s) => [s.t, s.p95Ms === null ? null : Math.round(s.p95Ms)]),
    readyReplicasBySecond: Array.from({ length: Math.ceil((BEFORE_MS + AFTER_MS) / 1000) }, (_, t) => [t, replicas.filter((r) => r.t <= t + 1).at(-1)?.ready ?? 0]),
  };
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${JSON.stringify(report)}\n`);
} finally {
  await up.stop();
  work.cleanup();
}
