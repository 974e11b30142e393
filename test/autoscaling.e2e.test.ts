/**
 * Autoscaling end to end on a real `karb up`: open-loop load makes one replica
 * too few (targetConcurrency 1, model runs slowed to 50 ms each by the server's
 * fault injection, a 250 ms p95 SLO that the gateway's queueing soon threatens), the
 * autoscaler adds replicas, takes them away once the load is gone and the
 * service is idle, down to zero; the next request is held at the gateway
 * while a replica starts, and answered.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fraudRequest, karb, KARB, ROOT, startKarbUp, waitFor, workDir, type KarbUp } from './helpers.ts';
import { createHttpSender, runOpenLoop } from '../src/loadgen/runner.ts';
import { generatedSchedule } from '../src/loadgen/schedule.ts';

const ROW = [42.5, 14, 0.1, 3.2, 1, 0, 1, 1200];
const SERVICE = `apiVersion: karb.dev/v1alpha1
kind: InferenceService
metadata: { name: scaler }
spec:
  model:
    format: oip
    command: ${JSON.stringify([process.execPath, KARB, 'serve', '--model', join(ROOT, 'models/fraud-v1.onnx'), '--name', 'scaler', '--port', '$PORT', '--inject-latency-ms', '50'])}
    readinessPath: /v2/models/scaler/ready
  resources: { requests: { cpu: "0.5", memory: 256Mi }, limits: { cpu: "1", memory: 512Mi } }
  slo: { latencyP95Ms: 250, coldStartMs: 15000 }
  scaling:
    policy: gascl
    minReplicas: 0
    maxReplicas: 3
    targetConcurrency: 1
    scaleToZeroAfter: 10s
    stabilization: { upSeconds: 0, downSeconds: 5 }
`;

interface Sample {
  t: number;
  ready: number;
  desired: number;
}

describe('autoscaling on karb up', { timeout: 120_000 }, () => {
  const work = workDir();
  let up: KarbUp;
  let headers: Record<string, string> = {};
  const samples: Sample[] = [];
  let started = 0;
  let sampler: ReturnType<typeof setInterval> | undefined;

  const status = async (): Promise<{ ready: number; desired: number; autoscaler?: { reason: string; message: string } }> => {
    const r = await fetch(`${up.controlUrl}/api/v1/services/scaler`, { headers });
    const svc = (await r.json()) as { status?: { revisions?: Array<{ ready: number; desired: number }>; autoscaler?: { reason: string; message: string } } };
    const rev = svc.status?.revisions?.[0];
    return { ready: rev?.ready ?? 0, desired: rev?.desired ?? 0, ...(svc.status?.autoscaler ? { autoscaler: svc.status.autoscaler } : {}) };
  };

  before(async () => {
    up = await startKarbUp(work.dir);
    headers = up.admin;
    const applied = await karb(['apply', '-f', '-', '--server', up.controlUrl], { cwd: work.dir, input: SERVICE });
    assert.equal(applied.code, 0, applied.stderr);
    started = Date.now();
    sampler = setInterval(() => {
      status().then(
        (s) => samples.push({ t: Math.round((Date.now() - started) / 100) / 10, ready: s.ready, desired: s.desired }),
        () => {},
      );
    }, 500);
    await waitFor('the service to be stored', async () => (await fetch(`${up.controlUrl}/api/v1/services/scaler`, { headers })).ok, 30_000);
  });

  after(async () => {
    if (sampler) clearInterval(sampler);
    const changes = samples.filter((s, i) => i === 0 || s.ready !== samples[i - 1]!.ready || s.desired !== samples[i - 1]!.desired);
    console.log(`replicas over time (s: ready/desired): ${changes.map((s) => `${s.t}:${s.ready}/${s.desired}`).join(' ')}`);
    await up?.stop();
    work.cleanup();
  });

  it('scales up under load, down after it, to zero, and back from zero for a held request', async () => {
    const sender = createHttpSender(
      { url: `${up.gatewayUrl}/v2/models/scaler/infer`, method: 'POST', headers: { 'content-type': 'application/json', ...up.auth }, body: fraudRequest([ROW]) },
      { connections: 64, timeoutMs: 30_000 },
    );
    let peak = 0;
    const load = runOpenLoop({ schedule: generatedSchedule({ shape: 'constant', rate: 40 }, { durationMs: 14_000, seed: 7 }), send: sender.send });
    try {
      peak = await waitFor('more than one ready replica under load', async () => {
        const s = await status();
        return s.ready >= 2 ? s.ready : undefined;
      }, 30_000, 250);
    } finally {
      const result = await load;
      await sender.close();
      console.log(`load: ${result.totals.sent} sent, ${result.totals.ok} ok, errors ${JSON.stringify(result.totals.errorsByCode)}, p95 ${result.latencyMs.p95.toFixed(1)} ms`);
      // The gateway sheds with 503 + Retry-After (its wait queue is full) while capacity is added; nothing else may fail.
      assert.ok(result.totals.ok > 0);
      assert.deepEqual(Object.keys(result.totals.errorsByCode).filter((code) => code !== '503'), [], JSON.stringify(result.totals.errorsByCode));
    }
    assert.ok(peak >= 2);

    await waitFor('scale to zero after the idle period', async () => {
      const s = await status();
      return s.desired === 0 && s.ready === 0;
    }, 60_000, 250);

    const atZero = (await (await fetch(`${up.controlUrl}/api/v1/services/scaler`, { headers })).json()) as {
      status: { autoscaler?: { reason: string; desiredReplicas: number }; conditions: Array<{ type: string; status: string; reason: string }> };
    };
    assert.equal(atZero.status.autoscaler?.reason, 'ScaleToZero');
    assert.equal(atZero.status.autoscaler?.desiredReplicas, 0);
    assert.deepEqual(atZero.status.conditions.filter((c) => c.type === 'Ready').map((c) => [c.status, c.reason]), [['True', 'ScaledToZero']]);
    assert.deepEqual(atZero.status.conditions.filter((c) => c.type === 'ScalingActive').map((c) => [c.status, c.reason]), [['True', 'ScaleToZero']]);

    const t0 = Date.now();
    const res = await fetch(`${up.gatewayUrl}/v2/models/scaler/infer`, { method: 'POST', headers: { 'content-type': 'application/json', ...up.auth }, body: fraudRequest([ROW]) });
    const coldMs = Date.now() - t0;
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { outputs: Array<{ name: string }> };
    assert.ok(body.outputs.some((o) => o.name === 'probability'));
    console.log(`held request answered after ${coldMs} ms (scale from zero)`);

    const events = (await (await fetch(`${up.controlUrl}/api/v1/events`, { headers })).json()) as Array<{ reason: string; message: string; service: string }> | { items: Array<{ reason: string; message: string; service: string }> };
    const list = Array.isArray(events) ? events : events.items;
    const scaling = list.filter((e) => e.service === 'scaler' && /→/.test(e.message)).map((e) => `${e.reason} ${e.message}`);
    console.log(`scale events:\n  ${scaling.join('\n  ')}`);
    assert.ok(scaling.some((m) => m.startsWith('ScaleToZero')), 'a ScaleToZero event');
  });
});

