/**
 * The requests the gateway reports as refused (`SignalSink.requestRefused`, the autoscaler's
 * refusedRate): turned away before a replica began them for want of capacity — the wait queue or
 * the hold full, or waited past the deadline or the hold's timeout — and never for the caller's
 * own key, limit or model. Real replicas; time that matters runs on a manual clock.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { KeyStore } from '../../control/key-store.ts';
import { SignalHub, teeSignals, type SignalSink } from '../../observability/hub.ts';
import { ManualClock } from '../../util/clock.ts';
import { waitFor } from '../../util/wait-for.ts';
import { ObservableRoutingTable } from '../discovery/observable-routing-table.ts';
import type { Route } from '../discovery/routing-table.ts';
import { StoreKeyResolver } from '../edge/key-resolver.ts';
import { startGateway } from '../server/gateway.ts';
import { gatewayFor, httpClient, replica, revision, route } from '../server/test-support.ts';

/** A SignalSink that keeps the services of the requests refused, and counts what finished. */
function recordingSink(): { sink: SignalSink; refused: string[]; finished: () => number } {
  const refused: string[] = [];
  let finished = 0;
  const sink: SignalSink = {
    requestStarted: () => {},
    requestFinished: () => void finished++,
    heldChanged: () => {},
    requestRefused: (service) => void refused.push(service),
  };
  return { sink, refused, finished: () => finished };
}

/** A replica that answers nothing until `release()`, then everything. */
async function holdingReplica(t: Parameters<typeof replica>[0]) {
  const held: ServerResponse[] = [];
  let open = false;
  const answer = (res: ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  };
  const r = await replica(t, (_req, res) => {
    if (open) answer(res);
    else held.push(res);
  });
  return {
    url: r.url,
    held,
    release(): void {
      open = true;
      for (const res of held.splice(0)) answer(res);
    },
  };
}

