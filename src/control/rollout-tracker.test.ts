import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseInferenceService } from '../api/index.ts';
import { SqliteStore } from './sqlite-store.ts';
import { RevisionCounters } from '../observability/revision-counters.ts';
import { RolloutTracker, type RolloutTrackerOptions } from './rollout-tracker.ts';
import type { OutputCheckTarget } from './output-checker.ts';
import type { OutputCheckResult } from '../rollout/output-check.ts';
import type { RolloutState } from '../rollout/types.ts';
import { ManualClock } from '../util/clock.ts';

const ROLLOUT = { steps: [{ weight: 20, pause: '10s' }], analysis: { interval: '5s', minRequests: 20 } };

function doc(uri: string, rollout: Record<string, unknown> = ROLLOUT) {
  return parseInferenceService({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 'svc' }, spec: { model: { uri }, rollout } });
}

function setup(path = ':memory:', outputChecks?: RolloutTrackerOptions['outputChecks']) {
  const clock = new ManualClock(1_700_000_000_000);
  const store = new SqliteStore(path);
  const counters = new RevisionCounters();
  const tracker = new RolloutTracker({ store, counters, clock, ...(outputChecks ? { outputChecks } : {}) });
  const sync = (ready: Record<string, number>, replicas = 2) => {
    const service = store.getService('default', 'svc')!;
    const state = tracker.sync(service, store.listRevisions('default', 'svc'), new Map(Object.entries(ready)), replicas);
    // What the reconciler would write: the serving revision.
    if (state) store.setStatus('default', 'svc', { ...service.status, stableRevision: state.phase === 'Succeeded' ? state.revision : state.stable });
    else store.setStatus('default', 'svc', { ...service.status, stableRevision: store.listRevisions('default', 'svc').at(-1)!.name });
    return state;
  };
  const traffic = (revision: string, n: number, errors: number) => {
    // Requests of one attempt each: analysis counts the attempt, the guard the request.
    for (let i = 0; i < n; i++) {
      counters.requestFinished('svc', revision, 'http://x', 3, i < errors ? 500 : 200);
      counters.requestAnswered('svc', revision, i < errors ? 500 : 200, 3);
    }
  };
  return { store, tracker, counters, sync, traffic, advance: (ms: number) => clock.advance(ms), events: () => store.listEvents().map((e) => e.reason) };
}

