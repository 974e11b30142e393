/**
 * The drift watch on a fake clock and fake replicas: the condition follows the replicas' reports,
 * an event is recorded once per transition, Unknown readings (replicas restarting) do not repeat
 * events, and services karb's server does not run are left alone. Services are read side by side,
 * a replica that does not answer is given up on, and stop() waits for the reading in flight, which
 * then writes nothing. A new threshold applies at once and makes no revision. A DriftResolved judged
 * on learned references says it may be wrong.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DriftWatch, LEARNED_CAVEAT, driftTransition, readDrift } from './drift-watch.ts';
import { SqliteStore } from './sqlite-store.ts';
import type { DriftReport } from '../observability/drift/monitor.ts';
import type { DriftVerdict } from '../observability/drift/verdict.ts';
import type { Endpoint } from '../runtime/types.ts';
import { ManualClock } from '../util/clock.ts';
import { parseInferenceService } from '../api/index.ts';

const service = (name: string, model: Record<string, unknown>) =>
  parseInferenceService({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name }, spec: { model } });

const monitoring = (psi: Record<string, number>, source = 'file'): DriftReport => ({
  state: 'monitoring',
  reference: { rows: 1000, source },
  windowRows: 1000,
  inputs: Object.entries(psi).map(([name, value]) => ({ name, kind: 'continuous' as const, psi: value, ks: 0 })),
  outputs: [],
});

const endpoint = (s: string, url: string): Endpoint => ({ replica: `${s}-00001-a`, revision: `${s}-00001`, service: s, namespace: 'default', url });

describe('DriftWatch', () => {
  it('sets the Drift condition from the replicas and records one event per transition', async () => {
    const clock = new ManualClock(0);
    const events: Array<{ type: string; reason: string; message: string; service: string }> = [];
    let changes = 0;
    let reports: Record<string, DriftReport | undefined> = {};
    const urls: string[] = [];
    const watch = new DriftWatch({
      store: {
        listServices: () => [service('fraud', { uri: 'file://models/fraud-v1.onnx', drift: { threshold: 0.2 } }), service('custom', { format: 'oip', command: ['srv'] })],
        addEvent: (e) => events.push(e),
      },
      runtime: { endpoints: ({ service: s }) => (s === 'fraud' ? [{ replica: 'fraud-00001-a', revision: 'fraud-00001', service: s, namespace: 'default', url: 'http://127.0.0.1:1' }] : [{ replica: 'custom-x', revision: 'custom-00001', service: s, namespace: 'default', url: 'http://127.0.0.1:2' }]) },
      clock,
      onChange: () => changes++,
      read: async (url) => {
        urls.push(url);
        return reports[url];
      },
    });

    reports = { 'http://127.0.0.1:1': monitoring({ amount_usd: 0.01, hour_of_day: 0.02 }) };
    await watch.tick();
    assert.deepEqual(watch.condition('default', 'fraud'), { type: 'Drift', status: 'False', reason: 'NoDrift', message: "every input feature's PSI is at most 0.2" });
    assert.equal(watch.condition('default', 'custom'), undefined, 'a custom server measures no drift');
    assert.ok(urls.every((u) => u === 'http://127.0.0.1:1'), 'only the built-in server is read');
    assert.equal(events.length, 0);
    assert.equal(changes, 1);

    reports = { 'http://127.0.0.1:1': monitoring({ amount_usd: 0.3, hour_of_day: 0.02 }) };
    await watch.tick();
    assert.equal(watch.condition('default', 'fraud')?.status, 'True');
    assert.match(watch.condition('default', 'fraud')?.message ?? '', /input features: amount_usd;/);
    assert.deepEqual(events.map((e) => [e.type, e.reason, e.service]), [['Warning', 'Drift', 'fraud']]);
    const reading = watch.reading('default', 'fraud');
    assert.equal(reading?.threshold, 0.2);
    assert.deepEqual(reading?.replicas.map((r) => [r.replica, r.revision, r.report?.state]), [['fraud-00001-a', 'fraud-00001', 'monitoring']]);
    assert.equal(watch.reading('default', 'custom'), undefined);
    assert.match(events[0]!.message, /^input features drifted: amount_usd/);

    // Still drifted (another value, same feature): no new event, no status change.
    reports = { 'http://127.0.0.1:1': monitoring({ amount_usd: 0.5, hour_of_day: 0.02 }) };
    await watch.tick();
    assert.equal(events.length, 1);
    assert.equal(changes, 2);

    // The replica restarts (no answer), then reports the same drift: still one event.
    reports = {};
    await watch.tick();
    assert.equal(watch.condition('default', 'fraud')?.reason, 'NoReport');
    reports = { 'http://127.0.0.1:1': monitoring({ amount_usd: 0.5, hour_of_day: 0.02 }) };
    await watch.tick();
    assert.equal(events.length, 1);

    reports = { 'http://127.0.0.1:1': monitoring({ amount_usd: 0.05, hour_of_day: 0.02 }) };
    await watch.tick();
    assert.deepEqual(events.map((e) => e.reason), ['Drift', 'DriftResolved']);
    assert.doesNotMatch(events[1]!.message, /learned/, 'judged on a reference file: nothing to warn of');
  });

  it('says so when a DriftResolved was judged on references the replicas learned themselves', async () => {
    const events: Array<{ reason: string; message: string }> = [];
    const LEARNED = 'learned from the first 1000 rows served';
    let report = monitoring({ amount_usd: 0.6 }, LEARNED);
    const watch = new DriftWatch({
      store: { listServices: () => [service('fraud', { uri: 'file://models/fraud-v1.onnx' })], addEvent: (e) => events.push(e) },
      runtime: { endpoints: () => [endpoint('fraud', 'http://new-replica')] },
      clock: new ManualClock(0),
      onChange: () => undefined,
      read: async () => report,
    });
    await watch.tick();
    // The replica that saw the drift is replaced by one that learned the drifted inputs.
    report = monitoring({ amount_usd: 0.01 }, LEARNED);
    await watch.tick();
    assert.deepEqual(events.map((e) => e.reason), ['Drift', 'DriftResolved']);
    assert.ok(events[1]!.message.endsWith(LEARNED_CAVEAT), events[1]!.message);
  });

  it('reads on its interval, and not after stop', async () => {
    const clock = new ManualClock(0);
    let reads = 0;
    const watch = new DriftWatch({
      store: { listServices: () => [service('fraud', { uri: 'file://models/fraud-v1.onnx' })], addEvent: () => undefined },
      runtime: { endpoints: () => [{ replica: 'r', revision: 'fraud-00001', service: 'fraud', namespace: 'default', url: 'http://x' }] },
      clock,
      intervalMs: 1000,
      onChange: () => undefined,
      read: async () => {
        reads++;
        return undefined;
      },
    });
    watch.start();
    clock.advance(999);
    assert.equal(reads, 0);
    clock.advance(1);
    await new Promise((r) => setImmediate(r));
    assert.equal(reads, 1);
    await watch.stop();
    clock.advance(5000);
    await new Promise((r) => setImmediate(r));
    assert.equal(reads, 1);
  });

  it('reads services side by side: a replica that has not answered holds up no other service', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const asked: string[] = [];
    const watch = new DriftWatch({
      store: { listServices: () => [service('slow', { uri: 'file://models/a.onnx' }), service('fast', { uri: 'file://models/b.onnx' })], addEvent: () => undefined },
      runtime: { endpoints: ({ service: s }) => [endpoint(s, `http://${s}`)] },
      clock: new ManualClock(0),
      onChange: () => undefined,
      read: async (url) => {
        asked.push(url);
        if (url === 'http://slow') await held;
        return monitoring({ x: 0.01 });
      },
    });
    const reading = watch.tick();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(asked, ['http://slow', 'http://fast'], 'the second service is asked while the first has not answered');
    release();
    await reading;
    assert.equal(watch.condition('default', 'fast')?.status, 'False');
  });

  it('stop() waits for the reading in flight, aborts its calls, and that reading writes nothing', async () => {
    const clock = new ManualClock(0);
    const events: unknown[] = [];
    let changes = 0;
    let storeClosed = false;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const signals: AbortSignal[] = [];
    const watch = new DriftWatch({
      store: {
        listServices: () => [service('fraud', { uri: 'file://models/fraud-v1.onnx' })],
        addEvent: (e) => {
          assert.equal(storeClosed, false, 'no event is written after the store closed');
          events.push(e);
        },
      },
      runtime: { endpoints: () => [endpoint('fraud', 'http://x')] },
      clock,
      intervalMs: 1000,
      onChange: () => changes++,
      // A replica that answers (drifted) only when released, whatever the signal says.
      read: async (_url, _model, signal) => {
        signals.push(signal);
        await held;
        return monitoring({ amount_usd: 0.9 });
      },
    });
    watch.start();
    clock.advance(1000);
    await new Promise((r) => setImmediate(r));
    assert.equal(signals.length, 1, 'a reading is in flight');
    let stopped = false;
    const stopping = watch.stop().then(() => (stopped = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(signals[0]!.aborted, true, "the replica call's signal is aborted");
    assert.equal(stopped, false, 'stop() waits for the reading in flight');
    release();
    await stopping;
    storeClosed = true;
    assert.deepEqual(events, [], 'the cut-short reading recorded no event');
    assert.equal(changes, 0, 'nor asked for a reconcile');
    assert.equal(watch.condition('default', 'fraud'), undefined);
    await watch.tick();
    watch.start();
    clock.advance(10_000);
    await new Promise((r) => setImmediate(r));
    assert.equal(signals.length, 1, 'a stopped watch reads no more');
  });

  it('applies a new threshold at the next reading, and the new threshold makes no revision', async () => {
    const clock = new ManualClock(0);
    const store = new SqliteStore(':memory:', { clock });
    try {
      const fraud = (threshold: number) => service('fraud', { uri: 'file://models/fraud-v1.onnx', drift: { windowRows: 2000, threshold } });
      store.apply(fraud(0.25));
      const watch = new DriftWatch({
        store,
        runtime: { endpoints: () => [endpoint('fraud', 'http://x')] },
        clock,
        onChange: () => undefined,
        read: async () => monitoring({ amount_usd: 0.2 }),
      });
      await watch.tick();
      assert.equal(watch.condition('default', 'fraud')?.status, 'False');

      const applied = store.apply(fraud(0.15));
      assert.equal(applied.changed, true, 'the generation moves');
      assert.equal(applied.newRevision, undefined, 'no new revision: replicas never see the threshold');
      assert.deepEqual(store.listRevisions('default', 'fraud').map((r) => r.name), ['fraud-00001']);
      await watch.tick();
      assert.equal(watch.condition('default', 'fraud')?.status, 'True', 'judged against 0.15 now');
      assert.equal(watch.reading('default', 'fraud')?.threshold, 0.15);

      assert.ok(store.apply(service('fraud', { uri: 'file://models/fraud-v1.onnx', drift: { windowRows: 4000, threshold: 0.15 } })).newRevision, 'what the replica measures still makes one');
    } finally {
      store.close();
    }
  });
});

describe('readDrift', () => {
  it('gives up on a replica that accepts the connection but never answers', { timeout: 20_000 }, async () => {
    const server = createServer(() => {
      // Never answers.
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      assert.equal(await readDrift(`http://127.0.0.1:${port}`, 'fraud', undefined, 100), undefined, 'no report once the timeout passed');
      const stopping = new AbortController();
      const read = readDrift(`http://127.0.0.1:${port}`, 'fraud', stopping.signal, 60_000);
      stopping.abort();
      assert.equal(await read, undefined, 'no report once the watch stopped');
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('driftTransition', () => {
  const v = (status: DriftVerdict['status'], features: string[] = []): DriftVerdict => ({ status, reason: status === 'True' ? 'FeatureDrift' : status === 'False' ? 'NoDrift' : 'NoReport', message: 'm', features });
  const cases: Array<[string, Parameters<typeof driftTransition>[0], DriftVerdict, string | undefined]> = [
    ['first drift: a Warning', undefined, v('True', ['a']), 'Warning Drift'],
    ['other features drift: a Warning again', { verdict: v('True', ['a']), known: ['a'] }, v('True', ['a', 'b']), 'Warning Drift'],
    ['same features: nothing', { verdict: v('True', ['a']), known: ['a'] }, v('True', ['a']), undefined],
    ['back under: Normal DriftResolved', { verdict: v('True', ['a']), known: ['a'] }, v('False'), 'Normal DriftResolved'],
    ['no drift, as before: nothing', { verdict: v('False'), known: [] }, v('False'), undefined],
    ['unknown: nothing, and what was known is kept', { verdict: v('True', ['a']), known: ['a'] }, v('Unknown'), undefined],
  ];
  for (const [what, previous, verdict, event] of cases) {
    it(what, () => {
      const next = driftTransition(previous, verdict);
      assert.equal(next.event ? `${next.event.type} ${next.event.reason}` : undefined, event);
      if (verdict.status === 'Unknown') assert.deepEqual(next.state.known, previous?.known);
    });
  }
});