describe('requests the gateway refuses', () => {
  const client = httpClient();
  after(() => client.close());
  const infer = (url: string, model: string, headers: Record<string, string> = {}) =>
    client.send(`${url}/v2/models/${model}/infer`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{}' });

  it('one for each request turned away at a full wait queue, 503 and 429 alike, recorded on the serving revision', async (t) => {
    const busy = await holdingReplica(t);
    const busyToo = await holdingReplica(t);
    const { sink, refused } = recordingSink();
    const hubClock = new ManualClock(1_000_000);
    const hub = new SignalHub({ clock: hubClock });
    hub.track('m', ['m-1'], { stableWindowMs: 10_000, panicWindowMs: 2_000 });
    const { gw } = await gatewayFor(
      t,
      [
        { ...route('m', [revision('m-1', 100, [busy.url])]), concurrencyLimit: 1 },
        { ...route('a', [revision('a-1', 100, [busyToo.url])]), concurrencyLimit: 1, asyncEnabled: true },
      ],
      { signals: teeSignals(sink, hub), routing: { queueBound: 1 } },
    );

    const first = [infer(gw.url, 'm'), infer(gw.url, 'm')];
    await waitFor('one at the replica and one waiting', () => busy.held.length === 1 && gw.queueDepth('m') === 1);
    assert.deepEqual(refused, [], 'waiting is not refused');
    const over = await infer(gw.url, 'm');
    assert.equal(over.status, 503);
    assert.match((over.json() as { error: string }).error, /wait queue is full/);
    assert.deepEqual(refused, ['m']);

    // A service that takes async jobs answers 429 at its full queue: still capacity, still counted.
    const second = [infer(gw.url, 'a'), infer(gw.url, 'a')];
    await waitFor('the async service’s queue to fill', () => busyToo.held.length === 1 && gw.queueDepth('a') === 1);
    const hinted = await infer(gw.url, 'a');
    assert.equal(hinted.status, 429);
    assert.deepEqual(refused, ['m', 'a']);

    busy.release();
    busyToo.release();
    for (const r of await Promise.all([...first, ...second])) assert.equal(r.status, 200);
    assert.deepEqual(refused, ['m', 'a'], 'the requests that waited their turn and were served are not refusals');
    // The hub's windows read it: one refusal over the minimum observed span of one bucket (1 s).
    const w = hub.recorder('m-1')!.windows(hubClock.now());
    assert.equal(w.stable.refusedRate, 1);
    assert.equal(w.panic.refusedRate, 1);
  });

  it('one for a request whose deadline passes while it waits in the queue, none for the one a replica began', async (t) => {
    const busy = await holdingReplica(t);
    const clock = new ManualClock(1_000_000);
    const { sink, refused } = recordingSink();
    const { gw } = await gatewayFor(t, [{ ...route('q', [revision('q-1', 100, [busy.url])]), concurrencyLimit: 1 }], { signals: sink, clock });

    const begun = infer(gw.url, 'q', { 'x-karb-timeout-ms': '60000' });
    await waitFor('the first request at the replica', () => busy.held.length === 1);
    const waiting = infer(gw.url, 'q', { 'x-karb-timeout-ms': '1000' });
    await waitFor('the second in the gateway queue', () => gw.queueDepth('q') === 1);
    clock.advance(999);
    assert.deepEqual(refused, [], 'not before its deadline');
    clock.advance(1);
    const late = await waiting;
    assert.equal(late.status, 504);
    assert.equal(gw.queueDepth('q'), 0);
    assert.deepEqual(refused, ['q']);

    // The request a replica began and that then runs out of time is answered late, not refused.
    clock.advance(59_000);
    assert.equal((await begun).status, 504);
    assert.deepEqual(refused, ['q']);
  });

  it('one for a request held past the hold’s timeout and one for each refused at the hold’s bound', async (t) => {
    const table = new ObservableRoutingTable();
    table.replace([route('cold', [revision('cold-1', 100, [])])]);
    const clock = new ManualClock(1_000_000);
    const cold: Route[] = [];
    const { sink, refused } = recordingSink();
    const gateway = await startGateway({
      routingTable: table,
      port: 0,
      clock,
      signals: sink,
      hold: { onTableChange: (l) => table.onReplace(l), onColdRequest: (r) => cold.push(r), timeoutMs: () => 2_000, maxHeldPerService: 1 },
    });
    t.after(() => gateway.close());

    const held = infer(gateway.url, 'cold');
    await waitFor('the request to be held', () => cold.length === 1);
    const bounced = await infer(gateway.url, 'cold');
    assert.equal(bounced.status, 503);
    assert.match((bounced.json() as { error: string }).error, /already holds 1 requests/);
    assert.deepEqual(refused, ['cold'], 'refused at the hold’s bound');

    clock.advance(1_999);
    assert.deepEqual(refused, ['cold']);
    clock.advance(1);
    const timedOut = await held;
    assert.equal(timedOut.status, 503);
    assert.match((timedOut.json() as { error: string }).error, /no ready replica within 2000 ms/);
    assert.deepEqual(refused, ['cold', 'cold']);
  });

  it('none for a bad key (401), an unknown model (404) or the edge’s rate limit (429): the caller’s, not capacity', async (t) => {
    const ok = await replica(t, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    const clock = new ManualClock(Date.parse('2026-06-01T00:00:00Z'));
    const keys = new KeyStore(':memory:', { clock });
    t.after(() => keys.close());
    const { sink, refused, finished } = recordingSink();
    const limited: Route = { ...route('lim', [revision('lim-1', 100, [ok.url])]), namespace: 'default', rateLimit: { requestsPerSecond: 1, burst: 1 } };
    const { gw } = await gatewayFor(t, [limited], { signals: sink, clock, edge: { keys: new StoreKeyResolver(keys) } });
    const key = { authorization: `Bearer ${keys.create({ namespace: 'default' }).key}` };

    assert.equal((await infer(gw.url, 'lim')).status, 401);
    assert.equal((await infer(gw.url, 'no-such-model', key)).status, 404);
    assert.equal((await infer(gw.url, 'lim', key)).status, 200);
    assert.equal((await infer(gw.url, 'lim', key)).status, 429);
    assert.equal(finished(), 1, 'only the one request reached a replica');
    assert.deepEqual(refused, []);
  });
});
