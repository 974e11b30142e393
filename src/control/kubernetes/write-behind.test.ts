import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeApiError } from '../../runtime/kubernetes/api-client.ts';
import { WriteBehind } from './write-behind.ts';

test('a newer write for a key replaces one not yet sent; keys go out in the order they were dirtied', async () => {
  const sent: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const writes = new WriteBehind();
  writes.schedule('a', async () => {
    await gate;
    sent.push('a1');
  });
  writes.schedule('b', async () => void sent.push('b1'));
  writes.schedule('b', async () => void sent.push('b2'));
  writes.schedule('c', async () => void sent.push('c1'));
  release();
  await writes.flush();
  assert.deepEqual(sent, ['a1', 'b2', 'c1']);
});

test('a failed write is retried; one refused for good (a 4xx) is dropped and logged, a 404 silently', async () => {
  const logs: Array<Record<string, unknown>> = [];
  const writes = new WriteBehind((r) => logs.push(r));
  let tries = 0;
  writes.schedule('flaky', async () => {
    if (++tries < 2) throw new Error('connection reset');
  });
  writes.schedule('invalid', async () => {
    throw new KubeApiError(422, 'Invalid', 'status.replicas: must be an integer');
  });
  writes.schedule('gone', async () => {
    throw new KubeApiError(404, 'NotFound', 'not found');
  });
  await writes.flush();
  assert.equal(tries, 2);
  assert.deepEqual(logs.map((l) => l.msg), ['write to the API server failed; retrying', 'the API server refused a write']);
  assert.equal(writes.size, 0);
});
