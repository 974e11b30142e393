import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { latencyBin } from '../observability/latency-histogram.ts';
import { analyze } from './analysis.ts';
import { emptyCounts, type WindowCounts } from '../observability/revision-counters.ts';

const SPEC = { interval: '10s', minRequests: 50, maxErrorRateDelta: 0.005, maxLatencyP95Ratio: 1.2 };
const SLO = { latencyP95Ms: 250, errorRate: 0.01 };

/** `requests` answers, `errors` of them failed, latencies spread evenly over [lowMs, highMs]. */
function window(requests: number, errors: number, lowMs: number, highMs: number): WindowCounts {
  const c = emptyCounts();
  c.requests = requests;
  c.errors = errors;
  for (let i = 0; i < requests; i++) {
    const ms = requests === 1 ? lowMs : lowMs + ((highMs - lowMs) * i) / (requests - 1);
    c.latency[latencyBin(ms)]! += 1;
  }
  return c;
}

describe('analyze', () => {
  const cases: Array<{ name: string; stable: WindowCounts; canary: WindowCounts; verdict: string; reason: string; baseline?: string }> = [
    { name: 'too few canary requests: not judged', stable: window(500, 0, 2, 4), canary: window(49, 20, 2, 4), verdict: 'Inconclusive', reason: 'NotEnoughRequests' },
    { name: 'equal error rates and latency pass', stable: window(500, 2, 2, 4), canary: window(60, 0, 2, 4), verdict: 'Pass', reason: 'WithinThresholds' },
    { name: '20% errors fail at once', stable: window(500, 0, 2, 4), canary: window(60, 12, 2, 4), verdict: 'Fail', reason: 'ErrorRateRegressed' },
    // 1 in 50 is 2%, above stable + 0.5%, but likely enough from a revision failing at 0.9% (p ≈ 0.36).
    { name: 'one unlucky error among the first fifty does not fail', stable: window(1000, 4, 2, 4), canary: window(50, 1, 2, 4), verdict: 'Pass', reason: 'WithinThresholds' },
    { name: 'twice the latency fails', stable: window(500, 0, 20, 24), canary: window(60, 0, 40, 48), verdict: 'Fail', reason: 'LatencyRegressed' },
    { name: '10% slower passes under a 1.2 ratio', stable: window(500, 0, 20, 24), canary: window(60, 0, 22, 26.4), verdict: 'Pass', reason: 'WithinThresholds' },
    { name: 'a few slow requests among many fast ones do not fail', stable: window(500, 0, 20, 24), canary: (() => { const c = window(100, 0, 20, 24); c.latency[latencyBin(22)]! -= 6; c.latency[latencyBin(60)]! += 6; return c; })(), verdict: 'Pass', reason: 'WithinThresholds' },
    { name: 'without enough stable requests the SLO is the baseline', stable: window(10, 0, 2, 4), canary: window(60, 0, 300, 400), verdict: 'Fail', reason: 'LatencyRegressed', baseline: 'slo' },
    { name: 'the SLO baseline passes a canary within it', stable: window(0, 0, 2, 4), canary: window(60, 0, 100, 120), verdict: 'Pass', reason: 'WithinThresholds', baseline: 'slo' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const result = analyze(c.stable, c.canary, SPEC, SLO);
      assert.equal(result.verdict, c.verdict, result.message);
      assert.equal(result.reason, c.reason, result.message);
      if (c.baseline) assert.equal(result.baseline, c.baseline);
    });
  }

  it('says what it compared, in words', () => {
    const fail = analyze(window(500, 0, 2, 4), window(60, 12, 2, 4), SPEC, SLO);
    assert.match(fail.message, /^error rate 20\.0% over 60 requests vs stable 0\.00% \(allowed \+0\.50%\)$/);
    const slow = analyze(window(500, 0, 20, 24), window(60, 0, 40, 48), SPEC, SLO);
    assert.match(slow.message, /^p95 [\d.]+ ms over 60 requests vs stable [\d.]+ ms \(×[12]\.\d\d, allowed ×1\.2\)$/);
    assert.equal(fail.canary.requests, 60);
    assert.equal(fail.stable.errorRate, 0);
  });
});
