import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseInferenceService, type InferenceServiceSpec } from '../api/index.ts';
import { latencyBin } from '../observability/latency-histogram.ts';
import { emptyCounts, type WindowCounts } from '../observability/revision-counters.ts';
import { advanceRollout, applyRolloutCommand, rolloutTargets, startRollout, RolloutCommandError, type RolloutObservation } from './machine.ts';
import type { RolloutState } from './types.ts';

function spec(rollout: Record<string, unknown> = {}): InferenceServiceSpec {
  return parseInferenceService({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 'svc' }, spec: { model: { uri: 'file://m.onnx' }, rollout } }).spec;
}

function counts(requests: number, errors: number, ms: number): WindowCounts {
  const c = emptyCounts();
  c.requests = requests;
  c.errors = errors;
  c.latency[latencyBin(ms)] = requests;
  return c;
}

const GOOD = { stable: counts(500, 0, 3), canary: counts(60, 0, 3) };
const BAD = { stable: counts(500, 0, 3), canary: counts(60, 12, 3) };
const SLOW = { stable: counts(500, 0, 20), canary: counts(60, 0, 40) };
const FEW = { stable: counts(100, 0, 3), canary: counts(10, 0, 3) };

/** Walks a rollout through time: each `at` advances the clock to T0 + seconds and observes. */
class Scenario {
  state: RolloutState;
  readonly spec: InferenceServiceSpec;
  readonly events: string[] = [];
  now: number;
  static readonly T0 = 1_700_000_000_000;

  constructor(s: InferenceServiceSpec) {
    this.spec = s;
    this.now = Scenario.T0;
    const started = startRollout(s, 'svc-00002', 'svc-00001', this.now);
    this.state = started.state;
    this.events.push(started.event.reason);
  }

  at(seconds: number, obs: Partial<RolloutObservation> = {}): RolloutState {
    this.now = Scenario.T0 + seconds * 1000;
    const result = advanceRollout(this.state, { now: this.now, replicas: 4, readyNew: 0, ...obs }, this.spec);
    this.state = result.state;
    this.events.push(...result.events.map((e) => e.reason));
    return this.state;
  }

  command(c: 'promote' | 'abort' | 'pause' | 'resume', seconds: number): RolloutState {
    this.now = Scenario.T0 + seconds * 1000;
    const result = applyRolloutCommand(this.state, c, this.spec, this.now);
    this.state = result.state;
    this.events.push(result.event.reason);
    return this.state;
  }

  targets(): ReturnType<typeof rolloutTargets> {
    return rolloutTargets(this.state, 4, this.spec, this.now);
  }
}

