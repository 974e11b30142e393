import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseInferenceService } from '../api/index.ts';
import { applyRolloutCommand, startRollout } from './machine.ts';
import { rolloutStatus } from './status.ts';

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5);
const spec = (rollout: Record<string, unknown> = {}) =>
  parseInferenceService({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 'svc' }, spec: { model: { uri: 'file://m.onnx' }, rollout } }).spec;

describe('rolloutStatus', () => {
  it('shows the canary step as "n/of" from the first step on, and times as ISO strings', () => {
    const s = spec({ steps: [{ weight: 10, pause: '10s' }, { weight: 50, pause: '10s' }] });
    const { state } = startRollout(s, 'svc-00002', 'svc-00001', T0);
    const before = rolloutStatus(state, s);
    assert.equal(before.step, undefined, 'no step before the first');
    assert.equal(before.startedAt, '2026-01-02T03:04:05.000Z');
    assert.equal(before.reason, 'ReplicasStarting');
    assert.equal(rolloutStatus({ ...state, phase: 'Progressing', step: 1, weight: 50 }, s).step, '2/2');
  });

  it('has no step for blue-green, and a finish time once it is over', () => {
    const s = spec({ strategy: 'blue-green' });
    const started = startRollout(s, 'svc-00002', 'svc-00001', T0).state;
    const aborted = applyRolloutCommand(started, 'abort', s, T0 + 1_000).state;
    const status = rolloutStatus(aborted, s);
    assert.equal(status.step, undefined);
    assert.equal(status.phase, 'Aborted');
    assert.equal(status.reason, 'ManualAbort');
    assert.equal(status.finishedAt, '2026-01-02T03:04:06.000Z');
  });
});
