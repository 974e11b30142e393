import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WindowSignals } from '../observability/signals.ts';
import { sloRisk } from './slo-risk.ts';

const SLO = { latencyP95Ms: 250 };

function windows(stable: Partial<WindowSignals>, panic: Partial<WindowSignals> = {}) {
  return { stable: { windowSeconds: 60, ...stable }, panic: { windowSeconds: 6, ...panic } };
}

test('latency: p95 over 80% of the SLO is a risk; the panic window speaks once it holds 100 requests', () => {
  const over = sloRisk(windows({ requestRate: 50, p95Ms: 210 }), SLO);
  assert.deepEqual([over.atRisk, over.reason], [true, 'latency']);
  assert.match(over.message, /p95 210 ms \(stable window\) is over 200 ms, 80% of the 250 ms SLO/);
  assert.equal(sloRisk(windows({ requestRate: 50, p95Ms: 199 }), SLO).atRisk, false);
  // 20 req/s × 6 s = 120 requests in the panic window: its p95 decides, either way.
  assert.equal(sloRisk(windows({ requestRate: 50, p95Ms: 120 }, { requestRate: 20, p95Ms: 240 }), SLO).atRisk, true);
  assert.equal(sloRisk(windows({ requestRate: 50, p95Ms: 240 }, { requestRate: 20, p95Ms: 120 }), SLO).atRisk, false);
  // 15 req/s × 6 s = 90: too few (its p95 is its slowest few requests), the stable window decides.
  assert.equal(sloRisk(windows({ requestRate: 50, p95Ms: 120 }, { requestRate: 15, p95Ms: 240 }), SLO).atRisk, false);
});

test('queue: requests waiting and the queue growing is a risk; a queue that drains or a stray request is not', () => {
  const growing = sloRisk(windows({ p95Ms: 100 }, { queueDepth: 4, queueGrowthPerSec: 2 }), SLO);
  assert.deepEqual([growing.atRisk, growing.reason], [true, 'queue']);
  assert.match(growing.message, /4 requests wait and the queue grows by 2\/s/);
  assert.equal(sloRisk(windows({ p95Ms: 100 }, { queueDepth: 4, queueGrowthPerSec: -1 }), SLO).atRisk, false, 'draining');
  assert.equal(sloRisk(windows({ p95Ms: 100 }, { queueDepth: 0.4, queueGrowthPerSec: 0.2 }), SLO).atRisk, false, 'under one request waiting');
});

test('no data is no risk: a service nobody calls does not buy elastic nodes', () => {
  const r = sloRisk(windows({}), SLO);
  assert.deepEqual([r.atRisk, r.reason], [false, 'none']);
});
