import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeApiError } from './api-client.ts';
import { WriteBehind } from './write-behind.ts';

/** A write that waits for `open()` and records its name when it is sent and when it is done. */
function gated(log: string[], name: string) {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  return {
    open,
    write: async () => {
      log.push(`start ${name}`);
      await gate;
      log.push(`done ${name}`);
    },
  };
}

test('a newer write for a key replaces one not yet sent; a lane sends its keys one at a time, in the order they were dirtied', async () => {
  const sent: string[] = [];
  const first = gated(sent, 'a1');
  const writes = new WriteBehind();
  writes.schedule('a', 'svc', first.write);
  writes.schedule('b', 'svc', async () => void sent.push('b1'));
  writes.schedule('b', 'svc', async () => void sent.push('b2'));
  writes.schedule('c', 'svc', async () => void sent.push('c1'));
  assert.equal(writes.size, 3);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(sent, ['start a1'], 'the lane waits for its write in flight');
  first.open();
  await writes.flush();
  assert.deepEqual(sent, ['start a1', 'done a1', 'b2', 'c1']);
  assert.equal(writes.size, 0);
});

test('lanes go side by side, never more than inFlight writes at once', async () => {
  const log: string[] = [];
  const writes = new WriteBehind({ inFlight: 2 });
  const slow = ['x', 'y', 'z'].map((lane) => gated(log, lane));
  slow.forEach((g, i) => writes.schedule(`k${i}`, ['x', 'y', 'z'][i]!, g.write));
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(log, ['start x', 'start y'], 'two in flight, the third waits');
  slow[0]!.open();
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(log, ['start x', 'start y', 'done x', 'start z']);
  slow[1]!.open();
  slow[2]!.open();
  await writes.flush();
  assert.equal(log.length, 6);
});

test('a failed write is retried before the rest of its lane; one refused for good (a 4xx) is dropped and logged, a 404 silently', async () => {
  const logs: Array<Record<string, unknown>> = [];
  const sent: string[] = [];
  const writes = new WriteBehind({ log: (r) => logs.push(r) });
  let tries = 0;
  writes.schedule('spec', 'svc', async () => {
    if (++tries < 2) throw new Error('connection reset');
    sent.push('spec');
  });
  writes.schedule('revision', 'svc', async () => void sent.push('revision'));
  writes.schedule('invalid', 'other', async () => {
    throw new KubeApiError(422, 'Invalid', 'status.replicas: must be an integer');
  });
  writes.schedule('gone', 'third', async () => {
    throw new KubeApiError(404, 'NotFound', 'not found');
  });
  await writes.flush();
  assert.equal(tries, 2);
  assert.deepEqual(sent, ['spec', 'revision'], 'the revision still goes after its service');
  assert.deepEqual(logs.map((l) => l.msg).sort(), ['the API server refused a write', 'write to the API server failed; retrying']);
  assert.equal(writes.size, 0);
});

test('a write replaced while its older version failed is retried as the newer one, once', async () => {
  const sent: string[] = [];
  const writes = new WriteBehind({ log: () => {} });
  writes.schedule('status', 'svc', async () => {
    writes.schedule('status', 'svc', async () => void sent.push('status v2'));
    throw new Error('connection reset');
  });
  await writes.flush();
  assert.deepEqual(sent, ['status v2']);
  assert.equal(writes.size, 0);
});

test('close drops what is queued', async () => {
  const sent: string[] = [];
  const writes = new WriteBehind();
  writes.schedule('a', 'svc', async () => void sent.push('a'));
  writes.close();
  writes.schedule('b', 'svc', async () => void sent.push('b'));
  await writes.flush();
  assert.deepEqual(sent, []);
  assert.equal(writes.size, 0);
});
