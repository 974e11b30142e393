/**
 * The drift watch on a fake clock and fake replicas: the condition follows the replicas' reports,
 * an event is recorded once per transition, Unknown readings (replicas restarting) do not repeat
 * events, and services karb's server does not run are left alone.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DriftWatch, driftTransition } from './drift-watch.ts';
import type { DriftReport } from '../observability/drift/monitor.ts';
import type { DriftVerdict } from '../observability/drift/verdict.ts';
import { ManualClock } from '../util/clock.ts';
import { parseInferenceService } from '../api/index.ts';

const service = (name: string, model: Record<string, unknown>) =>
  parseInferenceService({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name }, spec: { model } });

const monitoring = (psi: Record<string, number>): DriftReport => ({
  state: 'monitoring',
  reference: { rows: 1000, source: 'file' },
  windowRows: 1000,
  inputs: Object.entries(psi).map(([name, value]) => ({ name, kind: 'continuous' as const, psi: value, ks: 0 })),
  outputs: [],
});

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
    watch.stop();
    clock.advance(5000);
    await new Promise((r) => setImmediate(r));
    assert.equal(reads, 1);
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
