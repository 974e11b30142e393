/**
 * Scale-down drains: under steady load, lowering a service from 3 replicas to
 * 1 takes replicas out of the gateway's routes before they are signalled, and
 * they finish what they hold, so no request fails.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fraudRequest, karb, startKarbUp, waitFor, workDir, type KarbUp } from './helpers.ts';
import { createHttpSender, runOpenLoop } from '../src/loadgen/runner.ts';
import { generatedSchedule } from '../src/loadgen/schedule.ts';

const ROW = [42.5, 14, 0.1, 3.2, 1, 0, 1, 1200];
const service = (replicas: number) => `apiVersion: karb.dev/v1alpha1
kind: InferenceService
metadata: { name: drainer }
spec:
  model: { format: onnx, uri: file://models/fraud-v1.onnx }
  resources: { requests: { cpu: "0.25", memory: 256Mi }, limits: { cpu: "1", memory: 512Mi } }
  scaling: { policy: gascl, minReplicas: ${replicas}, maxReplicas: ${replicas}, targetConcurrency: 8 }
`;

describe('scale-down under steady load', { timeout: 90_000 }, () => {
  const work = workDir();
  let up: KarbUp;
  const apply = (replicas: number) => karb(['apply', '-f', '-', '--server', up.controlUrl, '--token', up.adminToken], { cwd: work.dir, input: service(replicas) });
  const revision = async () => {
    const r = await fetch(`${up.controlUrl}/api/v1/services/drainer`, { headers: up.admin });
    const svc = (await r.json()) as { status?: { revisions?: Array<{ ready: number; desired: number }> } };
    return svc.status?.revisions?.[0];
  };

  before(async () => {
    up = await startKarbUp(work.dir);
    const applied = await apply(3);
    assert.equal(applied.code, 0, applied.stderr);
    await waitFor('three ready replicas', async () => (await revision())?.ready === 3, 30_000);
  });

  after(async () => {
    await up?.stop();
    work.cleanup();
  });

  it('answers every request while replicas leave', async () => {
    const sender = createHttpSender(
      { url: `${up.gatewayUrl}/v2/models/drainer/infer`, method: 'POST', headers: { 'content-type': 'application/json', ...up.auth }, body: fraudRequest([ROW]) },
      { connections: 32, timeoutMs: 30_000 },
    );
    const load = runOpenLoop({ schedule: generatedSchedule({ shape: 'constant', rate: 100 }, { durationMs: 6_000, seed: 3 }), send: sender.send });
    try {
      await new Promise((r) => setTimeout(r, 1_500));
      const applied = await apply(1);
      assert.equal(applied.code, 0, applied.stderr);
      await waitFor('one replica left', async () => {
        const r = await revision();
        return r?.desired === 1 && r.ready === 1;
      }, 20_000);
    } finally {
      const result = await load;
      await sender.close();
      console.log(`scale-down 3→1 under ${result.totals.sent} requests: ${result.totals.ok} ok, errors ${JSON.stringify(result.totals.errorsByCode)}`);
      assert.equal(result.totals.ok, result.totals.sent, `no request failed: ${JSON.stringify(result.totals.errorsByCode)}`);
    }
    const drained = up.output().split('\n').filter((l) => l.includes('ReplicaDraining') || l.includes('scaling drainer-00001 down'));
    assert.ok(drained.length > 0 || (await revision())?.ready === 1);
  });
});
