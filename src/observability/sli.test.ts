import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { latencyBin } from './latency-histogram.ts';
import { badCount, burnRate, emptySliCounts, isAnswered, isServerError, sliBetween, sliBudget } from './sli.ts';

const slo = { latencyP95Ms: 100, errorRate: 0.01 };

describe('the shared SLIs', () => {
  it('availability: only 5xx (and no answer, which the gateway answers 502/504) are bad', () => {
    assert.deepEqual([0, 200, 404, 429, 499, 500, 503].map(isServerError), [true, false, false, false, false, true, true]);
  });

  it('latency: answered means any 1xx–4xx but 429', () => {
    assert.deepEqual([0, 200, 404, 429, 499, 500].map(isAnswered), [false, true, true, false, true, false]);
  });

  it('burn rate = bad share / budget: 5% for latency, errorRate for availability', () => {
    const c = emptySliCounts();
    c.requests = 100;
    c.serverErrors = 2; // 2% against a 1% budget: 2×
    c.answered[latencyBin(50)] = 80;
    c.answered[latencyBin(150)] = 10; // slow
    // 10 not answered (2 server errors, 8 shed) + 10 slow = 20% against a 5% budget: 4×
    assert.ok(Math.abs(sliBudget('latency', slo) - 0.05) < 1e-12);
    assert.equal(sliBudget('availability', slo), 0.01);
    assert.equal(badCount('availability', c, slo), 2);
    assert.equal(badCount('latency', c, slo), 20);
    assert.equal(burnRate('availability', c, slo), 2);
    assert.ok(Math.abs(burnRate('latency', c, slo)! - 4) < 1e-9);
    assert.equal(burnRate('latency', emptySliCounts(), slo), undefined, 'no request, no rate');
    assert.equal(burnRate('availability', c, { ...slo, errorRate: 0 }), Infinity, 'a zero budget burns at once');
  });

  it('a window is the difference of two cumulative counts', () => {
    const a = emptySliCounts();
    const b = emptySliCounts();
    a.requests = 5;
    b.requests = 12;
    b.serverErrors = 3;
    b.answered[7] = 4;
    const w = sliBetween(a, b);
    assert.deepEqual([w.requests, w.serverErrors, w.answered[7]], [7, 3, 4]);
  });
});
