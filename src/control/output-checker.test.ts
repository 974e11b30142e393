import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ManualClock } from '../util/clock.ts';
import { waitFor } from '../util/wait-for.ts';
import { OutputChecker } from './output-checker.ts';

const answer = (data: unknown[], name = 'probability', shape = [2, 1]) => ({ model_name: 'm', outputs: [{ name, datatype: 'FP32', shape, data }] });

describe('OutputChecker', () => {
  const servers: Server[] = [];
  after(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));

  /** A replica answering `reply` (status, body) and recording the requests it got. */
  async function replica(status: number, body: unknown): Promise<{ url: string; seen: Array<{ url: string; body: string }> }> {
    const seen: Array<{ url: string; body: string }> = [];
    const server = createServer((req, res) => {
      let text = '';
      req.on('data', (d) => (text += d));
      req.on('end', () => {
        seen.push({ url: req.url ?? '', body: text });
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
  }

  it('sends the same request to both revisions and records the comparison, once per interval', async () => {
    const stable = await replica(200, answer([0.1, 0.9]));
    const canary = await replica(200, answer([0.1, 0.3]));
    const clock = new ManualClock(1_000);
    const checker = new OutputChecker({ clock });
    const target = { key: 'k1', model: 'fraud', stableUrl: stable.url, canaryUrl: canary.url, request: { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }] }, maxDelta: 0.1, intervalMs: 10_000 };
    checker.maybeRun(target);
    await waitFor('a result', () => checker.latest('k1') !== undefined);
    assert.equal(checker.latest('k1')!.verdict, 'Fail');
    assert.equal(stable.seen[0]!.url, '/v2/models/fraud/infer');
    assert.equal(stable.seen[0]!.body, canary.seen[0]!.body, 'the same request to both');
    clock.advance(5_000);
    checker.maybeRun(target);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(canary.seen.length, 1, 'not again within the interval');
    clock.advance(5_000);
    checker.maybeRun(target);
    await waitFor('a second check', () => canary.seen.length === 2);
    checker.retain(new Set());
    assert.equal(checker.latest('k1'), undefined, 'forgotten once the rollout is over');
  });

  it('fails a new revision that does not answer, and never blames it for stable not answering', async () => {
    const good = await replica(200, answer([0.5]));
    const broken = await replica(500, { error: 'boom' });
    const checker = new OutputChecker({ clock: new ManualClock(1) });
    const base = { model: 'm', request: { inputs: [1] }, maxDelta: 0.1, intervalMs: 1 };
    checker.maybeRun({ ...base, key: 'down', stableUrl: good.url, canaryUrl: broken.url });
    checker.maybeRun({ ...base, key: 'stable-down', stableUrl: broken.url, canaryUrl: good.url });
    checker.maybeRun({ ...base, key: 'refused', stableUrl: good.url, canaryUrl: 'http://127.0.0.1:1' });
    await waitFor('three results', () => ['down', 'stable-down', 'refused'].every((k) => checker.latest(k) !== undefined));
    assert.match(checker.latest('down')!.message, /did not answer the check request: status 500/);
    assert.equal(checker.latest('down')!.verdict, 'Fail');
    assert.equal(checker.latest('stable-down')!.verdict, 'Pass');
    assert.match(checker.latest('refused')!.message, /did not answer the check request: ECONNREFUSED/);
  });
});
