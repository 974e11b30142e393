import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AVAILABILITY_ALERT, LATENCY_ALERT, SloPeriodError, sloGroupName, sloRules, type AlertingRule, type RecordingRule } from './rules.ts';

const fraud = { name: 'fraud-detector', namespace: 'payments', slo: { latencyP95Ms: 250, errorRate: 0.01 } };

test('one group per service: 14 recorded ratios (two SLIs × seven windows), then 8 alerts', () => {
  const { groups } = sloRules(fraud);
  assert.equal(groups.length, 1);
  assert.equal(groups[0]!.name, sloGroupName(fraud));
  const records = groups[0]!.rules.filter((r): r is RecordingRule => 'record' in r);
  const alerts = groups[0]!.rules.filter((r): r is AlertingRule => 'alert' in r);
  assert.equal(records.length, 14);
  assert.equal(alerts.length, 8);
  // Recording rules come first: an alert reads ratios recorded in the same evaluation.
  assert.ok(groups[0]!.rules.findIndex((r) => 'alert' in r) === records.length);
});

test('the workbook’s thresholds: burn rate × budget, the budget errorRate for availability and 5% for latency', () => {
  const alerts = sloRules(fraud).groups[0]!.rules.filter((r): r is AlertingRule => 'alert' in r);
  const row = (alert: string, long: string) => alerts.find((a) => a.alert === alert && a.labels.long_window === long)!;
  const fast = row(AVAILABILITY_ALERT, '1h');
  assert.equal(
    fast.expr,
    'service:karb_slo_availability_errors:ratio_rate1h{service="fraud-detector"} > 0.144 and service:karb_slo_availability_errors:ratio_rate5m{service="fraud-detector"} > 0.144',
  );
  assert.deepEqual(fast.labels, { severity: 'page', service: 'fraud-detector', namespace: 'payments', slo: 'availability', long_window: '1h', short_window: '5m', burn_rate: '14.4' });
  assert.match(row(AVAILABILITY_ALERT, '6h').expr, /ratio_rate6h\{[^}]*\} > 0\.06 and .*ratio_rate30m\{[^}]*\} > 0\.06$/);
  assert.equal(row(AVAILABILITY_ALERT, '1d').labels.severity, 'ticket');
  assert.match(row(AVAILABILITY_ALERT, '3d').expr, /ratio_rate3d\{[^}]*\} > 0\.01 and .*ratio_rate6h\{[^}]*\} > 0\.01$/);
  assert.match(row(LATENCY_ALERT, '1h').expr, /^service:karb_slo_latency_slow:ratio_rate1h\{[^}]*\} > 0\.72 and /);
  assert.match(row(LATENCY_ALERT, '3d').expr, /> 0\.05$/);
});

test('the latency SLI counts against the service’s own target, read from the gateway’s counter', () => {
  const rules = sloRules(fraud).groups[0]!.rules as RecordingRule[];
  const latency5m = rules.find((r) => r.record === 'service:karb_slo_latency_slow:ratio_rate5m')!;
  assert.match(latency5m.expr, /karb_gateway_requests_within_latency_target_total\{service="fraud-detector"\}\[5m\]/);
  const errors5m = rules.find((r) => r.record === 'service:karb_slo_availability_errors:ratio_rate5m')!;
  assert.match(errors5m.expr, /code=~"5\.\."/);
});

test('a shorter SLO period scales every window, and the names stay the nominal ones', () => {
  const rules = sloRules(fraud, { periodMs: 86_400_000, scrapeIntervalMs: 1000 }).groups[0]!.rules;
  const r1h = rules.find((r) => 'record' in r && r.record === 'service:karb_slo_availability_errors:ratio_rate1h') as RecordingRule;
  assert.match(r1h.expr, /\[2m\]/);
  assert.doesNotMatch(r1h.expr, /\[1h\]/);
  const fast = rules.find((r) => 'alert' in r) as AlertingRule;
  assert.match(fast.annotations.description!, /scaled to an SLO period of 1d/);
});

test('a period too short for its windows at the scrape interval is refused, saying what is allowed', () => {
  assert.throws(
    () => sloRules(fraud, { periodMs: 86_400_000 }),
    (err: unknown) => err instanceof SloPeriodError && err.code === 'SLO_PERIOD_TOO_SHORT' && /scrapes every 15000 ms: .* would be 10000 ms, which must span 4 scrapes; give a period of at least 6d/.test(err.message),
  );
  // The same period, scraped every second: the 10 s window spans 10 scrapes.
  assert.doesNotThrow(() => sloRules(fraud, { periodMs: 86_400_000, scrapeIntervalMs: 1000 }));
  assert.throws(() => sloRules(fraud, { periodMs: 3_600_000, scrapeIntervalMs: 1000 }), /at least 576m/);
});

test('errorRate 0: any 5xx burns the budget, the threshold is 0', () => {
  const alerts = sloRules({ ...fraud, slo: { latencyP95Ms: 100, errorRate: 0 } }).groups[0]!.rules.filter((r): r is AlertingRule => 'alert' in r);
  assert.match(alerts[0]!.expr, / > 0 and .* > 0$/);
});
