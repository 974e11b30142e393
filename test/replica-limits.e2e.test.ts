/**
 * A replica's memory limit is enforced by a real `karb up`: the built-in server given 48Mi (far
 * below what it needs) is killed, and the service's Ready condition and its ReplicaCrashed
 * events say OOMKilled — through cgroups where karb can write them, through the RSS watchdog
 * elsewhere; a service with the default limits in the same karb up serves. karb up's log says
 * which mechanism it chose.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fraudRequest, startKarbUp, waitFor, workDir, type KarbUp } from './helpers.ts';

describe('replica resource limits', () => {
  const work = workDir('karb-replica-limits-');
  let up: KarbUp;
  const put = async (name: string, spec: Record<string, unknown>) => {
    const res = await fetch(`${up.controlUrl}/api/v1/services/${name}`, {
      method: 'PUT',
      headers: { ...up.admin, 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name }, spec: { model: { uri: 'file://models/fraud-v1.onnx' }, scaling: { minReplicas: 1, maxReplicas: 1 }, ...spec } }),
    });
    assert.equal(res.status, 201, await res.text());
  };

  before(async () => {
    up = await startKarbUp(work.dir);
  });

  after(async () => {
    await up?.stop();
    work.cleanup();
  });

  it('logs the mechanism it enforces limits with', () => {
    assert.match(up.output(), /"msg":"replica limits: [^"]+","mechanism":"(cgroup-v2|cgroup-v1|rss-watchdog)"/);
  });

  it('reports a replica over its memory limit as OOMKilled, while one with the default limits serves', async () => {
    // Requests must fit under the limits (1Gi of memory is requested by default).
    await put('tight', { resources: { requests: { cpu: '100m', memory: '32Mi' }, limits: { cpu: '1', memory: '48Mi' } } });
    await put('roomy', {});

    const oom = 'pid \\d+ OOMKilled: used more than its memory limit of 48Mi \\(killed by SIGKILL\\); restarting in \\d+ ms';
    const ready = await waitFor('tight to say it was OOMKilled', async () => {
      const svc = (await (await fetch(`${up.controlUrl}/api/v1/services/tight`, { headers: up.admin })).json()) as { status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> } };
      const condition = svc.status?.conditions?.find((c) => c.type === 'Ready');
      return condition?.reason === 'ReplicaCrashing' && condition.message.includes('OOMKilled') ? condition : undefined;
    });
    assert.equal(ready.status, 'False');
    assert.match(ready.message, new RegExp(`^tight-00001: tight-00001-\\w+ keeps exiting \\(restarts: \\d+\\): ${oom}; see \\.karb/logs/tight-00001-\\w+\\.log$`));
    const events = ((await (await fetch(`${up.controlUrl}/api/v1/events`, { headers: up.admin })).json()) as { items: Array<{ reason: string; service: string; message: string }> }).items;
    const crashed = events.filter((e) => e.service === 'tight' && e.reason === 'ReplicaCrashed');
    assert.ok(crashed.length > 0 && crashed.every((e) => new RegExp(oom).test(e.message)), JSON.stringify(crashed));

    await waitFor('roomy to answer an inference', async () => {
      const res = await fetch(`${up.gatewayUrl}/v2/models/roomy/infer`, { method: 'POST', headers: { ...up.auth, 'content-type': 'application/json' }, body: fraudRequest([[42.5, 14, 0.1, 3.2, 1, 0, 1, 1200]]) });
      await res.arrayBuffer();
      return res.status === 200;
    });
  });
});
