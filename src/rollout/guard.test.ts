import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseInferenceService } from '../api/index.ts';
import { latencyBin } from '../observability/latency-histogram.ts';
import { emptySliCounts, type SliCounts } from '../observability/sli.ts';
import { applyGuard, decideGuard, fireThreshold, startGuard, type GuardSample } from './guard.ts';
import { advanceRollout, applyRolloutCommand, startRollout } from './machine.ts';
import type { GuardEvaluation, GuardState, RolloutState } from './types.ts';

const T0 = Date.UTC(2026, 0, 1);
const S = 1000;

function specWith(guard: Record<string, unknown> = {}, slo: Record<string, unknown> = {}) {
  return parseInferenceService({
    apiVersion: 'karb.dev/v1alpha1',
    kind: 'InferenceService',
    metadata: { name: 'svc' },
    spec: { model: { uri: 'file://m.onnx' }, slo: { latencyP95Ms: 100, errorRate: 0.01, ...slo }, rollout: { guard } },
  }).spec;
}

/** A 120s guard (short window 10s) with 20 requests per window at least. */
const spec = specWith({ window: '120s', minRequests: 20 });

/**
 * Walks simulated time through a guard: every second `perSecond(t)` requests
 * finish (t in seconds since promotion), and the guard judges after each second
 * like a reconciler pass. Returns every evaluation, and the first Fire or End.
 */
function walk(
  perSecond: (t: number) => { ok?: number; errors?: number; slow?: number; shed?: number },
  seconds: number,
  s = spec,
): { evaluations: GuardEvaluation[]; decisive?: GuardEvaluation & { t: number } } {
  const guard = startGuard(s, T0)!;
  const counts: SliCounts = emptySliCounts();
  let samples: GuardSample[] = [];
  const evaluations: GuardEvaluation[] = [];
  for (let t = 0; t <= seconds; t++) {
    const { ok = 0, errors = 0, slow = 0, shed = 0 } = perSecond(t);
    counts.requests += ok + errors + slow + shed;
    counts.serverErrors += errors;
    counts.answered[latencyBin(10)]! += ok;
    counts.answered[latencyBin(400)]! += slow;
    const d = decideGuard(guard, samples, { ...counts, answered: counts.answered.slice() }, s, T0 + t * S);
    samples = d.samples;
    evaluations.push(d.evaluation);
    if (d.evaluation.verdict === 'Fire' || d.evaluation.verdict === 'Ended') return { evaluations, decisive: { ...d.evaluation, t } };
  }
  return { evaluations };
}

