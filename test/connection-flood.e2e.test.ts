/**
 * Connection exhaustion: a real `karb up` limited to 512 open files takes 700
 * client connections that send their headers one byte a second. Before the
 * gateway capped its connections, the flood used up the process's descriptors:
 * proxied requests failed with EMFILE and so did the readiness probes, which
 * marked every replica NotReady. Now the connections past the cap are closed on
 * arrival, a client already connected is answered throughout, no replica leaves
 * the endpoints, and the slow clients are cut at the headers timeout.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { Agent, request } from 'undici';
import { join } from 'node:path';
import { fraudRequest, ROOT, startKarbUp, waitFor, workDir, type KarbUp } from './helpers.ts';

const ROW = [42.5, 14, 0.1, 3.2, 1, 0, 1, 1200];
const FILE_LIMIT = 512;
const SLOW_CLIENTS = 700;

describe('thousands of slow connections', { timeout: 120_000 }, () => {
  const work = workDir('karb-flood-');
  let up: KarbUp;

  before(async () => {
    up = await startKarbUp(work.dir, {}, ['--headers-timeout', '3s', '-f', join(ROOT, 'examples', 'fraud-detector.yaml')], { openFileLimit: FILE_LIMIT });
    await waitFor('a ready replica', async () => (await fetch(`${up.gatewayUrl}/v2/models/fraud-detector/ready`, { headers: up.auth })).status === 200, 60_000);
  });

  after(async () => {
    await up?.stop();
    work.cleanup();
  });

  it('answers a connected client throughout, keeps every replica ready, and cuts the slow clients', async () => {
    // One keep-alive connection, opened before the flood: the client every operator wants served.
    const agent = new Agent({ connections: 1, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 });
    const infer = async () => {
      const r = await request(`${up.gatewayUrl}/v2/models/fraud-detector/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...up.auth },
        body: fraudRequest([ROW]),
        dispatcher: agent,
      });
      await r.body.text();
      return r.statusCode;
    };
    assert.equal(await infer(), 200);

    const sockets: Socket[] = [];
    let cut = 0;
    for (let i = 0; i < SLOW_CLIENTS; i++) {
      const s = connect(Number(new URL(up.gatewayUrl).port), '127.0.0.1');
      s.on('error', () => {});
      s.on('close', () => cut++);
      s.write('P'); // the first byte of "POST", and nothing more for a while
      sockets.push(s);
    }
    const drip = setInterval(() => {
      for (const s of sockets) if (!s.destroyed) s.write('O');
    }, 1000);
    try {
      // Four seconds of flood is two failed probes' worth: enough to have marked replicas NotReady.
      const statuses: number[] = [];
      const until = Date.now() + 4_000;
      while (Date.now() < until) {
        statuses.push(await infer());
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(statuses.length > 10);
      assert.deepEqual(statuses.filter((s) => s !== 200), [], 'every request of the connected client is answered');

      // The cap refused the connections past it at once; the headers timeout cuts the rest.
      await waitFor('every slow client to be cut', () => cut === SLOW_CLIENTS, 30_000);
    } finally {
      clearInterval(drip);
      for (const s of sockets) s.destroy();
    }
    const events = (await (await fetch(`${up.controlUrl}/api/v1/events`, { headers: up.admin })).json()) as { items: Array<{ reason: string }> };
    assert.deepEqual(events.items.filter((e) => e.reason === 'ReplicaNotReady'), [], 'no replica was taken out of the endpoints');

    const metrics = await (await fetch(`${up.controlUrl}/metrics`)).text();
    const dropped = Number(/karb_gateway_connections_dropped_total (\d+)/.exec(metrics)?.[1] ?? 0);
    assert.ok(dropped > 0, 'connections past the cap were dropped and counted');

    // A new client is served once the slow ones are gone.
    const fresh = await fetch(`${up.gatewayUrl}/v2/models/fraud-detector/infer`, { method: 'POST', headers: { 'content-type': 'application/json', ...up.auth }, body: fraudRequest([ROW]) });
    assert.equal(fresh.status, 200);
    await agent.close();
  });
});
