/**
 * A standalone `karb gateway` in front of `karb up`: a service scaled to zero
 * wakes for a request that reaches only the standalone gateway (held there,
 * activation asked of the control plane), and the autoscaler counts that
 * gateway's traffic from its reports.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fraudRequest, startGatewayProcess, startKarbUp, waitFor, workDir, type GatewayProcess, type KarbUp } from './helpers.ts';

const ROW = [23.5, 13, 0.1, 3.2, 0, 0, 1, 1460];

describe('standalone gateway', { timeout: 120_000 }, () => {
  const work = workDir();
  let up: KarbUp;
  let gateway: GatewayProcess;

  before(async () => {
    up = await startKarbUp(work.dir);
    gateway = await startGatewayProcess(work.dir, up.controlUrl, up.adminToken, []);
  });

  after(async () => {
    await gateway?.stop();
    await up?.stop();
    work.cleanup();
  });

  const status = async () =>
    ((await (await fetch(`${up.controlUrl}/api/v1/services/sleepy`, { headers: up.admin })).json()) as {
      status: { revisions?: Array<{ ready: number; desired: number }>; autoscaler?: { reason: string; desiredReplicas: number; message: string } };
    }).status;

  it('holds a request for a service at zero, asks the control plane for a replica, and answers it', async () => {
    const doc = {
      apiVersion: 'karb.dev/v1alpha1',
      kind: 'InferenceService',
      metadata: { name: 'sleepy' },
      spec: {
        model: { uri: 'file://models/fraud-v1.onnx' },
        slo: { coldStartMs: 15_000 },
        scaling: { policy: 'gascl', minReplicas: 0, maxReplicas: 2, scaleToZeroAfter: '6s', stabilization: { upSeconds: 0, downSeconds: 1 } },
      },
    };
    const put = await fetch(`${up.controlUrl}/api/v1/services/sleepy`, { method: 'PUT', headers: { ...up.admin, 'content-type': 'application/json' }, body: JSON.stringify(doc) });
    assert.equal(put.status, 201, await put.text());
    await waitFor('the standalone gateway to know the service', async () => (await fetch(`${gateway.url}/v2/models/sleepy`, { headers: up.auth })).ok);

    // Traffic through the standalone gateway only: the autoscaler sees it in that gateway's reports.
    for (let i = 0; i < 20; i++) {
      const r = await fetch(`${gateway.url}/v2/models/sleepy/infer`, { method: 'POST', headers: { ...up.auth, 'content-type': 'application/json' }, body: fraudRequest([ROW]) });
      assert.equal(r.status, 200);
    }
    await waitFor('a decision made on the reported traffic', async () => {
      const s = await status();
      return s.autoscaler !== undefined && s.autoscaler.reason !== 'NoData' && s.autoscaler.reason !== 'ScaleToZero' ? s : undefined;
    }, 20_000, 250);

    await waitFor('scale to zero once idle', async () => {
      const s = await status();
      return s.autoscaler?.desiredReplicas === 0 && (s.revisions ?? []).every((r) => r.ready === 0);
    }, 60_000, 250);

    // The standalone gateway learns of the replica leaving at its next poll of the routes (every second).
    await waitFor('the standalone gateway to see no replica', async () => (await fetch(`${gateway.url}/v2/models/sleepy/ready`, { headers: up.auth })).status === 503);
    const res = await fetch(`${gateway.url}/v2/models/sleepy/infer`, { method: 'POST', headers: { ...up.auth, 'content-type': 'application/json' }, body: fraudRequest([ROW]) });
    assert.equal(res.status, 200, await res.clone().text());
    assert.ok(((await res.json()) as { outputs: unknown[] }).outputs.length > 0);
    const events = ((await (await fetch(`${up.controlUrl}/api/v1/events`, { headers: up.admin })).json()) as { items: Array<{ reason: string; service: string }> }).items;
    assert.ok(events.some((e) => e.service === 'sleepy' && e.reason === 'Activation'), 'the standalone gateway asked for the replica');
  });
});