describe('the guard after promotion', () => {
  it('starts on success with the spec window, and not at all with window 0s', () => {
    assert.deepEqual(startGuard(spec, T0), { phase: 'Watching', since: T0, until: T0 + 120 * S });
    assert.equal(startGuard(specWith({ window: '0s' }), T0), undefined);
    assert.equal(specWith().rollout.guard.window, '10m', 'watched for 10 minutes by default');
    assert.equal(specWith().rollout.guard.burnRate, 14.4, 'the workbook’s page condition by default');
  });

  it('fires on availability when both windows burn ≥ 14.4× (errorRate 1%: ≥ 14.4% answered 5xx)', () => {
    // Healthy for a minute, then 30% of requests answer 5xx (burn 30×).
    const { decisive } = walk((t) => (t < 60 ? { ok: 10 } : { ok: 7, errors: 3 }), 119);
    assert.equal(decisive?.verdict, 'Fire');
    assert.equal(decisive.sli, 'availability');
    // The long window (since promotion) reaches 14.4% bad only once enough failing seconds dilute the healthy minute.
    assert.ok(decisive.t > 60 && decisive.t < 119, `fired at ${decisive.t}s`);
    assert.ok(decisive.long!.burnRates.availability! >= 14.4 && decisive.short!.burnRates.availability! >= 14.4);
    assert.match(decisive.message, /^availability burn rate [\d.]+× over \d+s \(\d+ requests\) and [\d.]+× over 1\ds \(\d+ requests\), at or above 14\.4× \(budget 1\.00% of requests answered 5xx\)$/);
  });

  it('fires on latency when ≥ 72% of requests are slower than the target (budget 5%)', () => {
    const { decisive } = walk(() => ({ ok: 1, slow: 9 }), 119);
    assert.equal(decisive?.verdict, 'Fire');
    assert.equal(decisive.sli, 'latency');
    assert.match(decisive.message, /^latency burn rate 18\.0× .* at or above 14\.4× \(budget 5% of requests slower than 100 ms or unanswered\)$/);
  });

  it('counts shed (429) requests against latency, not availability', () => {
    const { decisive } = walk(() => ({ ok: 2, shed: 8 }), 119);
    assert.equal(decisive?.sli, 'latency');
    assert.equal(decisive.long!.burnRates.availability, 0);
  });

  it('holds at a burn rate just below the threshold (14% answered 5xx)', () => {
    const { decisive, evaluations } = walk(() => ({ ok: 86, errors: 14 }), 110);
    assert.equal(decisive, undefined);
    assert.equal(evaluations.at(-1)!.verdict, 'Hold');
    assert.match(evaluations.at(-1)!.message, /^burn rates within 14\.4×: availability 14\.0×\/14\.0×/);
  });

  it('does not fire on a short blip: the short window burns, the long one does not', () => {
    // Every request fails for 5 seconds, 90 seconds in: half the short window, 5% of the long one.
    const { decisive, evaluations } = walk((t) => (t >= 90 && t < 95 ? { errors: 10 } : { ok: 10 }), 119);
    assert.equal(decisive, undefined, 'no rollback for a blip');
    const during = evaluations[94]!;
    assert.ok(during.short!.burnRates.availability! >= 14.4, `the short window saw the blip (${during.message})`);
    assert.ok(during.long!.burnRates.availability! < 14.4);
  });

  it('does not fire on errors that have stopped: the long window burns, the short one no longer does', () => {
    // Ten failing requests right after promotion (too few to judge), then quiet, then healthy traffic.
    const { decisive, evaluations } = walk((t) => (t < 10 ? { errors: 1 } : t < 40 ? {} : { ok: 10 }), 119);
    assert.equal(decisive, undefined);
    const first = evaluations.find((e) => e.verdict !== 'NotEnoughRequests')!;
    assert.ok(first.long!.burnRates.availability! >= 14.4, first.message);
    assert.equal(first.short!.burnRates.availability, 0);
  });

  it('does not fire below minRequests in either window, however bad', () => {
    const { decisive, evaluations } = walk(() => ({ errors: 1 }), 15);
    assert.equal(decisive, undefined);
    assert.equal(evaluations.at(-1)!.verdict, 'NotEnoughRequests');
    assert.match(evaluations.at(-1)!.message, /^the windows need 20 requests each \(have 15 over 15s, 10 over 10s\)$/);
    // With enough traffic the same failure fires at once.
    assert.equal(walk(() => ({ errors: 5 }), 15).decisive?.verdict, 'Fire');
  });

  it('does not fire after the window ends: it reports the end instead', () => {
    const { decisive } = walk((t) => (t < 121 ? { ok: 10 } : { errors: 10 }), 200);
    assert.equal(decisive?.verdict, 'Ended');
    assert.equal(decisive.t, 120);
  });

  it('reaches a burn rate out of reach with every request bad (errorRate 10%: 14.4× would be 144%)', () => {
    const lax = specWith({ window: '120s', minRequests: 20 }, { errorRate: 0.1 });
    assert.equal(fireThreshold('availability', lax), 10);
    assert.equal(walk(() => ({ ok: 5, errors: 5 }), 119, lax).decisive, undefined, '50% errors is a 5× burn');
    assert.equal(walk(() => ({ errors: 10 }), 119, lax).decisive?.sli, 'availability');
  });

  it('keeps its samples bounded however many passes it sees', () => {
    const guard = startGuard(spec, T0)!;
    let samples: GuardSample[] = [];
    const counts = emptySliCounts();
    for (let ms = 0; ms < 100 * S; ms += 50) samples = decideGuard(guard, samples, counts, spec, T0 + ms).samples;
    assert.ok(samples.length <= 23, `${samples.length} samples`);
  });
});

