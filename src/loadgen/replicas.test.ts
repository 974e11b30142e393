import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../util/clock.ts';
import { waitFor } from '../util/wait-for.ts';
import { countReady, replicasUrl, startReplicaPoller } from './replicas.ts';
import { startTestServer } from './test-server.ts';

test('the replicas endpoint is found from a control plane base URL', () => {
  assert.equal(replicasUrl('http://127.0.0.1:8081'), 'http://127.0.0.1:8081/api/v1/replicas');
  assert.equal(replicasUrl('http://cp:8081/'), 'http://cp:8081/api/v1/replicas');
  assert.equal(replicasUrl('http://cp:8081/api/v1/replicas', 'fraud'), 'http://cp:8081/api/v1/replicas?service=fraud');
  assert.equal(replicasUrl('http://cp/karb', 'a'), 'http://cp/karb/api/v1/replicas?service=a');
});

test('only Ready replicas count; a service seen before stays at 0 when its replicas are gone', () => {
  const answer = {
    items: [
      { service: 'fraud', phase: 'Ready' },
      { service: 'fraud', phase: 'Ready' },
      { service: 'fraud', phase: 'Draining' },
      { service: 'chat', phase: 'Starting' },
    ],
  };
  assert.deepEqual(countReady(answer), { fraud: 2, chat: 0 });
  assert.deepEqual(countReady({ items: [] }, ['fraud']), { fraud: 0 });
  assert.throws(() => countReady({ services: [] }), /no "items" list; is this a karb control plane\?/);
});

test('the poller records samples from a real endpoint and counts failed polls without stopping', async () => {
  let fail = false;
  const server = await startTestServer((_req, res) => {
    res.writeHead(fail ? 500 : 200, { 'content-type': 'application/json' });
    res.end(fail ? '{"error":"x"}' : JSON.stringify({ items: [{ service: 'fraud', phase: 'Ready' }] }));
  });
  const clock = new ManualClock(1000);
  const poller = startReplicaPoller({ url: replicasUrl(server.url), clock, intervalMs: 1000 });
  try {
    await waitFor('the first sample', () => poller.samples.length === 1);
    assert.deepEqual(poller.samples[0], { at: 1000, ready: { fraud: 1 } });
    fail = true;
    await waitFor('the next poll to be scheduled', () => clock.pendingTimers() === 1);
    clock.advance(1000);
    await waitFor('the failed poll to be counted', () => poller.failures.count === 1);
    assert.match(poller.failures.last ?? '', /answered 500/);
    fail = false;
    await waitFor('the next poll to be scheduled again', () => clock.pendingTimers() === 1);
    clock.advance(1000);
    await waitFor('the second sample', () => poller.samples.length === 2);
    assert.equal(poller.samples[1]!.at, 3000);
  } finally {
    await poller.stop();
    await server.close();
  }
});
