import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { exemplarSuffix, toOpenMetrics, wantsOpenMetrics } from './openmetrics.ts';

describe('OpenMetrics for exemplars', () => {
  const accepts: Array<[string | undefined, boolean]> = [
    [undefined, false],
    ['text/plain;version=0.0.4', false],
    // What Prometheus sends with exemplar storage on.
    ['application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1', true],
    ['Application/OpenMetrics-Text', true],
    ['application/openmetrics-text;q=0', false],
  ];
  for (const [accept, want] of accepts) {
    it(`${want ? 'answers' : 'does not answer'} OpenMetrics to Accept: ${accept}`, () => assert.equal(wantsOpenMetrics(accept), want));
  }

  it('renames counter families, declares a counter without _total unknown, drops empty lines and ends with # EOF', () => {
    const text = [
      '# HELP karb_gateway_requests_total Requests.',
      '# TYPE karb_gateway_requests_total counter',
      'karb_gateway_requests_total{code="200"} 3',
      '',
      '# HELP odd_count Odd.',
      '# TYPE odd_count counter',
      'odd_count 1',
      '',
      '# HELP d Durations.',
      '# TYPE d histogram',
      `d_bucket{le="0.01"} 1${exemplarSuffix({ traceId: 'ab'.repeat(16), value: 0.004, timestamp: 1765100000.5 })}`,
      '',
    ].join('\n');
    assert.equal(
      toOpenMetrics(text),
      [
        '# HELP karb_gateway_requests Requests.',
        '# TYPE karb_gateway_requests counter',
        'karb_gateway_requests_total{code="200"} 3',
        '# HELP odd_count Odd.',
        '# TYPE odd_count unknown',
        'odd_count 1',
        '# HELP d Durations.',
        '# TYPE d histogram',
        `d_bucket{le="0.01"} 1 # {trace_id="${'ab'.repeat(16)}"} 0.004 1765100000.5`,
        '# EOF',
        '',
      ].join('\n'),
    );
  });
});
