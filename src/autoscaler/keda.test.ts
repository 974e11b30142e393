import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ScaleResult } from './types.ts';
import { KEDA_POLLING_INTERVAL_MS, kedaQueue } from './keda.ts';
import { baseSpec, driver, signalsOf } from './test-support.ts';

const NOW = 2_000_000_000;

function expectScale(r: ScaleResult, desiredReplicas: number, reason?: string): void {
  assert.ok(r.valid, r.message);
  assert.equal(r.desiredReplicas, desiredReplicas, r.message);
  if (reason) assert.equal(r.reason, reason, r.message);
}

test('KEDA scenario: activation on the next poll, HPA between 1 and N, cooldown back to zero', () => {
  const spec = baseSpec({ policy: 'keda-queue', minReplicas: 0, scaleToZeroAfterMs: 300_000 });
  const keda = driver(kedaQueue, spec);
  const at = (s: number, replicas: number, queue: number) => keda.at(NOW + s * 1000, signalsOf({ ready: replicas }, { queueDepth: queue }));

  expectScale(at(0, 0, 0), 0, 'ScaleToZero'); // idle at zero
  // A request is queued at 10 s; KEDA only sees it at its next poll (30 s).
  expectScale(at(10, 0, 3), 0);
  const activated = at(30, 0, 3);
  expectScale(activated, 1, 'Activation');
  assert.equal(activated.valid && activated.message, '0→1: queue 3 > activation threshold 0');
  // The HPA takes over from one replica: 100 queued at 8 per replica wants 13, at most
  // max(+100%, +4) per 15 s: 1→5, then 5→10, then 13.
  expectScale(at(31, 1, 100), 5, 'ScaleUpLimit');
  expectScale(at(46, 5, 100), 10, 'ScaleUpLimit');
  expectScale(at(61, 10, 100), 13, 'QueueDepth'); // also KEDA's poll: active, remembered at 61 s
  expectScale(at(76, 13, 100), 13, 'WithinTolerance');
  // The queue empties. The HPA wants 0 but keeps its highest recommendation for 300 s;
  // KEDA's cooldown runs from its last active poll (61 s).
  expectScale(at(91, 13, 0), 13, 'ScaleDownStabilized');
  expectScale(at(360, 13, 0), 13, 'ScaleDownStabilized'); // the 13 from 61 s is 299 s old; cooldown not over
  expectScale(at(376, 13, 0), 1, 'MinReplicas'); // the HPA's floor is 1
  expectScale(at(390, 1, 0), 0, 'ScaleToZero'); // KEDA's poll: 329 s without activity
  expectScale(at(405, 0, 0), 0);
});

test('KEDA with minReplicas 1 never scales to zero', () => {
  const spec = baseSpec({ policy: 'keda-queue', minReplicas: 1 });
  const keda = driver(kedaQueue, spec);
  for (let s = 0; s <= 900; s += 15) {
    const r = keda.at(NOW + s * 1000, signalsOf({ ready: 1 }, { queueDepth: 0 }));
    assert.ok(r.valid && r.desiredReplicas === 1, `at ${s} s: ${r.message}`);
  }
});

test('KEDA: never active since start scales to zero at the first poll, as KEDA does with no last active time', () => {
  const spec = baseSpec({ policy: 'keda-queue', minReplicas: 0 });
  const r = kedaQueue(signalsOf({ ready: 2 }, { queueDepth: 0 }), spec, undefined, NOW).result;
  expectScale(r, 0, 'ScaleToZero');
  assert.equal(r.message, '2→0: queue empty and never active');
});

test('KEDA: no queue signal is a scaler error: no activation change, and the HPA has no metric', () => {
  const spec = baseSpec({ policy: 'keda-queue', minReplicas: 0 });
  const r = kedaQueue(signalsOf({ ready: 2 }, {}), spec, undefined, NOW).result;
  assert.equal(r.valid, false);
  assert.match(r.message, /no queue depth signal/);
  const atZero = kedaQueue(signalsOf({ ready: 0 }, {}), spec, undefined, NOW).result;
  expectScale(atZero, 0);
});

test('KEDA polls every 30 s: between polls an active queue at zero waits', () => {
  assert.equal(KEDA_POLLING_INTERVAL_MS, 30_000);
  const spec = baseSpec({ policy: 'keda-queue', minReplicas: 0 });
  const keda = driver(kedaQueue, spec);
  expectScale(keda.at(NOW, signalsOf({ ready: 0 }, { queueDepth: 0 })), 0);
  for (let s = 1; s < 30; s += 7) expectScale(keda.at(NOW + s * 1000, signalsOf({ ready: 0 }, { queueDepth: 9 })), 0);
  expectScale(keda.at(NOW + 30_000, signalsOf({ ready: 0 }, { queueDepth: 9 })), 1, 'Activation');
});
