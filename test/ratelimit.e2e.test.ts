/**
 * Rate limits across gateway processes: a real redis-server, one `karb up`
 * (control plane, also started with --redis) and three `karb gateway`
 * processes fed by it. A key limited to 10 requests/s (burst 10) gets load
 * spread over the three for about 5 s: the total admitted stays within
 * burst + rate × elapsed (+ one second of slack for requests in flight), not
 * three times that. Then Redis goes away: a fail-open gateway still admits and
 * counts the backend errors, a fail-closed one answers 503.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fraudRequest, karb, ROOT, startGatewayProcess, startKarbUp, waitFor, workDir, type GatewayProcess, type KarbUp } from './helpers.ts';
import { startRedis, type TestRedis } from '../src/gateway/edge/test-redis.ts';

const ROW = [42.5, 14, 0.1, 3.2, 1, 0, 1, 1200];
const RATE = 10;
const BURST = 10;


describe('distributed rate limits: three gateways, one Redis', () => {
  const work = workDir('karb-ratelimit-');
  let redis: TestRedis | undefined;
  let up: KarbUp | undefined;
  const gateways: GatewayProcess[] = [];
  let limitedKey = '';

  before(async () => {
    redis = await startRedis();
    up = await startKarbUp(work.dir, {}, ['--redis', redis.url]);
    const applied = await karb(['apply', '-f', join(ROOT, 'examples/fraud-detector.yaml'), '--server', up.controlUrl], { cwd: work.dir });
    assert.equal(applied.code, 0, applied.stderr);
    await waitFor('fraud-detector to answer', async () => {
      const res = await fetch(`${up!.gatewayUrl}/v2/models/fraud-detector/infer`, { method: 'POST', headers: up!.auth, body: fraudRequest([ROW]) });
      return res.status === 200;
    });
    gateways.push(await startGatewayProcess(work.dir, up.controlUrl, up.adminToken, ['--redis', redis.url]));
    gateways.push(await startGatewayProcess(work.dir, up.controlUrl, up.adminToken, ['--redis', redis.url]));
    gateways.push(await startGatewayProcess(work.dir, up.controlUrl, up.adminToken, ['--redis', redis.url, '--redis-failure', 'closed']));
  });

  after(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    await up?.stop();
    await redis?.close();
    work.cleanup();
  });

  it(`admits at most burst + ${RATE}/s in total across the three`, async () => {
    const key = await karb(['keys', 'create', '--namespace', 'default', '--rps', String(RATE), '--burst', String(BURST), '--server', up!.controlUrl], { cwd: work.dir });
    assert.equal(key.code, 0, key.stderr);
    limitedKey = key.stdout.trim();
    const auth = { authorization: `Bearer ${limitedKey}`, 'content-type': 'application/json' };
    for (const g of gateways) {
      await waitFor(`${g.url} to route`, async () => {
        const res = await fetch(`${g.url}/v2/models/fraud-detector`, { headers: up!.auth });
        return res.status === 200;
      });
    }

    // About 60 requests/s offered for about 5 s, round robin over the three gateways.
    const admittedBy = [0, 0, 0];
    let refused = 0;
    const started = performance.now();
    let i = 0;
    const inflight: Promise<void>[] = [];
    while (performance.now() - started < 5000) {
      const g = i++ % 3;
      inflight.push(
        fetch(`${gateways[g]!.url}/v2/models/fraud-detector/infer`, { method: 'POST', headers: auth, body: fraudRequest([ROW]) }).then(async (res) => {
          await res.arrayBuffer();
          if (res.status === 200) admittedBy[g]!++;
          else if (res.status === 429) refused++;
          else throw new Error(`unexpected ${res.status}`);
        }),
      );
      await new Promise((r) => setTimeout(r, 16));
    }
    await Promise.all(inflight);
    const seconds = (performance.now() - started) / 1000;
    const admitted = admittedBy.reduce((a, b) => a + b, 0);
    const bound = BURST + RATE * (seconds + 1);
    process.stdout.write(`# offered ${i} over ${seconds.toFixed(2)} s; admitted ${admitted} (${admittedBy.join('/')}), refused ${refused}; bound ${bound.toFixed(0)}\n`);
    assert.ok(admitted <= bound, `admitted ${admitted} > burst + rate × (elapsed + 1 s) = ${bound}`);
    assert.ok(admitted >= RATE * seconds * 0.7, `admitted ${admitted}: the shared limit does not starve callers`);
    assert.ok(admittedBy.every((n) => n > 0), 'every gateway admitted some');
    assert.ok(refused > 0);
  });

  it('when Redis goes away, fail-open gateways admit and count it, fail-closed ones answer 503', async () => {
    await redis!.close();
    // The limited key: its bucket lives in Redis, so every request needs it.
    const headers = { authorization: `Bearer ${limitedKey}` };
    const infer = (g: GatewayProcess) => fetch(`${g.url}/v2/models/fraud-detector/infer`, { method: 'POST', headers, body: fraudRequest([ROW]) });
    const open = await infer(gateways[0]!);
    assert.equal(open.status, 200);
    const closed = await infer(gateways[2]!);
    assert.equal(closed.status, 503);
    assert.ok(closed.headers.get('retry-after'));
    const metrics = await (await fetch(`${gateways[0]!.metricsUrl}/metrics`)).text();
    assert.match(metrics, /karb_gateway_ratelimit_backend_errors_total [1-9]/);
    assert.match(gateways[0]!.output(), /rate-limit store unreachable; failing open/);
  });
});