describe('canary rollout', () => {
  it('walks every step on passing windows, then promotes once the canary is at full capacity', () => {
    const s = new Scenario(spec());
    assert.equal(s.at(1, { readyNew: 0 }).phase, 'Starting');
    assert.deepEqual(s.targets().replicas, { stable: 4, revision: 1 }, 'canary runs its 10% share; stable keeps all four');
    assert.deepEqual(s.targets().weights, { stable: 100, revision: 0 }, 'no traffic before the canary is ready');

    assert.equal(s.at(2, { readyNew: 1 }).phase, 'Progressing');
    assert.equal(s.state.weight, 10);
    assert.equal(s.at(8, { readyNew: 1, window: GOOD }).judgements, 0, 'no judgement before one interval');
    assert.equal(s.at(12, { readyNew: 1, window: GOOD }).passedInStep, 1, 'judged after 10 s');
    assert.equal(s.at(20, { readyNew: 1 }).step, 0, 'the 30 s pause is not over');
    assert.equal(s.at(32, { readyNew: 1 }).step, 1, 'pause over and a window passed: next step');
    assert.equal(s.state.weight, 50);
    assert.deepEqual(s.targets().replicas, { stable: 4, revision: 2 });

    assert.equal(s.at(92, { readyNew: 2 }).step, 1, 'no window passed in this step yet');
    assert.equal(s.at(93, { readyNew: 2, window: GOOD }).phase, 'Promoting');
    assert.deepEqual(s.targets().replicas, { stable: 4, revision: 4 }, 'the canary scales to full before it takes everything');
    assert.deepEqual(s.targets().weights, { stable: 50, revision: 50 });
    assert.equal(s.at(95, { readyNew: 3 }).phase, 'Promoting');
    assert.equal(s.at(97, { readyNew: 4 }).phase, 'Succeeded');
    assert.deepEqual(s.targets(), { serving: 'svc-00002', replicas: { stable: 0, revision: 4 }, weights: { stable: 0, revision: 100 }, mirror: false });
    assert.deepEqual(s.events, ['RolloutStarted', 'RolloutProgressing', 'RolloutStepAdvanced', 'RolloutPromoting', 'RolloutSucceeded']);
  });

  it('fails on the first bad window: stable back to 100% at once, the canary kept until the scale-down delay', () => {
    const s = new Scenario(spec());
    s.at(1, { readyNew: 1 });
    const failed = s.at(11, { readyNew: 1, window: BAD });
    assert.equal(failed.phase, 'Failed');
    assert.equal(failed.reason, 'AnalysisFailed');
    assert.match(failed.message, /^analysis failed: error rate 20\.0% over 60 requests vs stable 0\.00% \(allowed \+0\.50%\); svc-00001 serves 100% of traffic$/);
    assert.deepEqual(s.targets().weights, { stable: 100, revision: 0 });
    assert.deepEqual(s.targets().replicas, { stable: 4, revision: 1 });
    s.now = Scenario.T0 + 41_000;
    assert.deepEqual(s.targets().replicas, { stable: 4, revision: 0 }, 'gone 30 s later');
    assert.equal(s.at(60, { readyNew: 1, window: GOOD }).phase, 'Failed', 'a terminal phase stays');
    assert.deepEqual(s.events.at(-1), 'RolloutFailed');
  });

  it('fails a canary twice as slow', () => {
    const s = new Scenario(spec());
    s.at(1, { readyNew: 1 });
    assert.equal(s.at(11, { readyNew: 1, window: SLOW }).reason, 'AnalysisFailed');
    assert.match(s.state.message, /p95 .* \(×2\.\d\d, allowed ×1\.2\)/);
  });

  it('waits, without judging, while the canary has too few requests', () => {
    const s = new Scenario(spec());
    s.at(1, { readyNew: 1 });
    const waiting = s.at(60, { readyNew: 1, window: FEW });
    assert.equal(waiting.phase, 'Progressing');
    assert.equal(waiting.step, 0, 'the pause is over but nothing passed');
    assert.equal(waiting.judgements, 0);
    assert.match(waiting.message, /waiting for 50 requests on the new revision \(have 10\)/);
  });

  it('fails when the canary is never ready within the progress deadline', () => {
    const s = new Scenario(spec({ progressDeadline: '2m' }));
    assert.equal(s.at(119).phase, 'Starting');
    const failed = s.at(120);
    assert.equal(failed.phase, 'Failed');
    assert.equal(failed.reason, 'ProgressDeadlineExceeded');
    assert.deepEqual(s.targets().replicas, { stable: 4, revision: 0 }, 'a canary that never served is removed at once');
  });

  it('a rollout paused while promoting waits past the progress deadline once it is ready, and finishes on resume', () => {
    const s = new Scenario(spec({ progressDeadline: '1m' }));
    s.at(1, { readyNew: 1 });
    s.command('promote', 2);
    s.command('pause', 3);
    assert.equal(s.at(300, { readyNew: 4 }).phase, 'Promoting', 'ready, paused: no deadline to miss');
    s.command('resume', 301);
    assert.equal(s.at(302, { readyNew: 4 }).phase, 'Succeeded');
  });

  it('reaches 100% with weights that do not divide evenly', () => {
    const s = new Scenario(spec({ steps: [{ weight: 33, pause: '10s' }, { weight: 66, pause: '10s' }] }));
    s.at(1, { readyNew: 2 });
    assert.deepEqual(s.targets().weights, { stable: 67, revision: 33 });
    s.at(11, { readyNew: 2, window: GOOD });
    assert.equal(s.state.weight, 66);
    s.at(21, { readyNew: 3, window: GOOD });
    assert.equal(s.at(22, { readyNew: 4 }).phase, 'Succeeded');
    assert.deepEqual(s.targets().weights, { stable: 0, revision: 100 });
  });

  it('pause holds the step (but still fails on a bad window); resume restarts its pause', () => {
    const s = new Scenario(spec());
    s.at(1, { readyNew: 1 });
    s.at(11, { readyNew: 1, window: GOOD });
    s.command('pause', 12);
    assert.equal(s.at(40, { readyNew: 1 }).step, 0, 'paused: no next step');
    assert.equal(s.state.reason, 'Paused');
    s.command('resume', 50);
    assert.equal(s.at(60, { readyNew: 1 }).step, 0, 'the pause restarted at resume');
    assert.equal(s.at(80, { readyNew: 1 }).step, 1);

    const t = new Scenario(spec());
    t.at(1, { readyNew: 1 });
    t.command('pause', 2);
    assert.equal(t.at(12, { readyNew: 1, window: BAD }).phase, 'Failed');
  });

  it('promote by hand skips the remaining steps; abort by hand returns everything to stable', () => {
    const s = new Scenario(spec());
    s.at(1, { readyNew: 1 });
    assert.equal(s.command('promote', 2).phase, 'Promoting');
    assert.equal(s.at(3, { readyNew: 4 }).phase, 'Succeeded');

    const a = new Scenario(spec());
    a.at(1, { readyNew: 1 });
    const aborted = a.command('abort', 2);
    assert.equal(aborted.phase, 'Aborted');
    assert.deepEqual(a.targets().weights, { stable: 100, revision: 0 });
    assert.throws(() => a.command('abort', 3), (err: unknown) => err instanceof RolloutCommandError && err.status === 409 && /nothing to abort/.test(err.message));
    assert.equal(a.command('resume', 4).phase, 'Starting', 'resume retries an aborted rollout from the start');
  });

  it('refuses commands that do not apply, saying why', () => {
    const s = new Scenario(spec());
    assert.throws(() => s.command('resume', 1), /is Starting: it is not paused/);
    s.command('pause', 1);
    assert.throws(() => s.command('pause', 2), /already paused/);
    s.command('promote', 3);
    assert.throws(() => s.command('promote', 4), /already being promoted/);
    s.at(5, { readyNew: 4 });
    assert.throws(() => s.command('promote', 6), /already serves all traffic/);
    assert.throws(() => s.command('pause', 6), /only a rollout in progress can be paused/);
  });

  it('a service at zero replicas switches at once: there is nothing to judge', () => {
    const s = new Scenario(spec());
    assert.equal(s.at(1, { replicas: 0 }).phase, 'Succeeded');
    assert.equal(s.state.reason, 'ScaledToZero');
  });
});