describe('applying the guard to the rollout', () => {
  function succeeded(): RolloutState {
    let { state } = startRollout({ ...spec, rollout: { ...spec.rollout, strategy: 'immediate' } }, 'svc-00002', 'svc-00001', T0);
    state = advanceRollout(state, { now: T0 + S, replicas: 1, readyNew: 1 }, spec).state;
    return state;
  }

  it('a rollout that succeeds is guarded from then on', () => {
    const s = succeeded();
    assert.equal(s.phase, 'Succeeded');
    assert.deepEqual(s.guard, { phase: 'Watching', since: T0 + S, until: T0 + 121 * S } satisfies GuardState);
  });

  it('a fire rolls back to the previous revision with the reason, and a Warning event', () => {
    const s = succeeded();
    const fire: GuardEvaluation = { at: T0 + 30 * S, verdict: 'Fire', sli: 'availability', message: 'availability burn rate 30.0× over 29s (290 requests) and 30.0× over 10s (100 requests), at or above 14.4× (budget 1.00% of requests answered 5xx)' };
    const { state, events } = applyGuard(s, fire, spec, T0 + 30 * S);
    assert.equal(state.phase, 'RolledBack');
    assert.equal(state.reason, 'GuardFastBurn');
    assert.equal(state.weight, 0);
    assert.equal(state.guard?.phase, 'Fired');
    assert.equal(state.scaleDownAt, T0 + 30 * S + 30 * S, 'the failing revision lingers for scaleDownDelay');
    assert.match(state.message, /^rolled back by the guard: svc-00002's availability burn rate 30\.0× .*; svc-00001 serves 100% of traffic again$/);
    assert.deepEqual(events.map((e) => [e.type, e.reason]), [['Warning', 'GuardRolledBack']]);
    // Once rolled back nothing more happens to it.
    assert.deepEqual(applyGuard(state, fire, spec, T0 + 31 * S), { state, events: [] });
  });

  it('the end of the window leaves the rollout Succeeded and the guard Passed, with a Normal event', () => {
    const { state, events } = applyGuard(succeeded(), { at: T0 + 121 * S, verdict: 'Ended', message: 'm' }, spec, T0 + 121 * S);
    assert.equal(state.phase, 'Succeeded');
    assert.equal(state.guard?.phase, 'Passed');
    assert.deepEqual(events.map((e) => [e.type, e.reason]), [['Normal', 'GuardPassed']]);
  });

  it('a hold only records the evaluation', () => {
    const hold: GuardEvaluation = { at: T0 + 5 * S, verdict: 'Hold', message: 'm' };
    const { state, events } = applyGuard(succeeded(), hold, spec, T0 + 5 * S);
    assert.equal(state.phase, 'Succeeded');
    assert.deepEqual(state.guard?.last, hold);
    assert.deepEqual(events, []);
  });
});

describe('spec.rollout.guard', () => {
  const invalid = (guard: Record<string, unknown>) => {
    try {
      specWith(guard);
    } catch (err) {
      return (err as Error & { code?: string }).code + ': ' + (err as Error).message;
    }
    return 'accepted';
  };

  it('says what was wrong with a bad value and how to fix it', () => {
    assert.match(invalid({ window: '0' }), /^INVALID_SPEC: [\s\S]*spec\.rollout\.guard\.window: must be a duration such as 10m or 1h, or 0s to turn the guard off/);
    assert.match(invalid({ burnRate: 0.5 }), /spec\.rollout\.guard\.burnRate: must be at least 1 \(1 spends the error budget exactly; 14\.4 is the usual fast burn\)/);
    assert.match(invalid({ minRequests: 0 }), /spec\.rollout\.guard\.minRequests: must be at least 1/);
    assert.match(invalid({ windw: '1m' }), /spec\.rollout\.guard\.windw: unknown field \(did you mean 'window'\?\)/);
    assert.equal(invalid({ window: '1h', burnRate: 6, minRequests: 200 }), 'accepted');
  });
});

describe('what the guard writes', () => {
  const guard = startGuard(spec, T0)!;
  const state = { guard } as RolloutState;
  const succeededWith = (last: GuardEvaluation) => ({ ...state, phase: 'Succeeded', guard: { ...guard, last } }) as RolloutState;

  it('records a hold again only once per short window, and too few requests only when the verdict changes', () => {
    const hold = (at: number): GuardEvaluation => ({ at: T0 + at * S, verdict: 'Hold', message: `m${at}` });
    const few = (at: number): GuardEvaluation => ({ at: T0 + at * S, verdict: 'NotEnoughRequests', message: `m${at}` });
    const held = succeededWith(hold(1));
    assert.equal(applyGuard(held, hold(5), spec, T0 + 5 * S).state, held, 'within the 10s short window: no write');
    assert.equal(applyGuard(held, hold(11), spec, T0 + 11 * S).state.guard?.last?.message, 'm11');
    const idle = succeededWith(few(1));
    assert.equal(applyGuard(idle, few(100), spec, T0 + 100 * S).state, idle, 'an idle service writes nothing');
    assert.equal(applyGuard(idle, hold(2), spec, T0 + 2 * S).state.guard?.last?.verdict, 'Hold');
  });
});

describe('the guard and a person', () => {
  it('a blue-green switch rolled back by hand leaves nothing for the guard to watch', () => {
    const bg = { ...spec, rollout: { ...spec.rollout, strategy: 'blue-green' as const } };
    let { state } = startRollout(bg, 'svc-00002', 'svc-00001', T0);
    state = { ...state, phase: 'Promoting' };
    state = advanceRollout(state, { now: T0 + S, replicas: 1, readyNew: 1 }, bg).state;
    assert.equal(state.guard?.phase, 'Watching');
    const rolledBack = applyRolloutCommand(state, 'abort', bg, T0 + 2 * S).state;
    assert.equal(rolledBack.phase, 'RolledBack');
    assert.equal(rolledBack.reason, 'ManualRollback');
    assert.equal(rolledBack.guard, undefined);
  });

  it('a revision promoted by hand after the guard rolled it back is watched again from its new success', () => {
    let { state } = startRollout({ ...spec, rollout: { ...spec.rollout, strategy: 'immediate' } }, 'svc-00002', 'svc-00001', T0);
    state = advanceRollout(state, { now: T0 + S, replicas: 1, readyNew: 1 }, spec).state;
    state = applyGuard(state, { at: T0 + 10 * S, verdict: 'Fire', sli: 'latency', message: 'm' }, spec, T0 + 10 * S).state;
    state = applyRolloutCommand(state, 'promote', spec, T0 + 20 * S).state;
    state = advanceRollout(state, { now: T0 + 21 * S, replicas: 1, readyNew: 1 }, spec).state;
    assert.equal(state.phase, 'Succeeded');
    assert.deepEqual(state.guard, { phase: 'Watching', since: T0 + 21 * S, until: T0 + 141 * S });
  });
});