describe('RolloutTracker', () => {
  it('serves the first revision without a rollout, and starts one for the next', () => {
    const t = setup();
    t.store.apply(doc('file://a.onnx'));
    assert.equal(t.sync({ 'svc-00001': 2 }), undefined);
    t.store.apply(doc('file://b.onnx'));
    const started = t.sync({ 'svc-00001': 2 });
    assert.equal(started?.phase, 'Starting');
    assert.equal(started?.revision, 'svc-00002');
    assert.equal(started?.stable, 'svc-00001');
    assert.deepEqual(t.events(), ['RolloutStarted']);
  });

  it('judges the canary on the counters over the same window and fails it on errors', () => {
    const t = setup();
    t.store.apply(doc('file://a.onnx'));
    t.sync({ 'svc-00001': 2 });
    t.traffic('svc-00001', 1000, 0); // before the rollout: not in its window
    t.store.apply(doc('file://b.onnx'));
    t.sync({ 'svc-00001': 2, 'svc-00002': 1 });
    assert.equal(t.sync({ 'svc-00001': 2, 'svc-00002': 1 })?.phase, 'Progressing');
    t.traffic('svc-00001', 200, 0);
    t.traffic('svc-00002', 50, 10);
    t.advance(5_000);
    const failed = t.sync({ 'svc-00001': 2, 'svc-00002': 1 })!;
    assert.equal(failed.phase, 'Failed');
    assert.equal(failed.lastAnalysis?.canary.requests, 50);
    assert.equal(failed.lastAnalysis?.stable.requests, 200, 'only the window counts, not what came before');
    assert.equal(t.events().at(-1), 'RolloutFailed');
  });

  it('passes a healthy canary through its step and promotes it', () => {
    const t = setup();
    t.store.apply(doc('file://a.onnx'));
    t.sync({ 'svc-00001': 2 });
    t.store.apply(doc('file://b.onnx'));
    t.sync({ 'svc-00001': 2, 'svc-00002': 1 });
    t.traffic('svc-00001', 200, 0);
    t.traffic('svc-00002', 50, 0);
    t.advance(5_000);
    assert.equal(t.sync({ 'svc-00001': 2, 'svc-00002': 1 })?.passedInStep, 1);
    t.advance(5_000);
    assert.equal(t.sync({ 'svc-00001': 2, 'svc-00002': 1 })?.phase, 'Promoting');
    assert.equal(t.sync({ 'svc-00001': 2, 'svc-00002': 2 })?.phase, 'Succeeded');
  });

  it('supersedes an unfinished rollout when another revision arrives, keeping the same stable', () => {
    const t = setup();
    t.store.apply(doc('file://a.onnx'));
    t.sync({ 'svc-00001': 2 });
    t.store.apply(doc('file://b.onnx'));
    t.sync({ 'svc-00001': 2, 'svc-00002': 1 });
    t.store.apply(doc('file://c.onnx'));
    const next = t.sync({ 'svc-00001': 2, 'svc-00002': 1 })!;
    assert.equal(next.revision, 'svc-00003');
    assert.equal(next.stable, 'svc-00001');
    assert.equal(next.phase, 'Starting');
    assert.deepEqual(t.events().slice(-2), ['RolloutSuperseded', 'RolloutStarted']);
  });

  it('rolls out from the new revision once the previous rollout succeeded', () => {
    const t = setup();
    t.store.apply(doc('file://a.onnx', { strategy: 'immediate' }));
    t.sync({ 'svc-00001': 2 });
    t.store.apply(doc('file://b.onnx', { strategy: 'immediate' }));
    t.sync({ 'svc-00001': 2, 'svc-00002': 2 });
    t.store.apply(doc('file://c.onnx', { strategy: 'immediate' }));
    const next = t.sync({ 'svc-00002': 2 })!;
    assert.equal(next.stable, 'svc-00002');
  });

  it('takes commands, refuses those without a rollout, and keeps the rollout across a restart', () => {
    const dir = mkdtempSync(join(tmpdir(), 'karb-rollout-'));
    try {
      const t = setup(join(dir, 'karb.db'));
      t.store.apply(doc('file://a.onnx'));
      t.sync({ 'svc-00001': 2 });
      assert.throws(() => t.tracker.command(t.store.getService('default', 'svc')!, 'promote'), (err: Error & { code?: string; status?: number }) => err.code === 'NO_ROLLOUT' && err.status === 404);
      t.store.apply(doc('file://b.onnx'));
      t.sync({ 'svc-00001': 2, 'svc-00002': 1 });
      t.sync({ 'svc-00001': 2, 'svc-00002': 1 });
      assert.equal(t.tracker.command(t.store.getService('default', 'svc')!, 'pause').paused, true);
      t.store.close();

      const again = setup(join(dir, 'karb.db'));
      const persisted = again.store.getRollout<RolloutState>('default', 'svc')!;
      assert.equal(persisted.phase, 'Progressing');
      assert.equal(persisted.paused, true);
      assert.equal(again.tracker.command(again.store.getService('default', 'svc')!, 'abort').phase, 'Aborted');
      again.store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs the output check against the runtime\'s replicas once judging begins, and fails the rollout on its verdict', () => {
    const asked: OutputCheckTarget[] = [];
    const results = new Map<string, OutputCheckResult>();
    let retained: ReadonlySet<string> = new Set();
    const checker = {
      latest: (key: string) => results.get(key),
      maybeRun: (target: OutputCheckTarget) => void asked.push(target),
      retain: (keys: ReadonlySet<string>) => void (retained = keys),
    };
    const endpointUrl = (_namespace: string, revision: string) => `http://${revision}.replica`;
    const t = setup(':memory:', { checker, endpointUrl });
    const check = { outputCheck: { request: { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }] }, maxDelta: 0.01 } };
    const withCheck = { ...ROLLOUT, analysis: { ...ROLLOUT.analysis, ...check } };
    t.store.apply(doc('file://a.onnx', withCheck));
    t.sync({ 'svc-00001': 2 });
    t.store.apply(doc('file://b.onnx', withCheck));
    assert.equal(t.sync({ 'svc-00001': 2 })?.phase, 'Starting');
    assert.equal(asked.length, 0, 'nothing to compare while the new revision starts');

    assert.equal(t.sync({ 'svc-00001': 2, 'svc-00002': 1 })?.phase, 'Progressing');
    assert.equal(asked.length, 1);
    const target = asked[0]!;
    assert.equal(target.stableUrl, 'http://svc-00001.replica');
    assert.equal(target.canaryUrl, 'http://svc-00002.replica');
    assert.equal(target.intervalMs, 5_000);
    t.tracker.forgetIdleRevisions();
    assert.deepEqual([...retained], [target.key], 'the check of the rollout in progress is kept');

    t.advance(1_000);
    results.set(target.key, { verdict: 'Fail', message: 'outputs differ by up to 0.4', at: 1_700_000_000_500 });
    const failed = t.sync({ 'svc-00001': 2, 'svc-00002': 1 })!;
    assert.equal(failed.phase, 'Failed');
    assert.equal(failed.reason, 'OutputsDiverged');
    assert.equal(t.events().at(-1), 'RolloutFailed');
    t.tracker.forgetIdleRevisions();
    assert.equal(retained.size, 0, 'forgotten once the rollout is over');
  });

  describe('the guard after promotion', () => {
    const GUARDED = { strategy: 'immediate', guard: { window: '60s', minRequests: 20 } };
    /** svc-00002 replaces svc-00001 at once (immediate) and succeeds; its guard watches for 60s (short window 5s). */
    function promoted() {
      const t = setup();
      t.store.apply(doc('file://a.onnx', GUARDED));
      t.sync({ 'svc-00001': 2 });
      t.store.apply(doc('file://b.onnx', GUARDED));
      const succeeded = t.sync({ 'svc-00001': 2, 'svc-00002': 2 })!;
      assert.equal(succeeded.phase, 'Succeeded');
      assert.equal(succeeded.guard?.phase, 'Watching');
      t.tracker.forgetIdleRevisions();
      return t;
    }

    it('rolls back to the previous revision when the promoted one burns its budget fast, keeping its counters meanwhile', () => {
      const t = promoted();
      for (let i = 0; i < 4; i++) {
        t.advance(2_000);
        t.traffic('svc-00002', 20, 0);
        assert.equal(t.sync({ 'svc-00002': 2 })?.phase, 'Succeeded');
        t.tracker.forgetIdleRevisions();
      }
      t.advance(2_000);
      t.traffic('svc-00002', 50, 40); // 80% answered 500: an 80× burn against a 1% budget
      const back = t.sync({ 'svc-00002': 2 })!;
      assert.equal(back.phase, 'RolledBack');
      assert.equal(back.reason, 'GuardFastBurn');
      assert.equal(back.guard?.phase, 'Fired');
      assert.equal(back.guard?.last?.sli, 'availability');
      assert.equal(back.guard?.last?.long?.requests, 130, 'the long window counts every request since promotion');
      assert.match(back.message, /^rolled back by the guard: svc-00002's availability burn rate [\d.]+× over 10s \(130 requests\) and [\d.]+× over [\d]+s \(\d+ requests\), at or above 14\.4×/);
      assert.deepEqual(t.events().slice(-1), ['GuardRolledBack']);
      assert.equal(t.store.listEvents().at(-1)!.type, 'Warning');
      // Rolled back for good: more passes change nothing, and the counters go.
      t.advance(2_000);
      assert.deepEqual(t.sync({ 'svc-00001': 2, 'svc-00002': 2 }), back);
      t.tracker.forgetIdleRevisions();
      assert.equal(t.counters.sliSnapshot('svc-00002').requests, 0, 'forgotten once the guard is over');
    });

    it('stops watching when the window ends without a fast burn, and records that once', () => {
      const t = promoted();
      for (let i = 0; i < 31; i++) {
        t.advance(2_000);
        t.traffic('svc-00002', 20, 0);
        t.sync({ 'svc-00002': 2 });
        t.tracker.forgetIdleRevisions();
      }
      const passed = t.store.getRollout<RolloutState>('default', 'svc')!;
      assert.equal(passed.phase, 'Succeeded');
      assert.equal(passed.guard?.phase, 'Passed');
      assert.equal(t.events().filter((e) => e === 'GuardPassed').length, 1);
      t.traffic('svc-00002', 50, 50);
      t.advance(2_000);
      assert.equal(t.sync({ 'svc-00002': 2 })?.phase, 'Succeeded', 'no longer watched');
    });

    it('keeps watching across a restart: the guard is in the stored rollout, its windows count again from the next pass', () => {
      const dir = mkdtempSync(join(tmpdir(), 'karb-guard-'));
      try {
        const t = setup(join(dir, 'karb.db'));
        t.store.apply(doc('file://a.onnx', GUARDED));
        t.sync({ 'svc-00001': 2 });
        t.store.apply(doc('file://b.onnx', GUARDED));
        assert.equal(t.sync({ 'svc-00001': 2, 'svc-00002': 2 })?.guard?.phase, 'Watching');
        t.store.close();

        const again = setup(join(dir, 'karb.db'));
        again.advance(2_000);
        assert.equal(again.sync({ 'svc-00002': 2 })?.guard?.phase, 'Watching');
        again.advance(2_000);
        again.traffic('svc-00002', 30, 30);
        const back = again.sync({ 'svc-00002': 2 })!;
        assert.equal(back.phase, 'RolledBack');
        assert.equal(back.guard?.last?.long?.requests, 30, 'counted from the first pass after the restart');
        again.store.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
