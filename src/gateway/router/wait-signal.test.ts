/**
 * The wait the gateway reports with each request (`SignalSink.requestFinished`'s `waitMs`, the
 * autoscaler's waitP95Ms): from the request's arrival to the attempt that answered going out
 * (held while cold, the gateway's queue), plus the replica's own queue when it says
 * (`x-karb-queue-ms`). Timed with real replicas; lower bounds come from holds the test makes.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SignalSink } from '../../observability/hub.ts';
import { ManualClock } from '../../util/clock.ts';
import { waitFor } from '../../util/wait-for.ts';
import { ObservableRoutingTable } from '../discovery/observable-routing-table.ts';
import type { Route } from '../discovery/routing-table.ts';
import { startGateway } from '../server/gateway.ts';
import { gatewayFor, httpClient, replica, revision, route } from '../server/test-support.ts';

interface Finished {
  revision: string;
  status: number;
  latencyMs: number;
  waitMs: number;
}

/** A SignalSink that keeps what the gateway reports of each finished attempt. */
function recordingSink(): { sink: SignalSink; finished: Finished[] } {
  const finished: Finished[] = [];
  const sink: SignalSink = {
    requestStarted: () => {},
    requestFinished: (_service, revision, _endpoint, latencyMs, status, _depth, waitMs = -1) => void finished.push({ revision, status, latencyMs, waitMs }),
    heldChanged: () => {},
    requestRefused: () => {},
  };
  return { sink, finished };
}

const HELD_MS = 150;

describe('the wait the gateway reports', () => {
  const client = httpClient();
  after(() => client.close());

  it('of a request held while its service starts: the hold, and the replica’s own queue from x-karb-queue-ms', async (t) => {
    const table = new ObservableRoutingTable();
    table.replace([route('cold', [revision('cold-00001', 100, [])])]);
    const cold: Route[] = [];
    const { sink, finished } = recordingSink();
    const gateway = await startGateway({
      routingTable: table,
      port: 0,
      clock: new ManualClock(1_000_000),
      signals: sink,
      hold: { onTableChange: (l) => table.onReplace(l), onColdRequest: (r) => cold.push(r), timeoutMs: () => 60_000 },
    });
    t.after(() => gateway.close());
    // The replica says the request waited 40 ms in its queue, and takes that long to answer.
    const started = await replica(t, (_req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json', 'x-karb-queue-ms': '40' });
        res.end('{}');
      }, 40);
    });

    const sentAt = performance.now();
    const reply = client.send(`${gateway.url}/v2/models/cold/infer`, { method: 'POST', body: '{}' });
    await waitFor('the request to be held', () => cold.length === 1);
    await sleep(HELD_MS); // the replica starting
    table.replace([route('cold', [revision('cold-00001', 100, [started.url])])]);
    const r = await reply;
    const elapsed = performance.now() - sentAt;

    assert.equal(r.status, 200);
    assert.equal(finished.length, 1);
    const { waitMs, latencyMs, revision: rev } = finished[0]!;
    assert.equal(rev, 'cold-00001');
    assert.ok(waitMs >= HELD_MS + 40, `the hold and the replica's 40 ms count: ${waitMs} ms`);
    assert.ok(waitMs <= elapsed, `no more than the caller waited in all: ${waitMs} ms of ${elapsed} ms`);
    assert.ok(latencyMs <= elapsed - HELD_MS, `its latency starts at the release, the hold is not in it: ${latencyMs} ms`);
  });

  it('of a request in the gateway’s queue, from a replica whose own queue was empty', async (t) => {
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
    let calls = 0;
    const plain = await replica(t, (_req, res) => {
      const answer = (): void => {
        res.writeHead(200, { 'content-type': 'application/json', 'x-karb-queue-ms': '0' });
        res.end('{}');
      };
      if (calls++ === 0) void firstHeld.then(answer);
      else answer();
    });
    const { sink, finished } = recordingSink();
    const { gw } = await gatewayFor(t, [{ ...route('q', [revision('q-00001', 100, [plain.url])]), concurrencyLimit: 1 }], { signals: sink });
    const url = `${gw.url}/v2/models/q/infer`;

    const first = client.send(url, { method: 'POST', body: '{}' });
    await waitFor('the first request at the replica', () => plain.seen.length === 1);
    const second = client.send(url, { method: 'POST', body: '{}' });
    await waitFor('the second request in the gateway queue', async () => /karb_gateway_queue_depth\{service="q"\} 1/.test(await gw.metrics()));
    await sleep(HELD_MS); // the replica's only slot busy
    releaseFirst();
    const replies = await Promise.all([first, second]);
    assert.deepEqual(replies.map((r) => r.status), [200, 200]);

    assert.equal(finished.length, 2);
    const [a, b] = finished;
    assert.ok(a!.waitMs >= 0 && a!.waitMs < HELD_MS, `the first went out at once: ${a!.waitMs} ms`);
    assert.ok(b!.waitMs >= HELD_MS, `the second waited in the gateway for the slot: ${b!.waitMs} ms`);
  });

  it('none from a replica that says nothing of its own queue: a wait without it would read as no waiting', async (t) => {
    const silent = await replica(t, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    const { sink, finished } = recordingSink();
    const { gw } = await gatewayFor(t, [route('s', [revision('s-00001', 100, [silent.url])])], { signals: sink });
    const reply = await client.send(`${gw.url}/v2/models/s/infer`, { method: 'POST', body: '{}' });
    assert.equal(reply.status, 200);
    assert.deepEqual(finished.map((f) => [f.status, f.waitMs]), [[200, -1]]);
  });

  it('only for the attempt that answered: a retried attempt has none, the retry’s counts the time before it', async (t) => {
    let calls = 0;
    const flaky = await replica(t, (_req, res) => {
      if (calls++ === 0) {
        // Overloaded, and slow to say so.
        setTimeout(() => {
          res.writeHead(503, { 'content-type': 'application/json' });
          res.end('{}');
        }, 100);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'x-karb-queue-ms': '2.5' });
      res.end('{}');
    });
    const { sink, finished } = recordingSink();
    const { gw } = await gatewayFor(t, [route('r', [revision('r-00001', 100, [flaky.url])])], { signals: sink });
    const sentAt = performance.now();
    const reply = await client.send(`${gw.url}/v2/models/r/infer`, { method: 'POST', body: '{}' });
    const elapsed = performance.now() - sentAt;

    assert.equal(reply.status, 200);
    assert.deepEqual(finished.map((f) => f.status), [503, 200], 'both attempts are reported');
    assert.equal(finished[0]!.waitMs, -1, 'the attempt that was retried has no wait');
    const wait = finished[1]!.waitMs;
    assert.ok(wait >= 100 + 2.5, `the caller waited through the first attempt, and the replica's 2.5 ms: ${wait} ms`);
    // The replica's 2.5 ms is its word (it answers at once), so only the gateway's part is bounded by what the caller saw.
    assert.ok(wait - 2.5 <= elapsed, `no more than the caller waited in all: ${wait} ms of ${elapsed} ms`);
  });
});
