import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rolloutEvent, rolloutEventType, type RolloutEventReason } from './types.ts';

describe('rollout event reasons', () => {
  // A Record over the union: a reason added to RolloutEventReason without a row here does not compile.
  const expected: Record<RolloutEventReason, 'Normal' | 'Warning'> = {
    RolloutStarted: 'Normal',
    RolloutSuperseded: 'Normal',
    RolloutProgressing: 'Normal',
    RolloutPreviewing: 'Normal',
    RolloutStepAdvanced: 'Normal',
    RolloutPromoting: 'Normal',
    RolloutPromoted: 'Normal',
    RolloutSucceeded: 'Normal',
    RolloutPaused: 'Normal',
    RolloutResumed: 'Normal',
    RolloutRetried: 'Normal',
    GuardPassed: 'Normal',
    // Traffic went back to the previous revision: a person should look.
    RolloutFailed: 'Warning',
    RolloutAborted: 'Warning',
    RolloutRolledBack: 'Warning',
    GuardRolledBack: 'Warning',
  };

  for (const [reason, type] of Object.entries(expected) as Array<[RolloutEventReason, 'Normal' | 'Warning']>) {
    it(`${reason} is a ${type} event`, () => {
      assert.equal(rolloutEventType(reason), type);
      assert.deepEqual(rolloutEvent(reason, 'm'), { type, reason, message: 'm' });
    });
  }

  it('refuses a reason outside the union (one read back from an older store, say) instead of guessing its type', () => {
    assert.throws(() => rolloutEventType('RolloutExploded' as RolloutEventReason), { name: 'RangeError', message: /unknown rollout event reason RolloutExploded/ });
  });
});
