import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayMetrics } from './metrics.ts';
import { metricValue } from './test-support.ts';

test('request counts, durations and in-flight requests render in the exposition format, buckets cumulative', async () => {
  const m = new GatewayMetrics();
  m.requestFinished('fraud', 'fraud-00001', 200, 0.0004);
  m.requestFinished('fraud', 'fraud-00001', 200, 0.003);
  m.requestFinished('fraud', 'fraud-00001', 503, 0.003);
  m.requestFinished('fraud', 'fraud-00002', 200, 45);
  m.upstreamStarted('fraud');
  m.upstreamStarted('fraud');
  m.upstreamFinished('fraud');
  m.noEndpoint('fraud');
  const text = await m.render();

  const rev1 = 'service="fraud",revision="fraud-00001"';
  assert.equal(metricValue(text, 'karb_gateway_requests_total', `${rev1},code="200"`), 2);
  assert.equal(metricValue(text, 'karb_gateway_requests_total', `${rev1},code="503"`), 1);
  assert.equal(metricValue(text, 'karb_gateway_request_duration_seconds_bucket', `le="0.0005",${rev1}`), 1);
  assert.equal(metricValue(text, 'karb_gateway_request_duration_seconds_bucket', `le="0.001",${rev1}`), 1);
  assert.equal(metricValue(text, 'karb_gateway_request_duration_seconds_bucket', `le="0.005",${rev1}`), 3);
  assert.equal(metricValue(text, 'karb_gateway_request_duration_seconds_bucket', `le="+Inf",${rev1}`), 3);
  assert.equal(metricValue(text, 'karb_gateway_request_duration_seconds_count', rev1), 3);
  assert.ok(Math.abs(metricValue(text, 'karb_gateway_request_duration_seconds_sum', rev1) - 0.0064) < 1e-12);
  // Beyond the highest bound: only in +Inf.
  const rev2 = 'service="fraud",revision="fraud-00002"';
  assert.equal(metricValue(text, 'karb_gateway_request_duration_seconds_bucket', `le="30",${rev2}`), 0);
  assert.equal(metricValue(text, 'karb_gateway_request_duration_seconds_bucket', `le="+Inf",${rev2}`), 1);
  assert.equal(metricValue(text, 'karb_gateway_upstream_inflight_requests', 'service="fraud"'), 1);
  assert.equal(metricValue(text, 'karb_gateway_no_endpoint_total', 'service="fraud"'), 1);

  // Each family once, with its type; counts keep growing between scrapes.
  assert.equal(text.match(/^# TYPE karb_gateway_request_duration_seconds histogram$/gm)?.length, 1);
  assert.equal(text.match(/^# TYPE karb_gateway_requests_total counter$/gm)?.length, 1);
  m.requestFinished('fraud', 'fraud-00001', 200, 0.02);
  assert.equal(metricValue(await m.render(), 'karb_gateway_requests_total', `${rev1},code="200"`), 3);
});

test('label values are escaped as the exposition format requires', async () => {
  const m = new GatewayMetrics();
  m.requestFinished('a"b\\c', 'line\nbreak', 200, 0.01);
  const text = await m.render();
  assert.match(text, /karb_gateway_request_duration_seconds_count\{service="a\\"b\\\\c",revision="line\\nbreak"\} 1/);
});

test('requests within the latency target: answered (not 5xx, not 429) within the route’s latencyP95Ms, the target itself included', async () => {
  const m = new GatewayMetrics();
  m.requestFinished('fraud', 'fraud-00001', 200, 0.25, 250); // at the target: within
  m.requestFinished('fraud', 'fraud-00001', 404, 0.01, 250); // the caller's mistake, answered fast: within
  m.requestFinished('fraud', 'fraud-00001', 200, 0.2501, 250); // slow
  m.requestFinished('fraud', 'fraud-00001', 500, 0.01, 250); // not answered
  m.requestFinished('fraud', 'fraud-00001', 429, 0.01, 250); // shed
  m.requestFinished('fraud', 'fraud-00001', 200, 0.01); // no target known (no route): never within
  m.requestFinished('other', 'other-00001', 503, 0.01, 250);
  const text = await m.render();
  assert.equal(metricValue(text, 'karb_gateway_requests_within_latency_target_total', 'service="fraud",revision="fraud-00001"'), 2);
  // Every series of requests has its good count, 0 included, so a ratio over it is never missing.
  assert.equal(metricValue(text, 'karb_gateway_requests_within_latency_target_total', 'service="other",revision="other-00001"'), 0);
});