describe('blue-green rollout', () => {
  it('previews at full capacity, switches after a passing preview, and rolls back at once by hand', () => {
    const s = new Scenario(spec({ strategy: 'blue-green', previewFor: '30s', mirrorPercent: 20 }));
    s.at(1, { readyNew: 2 });
    assert.equal(s.state.phase, 'Starting', 'green must reach the full count first');
    assert.deepEqual(s.targets().replicas, { stable: 4, revision: 4 });
    assert.equal(s.at(2, { readyNew: 4 }).phase, 'Previewing');
    assert.deepEqual(s.targets().weights, { stable: 100, revision: 0 });
    assert.equal(s.targets().mirror, true);
    s.at(12, { readyNew: 4, window: GOOD });
    assert.equal(s.at(20, { readyNew: 4 }).phase, 'Previewing', 'previewFor not over');
    assert.equal(s.at(32, { readyNew: 4 }).phase, 'Promoting');
    assert.equal(s.at(33, { readyNew: 4 }).phase, 'Succeeded');
    assert.deepEqual(s.targets(), { serving: 'svc-00002', replicas: { stable: 4, revision: 4 }, weights: { stable: 0, revision: 100 }, mirror: false }, 'blue stays warm');

    const back = s.command('abort', 40);
    assert.equal(back.phase, 'RolledBack');
    assert.deepEqual(s.targets().weights, { stable: 100, revision: 0 });
    assert.equal(s.targets().serving, 'svc-00001');
  });

  it('cannot roll back once the previous revision was scaled down', () => {
    const s = new Scenario(spec({ strategy: 'blue-green', previewFor: '10s', scaleDownDelay: '30s' }));
    s.at(1, { readyNew: 4 });
    s.at(11, { readyNew: 4, window: GOOD });
    s.at(12, { readyNew: 4 });
    assert.equal(s.state.phase, 'Succeeded');
    assert.throws(() => s.command('abort', 43), /nothing to abort \(apply the previous spec to roll back\)/);
  });

  it('fails on a bad preview window without ever moving traffic', () => {
    const s = new Scenario(spec({ strategy: 'blue-green' }));
    s.at(1, { readyNew: 4 });
    assert.equal(s.at(11, { readyNew: 4, window: BAD }).phase, 'Failed');
    assert.deepEqual(s.targets().weights, { stable: 100, revision: 0 });
  });
});

