import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_MAX_HELD_PER_SERVICE } from './hold.ts';
import { queueLimit } from './queue-limit.ts';

test('what can wait: the gateways\' holds while nothing is ready, then their queues plus what the replicas accept', () => {
  assert.equal(queueLimit({ concurrencyLimit: 64, readyReplicas: 0, gateways: 2 }), 2 * DEFAULT_MAX_HELD_PER_SERVICE);
  // Each of 2 gateways queues 2 × 64 per ready replica (defaultQueueBound); each of 3 replicas takes 64.
  assert.equal(queueLimit({ concurrencyLimit: 64, readyReplicas: 3, gateways: 2 }), 2 * 2 * 64 * 3 + 3 * 64);
  assert.equal(queueLimit({ concurrencyLimit: 8, readyReplicas: 1, gateways: 1 }), 16 + 8);
});
