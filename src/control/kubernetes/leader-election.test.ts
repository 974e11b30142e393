import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideLease } from './leader-election.ts';

const T0 = Date.parse('2026-12-07T10:00:00.000Z');

test('no lease: create one held by this candidate', () => {
  const d = decideLease(undefined, 'a', T0, 15_000);
  assert.equal(d.action, 'create');
  assert.equal(d.action === 'create' && d.spec.holderIdentity, 'a');
  assert.equal(d.action === 'create' && d.spec.leaseDurationSeconds, 15);
  assert.equal(d.action === 'create' && d.spec.renewTime, '2026-12-07T10:00:00.000000Z', 'a MicroTime');
});

test('the holder renews; another candidate waits while the lease is fresh, for as long as it has left', () => {
  const lease = { holderIdentity: 'a', leaseDurationSeconds: 15, renewTime: '2026-12-07T10:00:00.000000Z', acquireTime: '2026-12-07T09:00:00.000000Z', leaseTransitions: 2 };
  const renew = decideLease(lease, 'a', T0 + 5_000, 15_000);
  assert.deepEqual(renew, { action: 'update', acquired: false, spec: { ...lease, renewTime: '2026-12-07T10:00:05.000000Z' } });
  assert.deepEqual(decideLease(lease, 'b', T0 + 5_000, 15_000), { action: 'wait', holder: 'a', retryInMs: 10_000 });
});

test('an expired or released lease is taken, counting a transition', () => {
  const lease = { holderIdentity: 'a', leaseDurationSeconds: 15, renewTime: '2026-12-07T10:00:00.000000Z', leaseTransitions: 2 };
  const taken = decideLease(lease, 'b', T0 + 15_000, 15_000);
  assert.equal(taken.action, 'update');
  assert.equal(taken.action === 'update' && taken.acquired, true);
  assert.equal(taken.action === 'update' && taken.spec.holderIdentity, 'b');
  assert.equal(taken.action === 'update' && taken.spec.leaseTransitions, 3);
  const released = decideLease({ ...lease, holderIdentity: '' }, 'b', T0 + 1, 15_000);
  assert.equal(released.action === 'update' && released.acquired, true, 'an empty holder means given up');
});