describe('immediate rollout', () => {
  it('switches once every replica is ready, without analysis', () => {
    const s = new Scenario(spec({ strategy: 'immediate' }));
    assert.equal(s.state.phase, 'Promoting');
    assert.equal(s.at(1, { readyNew: 3, window: BAD }).phase, 'Promoting', 'not judged, not ready');
    assert.equal(s.at(2, { readyNew: 4 }).phase, 'Succeeded');
  });
});

describe('check on outputs', () => {
  it('fails the rollout on a diverging answer, and ignores a check from before the rollout began', () => {
    const s = new Scenario(spec());
    s.at(1, { readyNew: 1 });
    const stale = { verdict: 'Fail' as const, message: 'old', at: Scenario.T0 - 1 };
    assert.equal(s.at(2, { readyNew: 1, outputCheck: stale }).phase, 'Progressing', 'a check of an earlier attempt does not count');
    const pass = { verdict: 'Pass' as const, message: 'outputs within 0.01', at: Scenario.T0 + 3_000 };
    assert.equal(s.at(4, { readyNew: 1, outputCheck: pass }).lastOutputCheck?.message, 'outputs within 0.01');
    const diverged = { verdict: 'Fail' as const, message: 'outputs differ by up to 0.4', at: Scenario.T0 + 5_000 };
    const failed = s.at(6, { readyNew: 1, outputCheck: diverged });
    assert.equal(failed.phase, 'Failed');
    assert.equal(failed.reason, 'OutputsDiverged');
    assert.equal(failed.message, 'output check failed: outputs differ by up to 0.4; svc-00001 serves 100% of traffic');
    assert.deepEqual(s.targets().weights, { stable: 100, revision: 0 });
  });
});

describe('values outside the unions', () => {
  // The stored rollout is plain JSON: a phase or command from another version reaches the switches' `never` branches.
  const s = () => new Scenario(spec());

  it('rolloutTargets refuses a phase it does not know instead of guessing a traffic split', () => {
    const state = { ...s().state, phase: 'Exploding' as RolloutState['phase'] };
    assert.throws(() => rolloutTargets(state, 4, spec(), Scenario.T0), { name: 'RangeError', message: /unknown rollout phase Exploding/ });
  });

  it('advanceRollout leaves a rollout in an unknown phase as it is: only active phases move', () => {
    const state = { ...s().state, phase: 'Exploding' as RolloutState['phase'] };
    const result = advanceRollout(state, { now: Scenario.T0 + 60_000, replicas: 4, readyNew: 4 }, spec());
    assert.equal(result.state, state);
    assert.deepEqual(result.events, []);
  });

  it('applyRolloutCommand refuses an unknown command with its own code', () => {
    assert.throws(
      () => applyRolloutCommand(s().state, 'explode' as 'promote', spec(), Scenario.T0),
      (err: unknown) => err instanceof RolloutCommandError && err.code === 'INVALID_ROLLOUT_COMMAND' && /unknown rollout command explode/.test(err.message),
    );
  });
});
