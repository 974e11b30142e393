/**
 * `karb up --governance FILE` with `spec.quotas`: a namespace's replicas together request at most
 * its quota, as a ResourceQuota holds them on a cluster. With a CPU quota of 1 in `default`, the
 * second of two services requesting 1 CPU each waits Pending — its Ready condition
 * ReplicasPending names the quota — and starts once the first is deleted.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { controlApi, startKarbUp, waitFor, workDir, type KarbUp } from './helpers.ts';

const GOVERNANCE = `apiVersion: karb.dev/v1alpha1
kind: Governance
spec:
  requiredLabels: []
  quotas:
    default: { cpu: "1" }
`;
/** A model server that answers every request 200. */
const SERVER = `require('http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1')`;

describe('karb up --governance: team quotas', () => {
  const work = workDir('karb-quotas-');
  let up: KarbUp;

  before(async () => {
    writeFileSync(join(work.dir, 'governance.yaml'), GOVERNANCE);
    up = await startKarbUp(work.dir, {}, ['--governance', 'governance.yaml']);
  });

  after(async () => {
    await up?.stop();
    work.cleanup();
  });

  const api = () => controlApi(up);
  const put = (name: string) =>
    api().put(name, {
      model: { format: 'oip', command: [process.execPath, '-e', SERVER], readinessPath: '/ready' },
      resources: { requests: { cpu: '1', memory: '128Mi' }, limits: { cpu: '1', memory: '256Mi' } },
      scaling: { minReplicas: 1, maxReplicas: 1 },
    });
  const replicas = (service: string) => api().replicas(service);
  const ready = (service: string) => api().ready(service);

  it("holds the second service's replica Pending at the namespace's CPU quota, and starts it once the first is deleted", async () => {
    await put('first');
    await waitFor('first ready', async () => (await replicas('first')).some((r) => r.phase === 'Ready'));
    await put('second');
    const pending = await waitFor('second pending', async () => (await replicas('second')).find((r) => r.phase === 'Pending'));
    const condition = await waitFor('second ReplicasPending', async () => {
      const c = await ready('second');
      return c?.reason === 'ReplicasPending' && c;
    });
    assert.equal(condition.status, 'False');
    assert.equal(
      condition.message,
      `second-00001: ${pending.name} cannot start yet: namespace default is at its quota: requests.cpu 1 of 1 used, this replica asks 1 (raise spec.quotas.default.cpu in the governance file, or scale another service of default down)`,
    );

    const deleted = await fetch(`${up.controlUrl}/api/v1/services/first`, { method: 'DELETE', headers: up.admin });
    assert.ok(deleted.ok, `delete answered ${deleted.status}`);
    const started = await waitFor('second ready', async () => (await replicas('second')).find((r) => r.phase === 'Ready'));
    assert.equal(started.name, pending.name, 'the pending replica itself started');
    await waitFor('second Ready condition True', async () => (await ready('second'))?.status === 'True');
  });
});
