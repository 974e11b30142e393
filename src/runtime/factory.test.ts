import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isKarbError } from '../errors.ts';
import { createRuntime, type RuntimeConfig } from './factory.ts';
import { LocalRuntime } from './local/local-runtime.ts';
import { ReplicaRecordStore } from './local/replica-record.ts';

test("the 'local' kind is the embedded runtime, ready once the records an earlier karb left are dealt with", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'karb-factory-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // A record of a process that is long gone: recovery removes it before the runtime is handed out.
  new ReplicaRecordStore(join(dir, 'replicas')).write({
    version: 1, name: 'echo-00001-gone0', namespace: 'default', service: 'echo', revision: 'echo-00001', templateHash: 'x',
    template: { revision: 'echo-00001', service: 'echo', namespace: 'default', model: { format: 'oip', name: 'echo' }, command: ['true'] },
    pid: 2 ** 30, port: 1, url: 'http://127.0.0.1:1', argv: ['true'], createdAt: 0, startedAt: 0, restarts: 0,
  });
  const runtime = await createRuntime({ kind: 'local', stateDir: dir });
  t.after(() => runtime.close());
  assert.ok(runtime instanceof LocalRuntime);
  assert.deepEqual(runtime.replicas(), []);
  assert.deepEqual(new ReplicaRecordStore(join(dir, 'replicas')).readAll().records, []);
});

test('a kind karb does not know is refused with a clear error', async () => {
  await assert.rejects(createRuntime({ kind: 'nomad', stateDir: '/nonexistent' } as unknown as RuntimeConfig), (err) => isKarbError(err) && err.code === 'RUNTIME_KIND_UNKNOWN' && /local/.test(err.message));
});
