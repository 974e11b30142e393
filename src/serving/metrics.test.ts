import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createServingMetrics, REQUEST_SECONDS_BUCKETS } from './metrics.ts';
import { createOpenAIMetrics } from './openai/metrics.ts';
import { metricValue } from './test-helpers.ts';

const SHARED = ['karb_serving_requests_total', 'karb_serving_request_duration_seconds', 'karb_serving_inflight_requests'];

/** The `# HELP`/`# TYPE` lines and bucket bounds of one family, which must not differ between the servers. */
function shape(text: string, name: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`# HELP ${name} `) || l.startsWith(`# TYPE ${name} `) || l.startsWith(`${name}_bucket`))
    .map((l) => (l.startsWith('#') ? l : l.slice(0, l.lastIndexOf(' ')))); // bucket bounds, not counts
}

test('both model servers define the request families alike: same names, help, type and buckets', async () => {
  const oip = createServingMetrics('fraud', { queuedRows: () => 0, queuedRequests: () => 0, inFlight: () => 3 });
  const openai = createOpenAIMetrics('tiny-lm', () => 2);
  oip.countRequest('infer', 200);
  oip.observeRequestSeconds(0.004);
  openai.countRequest('completions', 200, 12);
  const a = (await oip.registry.metrics()).replaceAll('model="fraud"', 'model="m"').replaceAll('route="infer"', 'route="r"');
  const b = (await openai.registry.metrics()).replaceAll('model="tiny-lm"', 'model="m"').replaceAll('route="completions"', 'route="r"');
  for (const name of SHARED) {
    assert.ok(shape(a, name).length > 0, `${name} is exported`);
    assert.deepEqual(shape(a, name), shape(b, name), name);
  }
  assert.equal(shape(a, 'karb_serving_request_duration_seconds').filter((l) => l.includes('_bucket')).length, REQUEST_SECONDS_BUCKETS.length + 1);
  assert.equal(metricValue(a, 'karb_serving_inflight_requests'), 3);
  assert.equal(metricValue(b, 'karb_serving_inflight_requests'), 2);
  assert.equal(metricValue(b, 'karb_serving_request_duration_seconds_bucket', { le: '30' }), 1, 'a 12 s generation falls in the 30 s bucket');
});
