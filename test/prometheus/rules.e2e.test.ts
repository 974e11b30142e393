/**
 * The generated SLO rules, checked by Prometheus' own tool: `promtool check rules` on what
 * `karb render --prometheus` writes, and `promtool test rules` walking the real 30-day windows
 * through simulated hours, proving which burn-rate alert fires when and that it resolves once
 * the bad requests stop. Series are given every minute, as a scrape would record them.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { karb, ROOT } from '../helpers.ts';
import { AVAILABILITY_ALERT, LATENCY_ALERT, sloRules, type AlertingRule } from '../../src/observability/slo/rules.ts';

const run = promisify(execFile);
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'karb-promtool-'));
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function promtool(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('promtool', args, { cwd: dir });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

test('promtool check rules accepts every file karb render --prometheus writes', async () => {
  const out = join(dir, 'rendered');
  const r = await karb(['render', '-f', join(ROOT, 'examples/fraud-detector.yaml'), '-f', join(ROOT, 'examples/tiny-lm.yaml'), '--prometheus', out]);
  assert.equal(r.code, 0, r.stderr);
  const files = readdirSync(out).sort();
  assert.deepEqual(files, ['default.fraud-detector.rules.yaml', 'default.tiny-lm.rules.yaml']);
  const check = await promtool(['check', 'rules', ...files.map((f) => join(out, f))]);
  assert.equal(check.code, 0, check.output);
  assert.match(check.output, /SUCCESS: 22 rules found[\s\S]*SUCCESS: 22 rules found/);
});

// ------------------------------------------------------------ promtool test rules, 30-day windows

const fraud = { name: 'fraud-detector', namespace: 'payments', slo: { latencyP95Ms: 250, errorRate: 0.01 } };
const slow = { name: 'slow-svc', namespace: 'payments', slo: { latencyP95Ms: 100, errorRate: 0.01 } };
const tenant = { name: 'tenant-svc', namespace: 'payments', slo: { latencyP95Ms: 250, errorRate: 0.01 } };
const shed = { name: 'shed-svc', namespace: 'payments', slo: { latencyP95Ms: 250, errorRate: 0.01 } };

/** A counter that grows by `perMinute[i]` for `minutes[i]` minutes, segment after segment, as promtool's series notation. */
function counter(segments: Array<[minutes: number, perMinute: number]>): string {
  const values = [0];
  for (const [minutes, perMinute] of segments) for (let i = 0; i < minutes; i++) values.push(values.at(-1)! + perMinute);
  return values.join(' ');
}

/** Go's `%.4g` as Prometheus' humanizePercentage writes it (for shares between 0.01% and 100%). */
function humanizePercentage(share: number): string {
  return `${Number((share * 100).toPrecision(4))}%`;
}

/** The alert `rule` as promtool expects it, with `$value` (the long window's bad share) expanded. */
function expected(rule: AlertingRule, value: number) {
  return {
    exp_labels: { ...rule.labels, service: rule.labels.service },
    exp_annotations: { ...rule.annotations, description: rule.annotations.description!.replace('{{ $value | humanizePercentage }}', humanizePercentage(value)) },
  };
}

const alertsOf = (svc: typeof fraud) => sloRules(svc).groups[0]!.rules.filter((r): r is AlertingRule => 'alert' in r);
const row = (svc: typeof fraud, alert: string, long: string) => alertsOf(svc).find((a) => a.alert === alert && a.labels.long_window === long)!;

test('promtool test rules: each burn-rate alert fires at its rate and window and resolves after the bad requests stop', async () => {
  writeFileSync(join(dir, 'fraud.rules.yaml'), stringify(sloRules(fraud), { lineWidth: 0 }));
  writeFileSync(join(dir, 'slow.rules.yaml'), stringify(sloRules(slow), { lineWidth: 0 }));
  writeFileSync(join(dir, 'tenant.rules.yaml'), stringify(sloRules(tenant), { lineWidth: 0 }));
  writeFileSync(join(dir, 'shed.rules.yaml'), stringify(sloRules(shed), { lineWidth: 0 }));
  const series = (name: string, labels: string) => `${name}{${labels}}`;
  const fraudSeries = (code: string) => `karb_gateway_requests_total{service="fraud-detector",revision="fraud-detector-00001",code="${code}"}`;
  const slowSeries = 'karb_gateway_requests_total{service="slow-svc",revision="slow-svc-00001",code="200"}';
  const tests = [
    {
      // fraud-detector: 100 good requests a minute for 10 hours; from minute 120 to 180, 20 more a minute fail with 500.
      interval: '1m',
      input_series: [
        { series: fraudSeries('200'), values: counter([[600, 100]]) },
        { series: fraudSeries('500'), values: counter([[120, 0], [60, 20], [420, 0]]) },
        { series: 'karb_gateway_requests_within_latency_target_total{service="fraud-detector",revision="fraud-detector-00001"}', values: counter([[600, 100]]) },
      ],
      promql_expr_test: [
        // 55 minutes of errors: 1,100 of the last hour's 7,100 requests (in millionths: floating point differs in the last digit).
        { expr: 'round(service:karb_slo_availability_errors:ratio_rate1h * 1e6)', eval_time: '175m', exp_samples: [{ labels: '{service="fraud-detector"}', value: Math.round((1100 / 7100) * 1e6) }] },
        // No 5xx at all is a ratio of 0, not a missing series.
        { expr: 'service:karb_slo_availability_errors:ratio_rate5m', eval_time: '60m', exp_samples: [{ labels: 'service:karb_slo_availability_errors:ratio_rate5m{service="fraud-detector"}', value: 0 }] },
      ],
      alert_rule_test: [
        // Good traffic only: nothing.
        { eval_time: '110m', alertname: AVAILABILITY_ALERT, exp_alerts: [] },
        // 30 minutes at a 16.7% error share: 3.8% of the day, 4.8% of 2 hours: both tickets, no page yet.
        {
          eval_time: '150m',
          alertname: AVAILABILITY_ALERT,
          exp_alerts: [expected(row(fraud, AVAILABILITY_ALERT, '1d'), 600 / 15600), expected(row(fraud, AVAILABILITY_ALERT, '3d'), 600 / 15600)],
        },
        // 55 minutes: the last hour's share (15.5%) passes 14.4 × 1%: the page fires; 6 hours (5.9%) are still under 6 × 1%.
        {
          eval_time: '175m',
          alertname: AVAILABILITY_ALERT,
          exp_alerts: [
            expected(row(fraud, AVAILABILITY_ALERT, '1h'), 1100 / 7100),
            expected(row(fraud, AVAILABILITY_ALERT, '1d'), 1100 / 18600),
            expected(row(fraud, AVAILABILITY_ALERT, '3d'), 1100 / 18600),
          ],
        },
        // 20 minutes after the errors stopped: the last 5 minutes are clean, the page has resolved; the tickets stay.
        {
          eval_time: '200m',
          alertname: AVAILABILITY_ALERT,
          exp_alerts: [expected(row(fraud, AVAILABILITY_ALERT, '1d'), 1200 / 21200), expected(row(fraud, AVAILABILITY_ALERT, '3d'), 1200 / 21200)],
        },
        // Latency: a failed request is not answered within the target either, so the same errors spend the
        // latency budget (5%): over 3 days (5.9%) and 6 hours they pass 1 × 5%, a ticket; nothing faster.
        { eval_time: '175m', alertname: LATENCY_ALERT, exp_alerts: [expected(row(fraud, LATENCY_ALERT, '3d'), 1100 / 18600)] },
        { eval_time: '110m', alertname: LATENCY_ALERT, exp_alerts: [] },
      ],
    },
    {
      // slow-svc: 100 requests a minute, all answered; from minute 60 to 130 only 20 a minute within 100 ms.
      interval: '1m',
      input_series: [
        { series: slowSeries, values: counter([[600, 100]]) },
        { series: 'karb_gateway_requests_within_latency_target_total{service="slow-svc",revision="slow-svc-00001"}', values: counter([[60, 100], [70, 20], [470, 100]]) },
      ],
      alert_rule_test: [
        { eval_time: '50m', alertname: LATENCY_ALERT, exp_alerts: [] },
        // 65 minutes at 80% slow: past 14.4 × 5% over the hour, 6 × 5% over 6 hours, 3 × 5% over 2 hours, 5% over 3 days.
        {
          eval_time: '125m',
          alertname: LATENCY_ALERT,
          exp_alerts: [
            expected(row(slow, LATENCY_ALERT, '1h'), 0.8),
            expected(row(slow, LATENCY_ALERT, '6h'), 5200 / 12500),
            expected(row(slow, LATENCY_ALERT, '1d'), 5200 / 12500),
            expected(row(slow, LATENCY_ALERT, '3d'), 5200 / 12500),
          ],
        },
        // 10 minutes after: the fast page resolved (the last 5 minutes are fast again); the 30-minute window still burns.
        {
          eval_time: '140m',
          alertname: LATENCY_ALERT,
          exp_alerts: [
            expected(row(slow, LATENCY_ALERT, '6h'), 5600 / 14000),
            expected(row(slow, LATENCY_ALERT, '1d'), 5600 / 14000),
            expected(row(slow, LATENCY_ALERT, '3d'), 5600 / 14000),
          ],
        },
        // The availability SLI is untouched by slowness.
        { eval_time: '125m', alertname: AVAILABILITY_ALERT, exp_alerts: [] },
      ],
    },
    {
      // Two services, 100 good requests a minute each; from minute 60 to 130, 400 more a minute answered 429:
      // tenant-svc's by one caller's own API-key rate limit (outside the SLIs), shed-svc's by its full queue.
      interval: '1m',
      input_series: [
        { series: series('karb_gateway_requests_total', 'service="tenant-svc",revision="tenant-svc-00001",code="200"'), values: counter([[600, 100]]) },
        { series: series('karb_gateway_requests_within_latency_target_total', 'service="tenant-svc",revision="tenant-svc-00001"'), values: counter([[600, 100]]) },
        { series: series('karb_gateway_requests_total', 'service="tenant-svc",revision="",code="429"'), values: counter([[60, 0], [70, 400], [470, 0]]) },
        { series: series('karb_gateway_requests_outside_sli_total', 'service="tenant-svc",revision=""'), values: counter([[60, 0], [70, 400], [470, 0]]) },
        { series: series('karb_gateway_requests_total', 'service="shed-svc",revision="shed-svc-00001",code="200"'), values: counter([[600, 100]]) },
        { series: series('karb_gateway_requests_within_latency_target_total', 'service="shed-svc",revision="shed-svc-00001"'), values: counter([[600, 100]]) },
        { series: series('karb_gateway_requests_total', 'service="shed-svc",revision="",code="429"'), values: counter([[60, 0], [70, 400], [470, 0]]) },
      ],
      promql_expr_test: [
        // The tenant's refusals are in neither ratio: both stay 0 (in millionths: the subtraction may leave a last digit).
        { expr: 'round(service:karb_slo_latency_slow:ratio_rate1h{service="tenant-svc"} * 1e6)', eval_time: '125m', exp_samples: [{ labels: '{service="tenant-svc"}', value: 0 }] },
        { expr: 'round(service:karb_slo_availability_errors:ratio_rate1h{service="tenant-svc"} * 1e6)', eval_time: '125m', exp_samples: [{ labels: '{service="tenant-svc"}', value: 0 }] },
        // Without the exclusion the same requests would read 80% slow, as shed-svc's do.
        { expr: 'round(service:karb_slo_latency_slow:ratio_rate1h{service="shed-svc"} * 1e6)', eval_time: '125m', exp_samples: [{ labels: '{service="shed-svc"}', value: 800000 }] },
      ],
      alert_rule_test: [
        { eval_time: '125m', alertname: LATENCY_ALERT, exp_alerts: [
          // Only shed-svc: 80% of its last hour was shed, past 14.4 × 5%; over 6 hours 26,000 of 38,500.
          expected(row(shed, LATENCY_ALERT, '1h'), 0.8),
          expected(row(shed, LATENCY_ALERT, '6h'), 26000 / 38500),
          expected(row(shed, LATENCY_ALERT, '1d'), 26000 / 38500),
          expected(row(shed, LATENCY_ALERT, '3d'), 26000 / 38500),
        ] },
        // A 429 is no 5xx: availability is untouched in both.
        { eval_time: '125m', alertname: AVAILABILITY_ALERT, exp_alerts: [] },
      ],
    },
  ];
  writeFileSync(join(dir, 'slo.test.yaml'), stringify({ rule_files: ['fraud.rules.yaml', 'slow.rules.yaml', 'tenant.rules.yaml', 'shed.rules.yaml'], evaluation_interval: '1m', tests }, { lineWidth: 0 }));
  const result = await promtool(['test', 'rules', 'slo.test.yaml']);
  assert.equal(result.code, 0, result.output);
  assert.match(result.output, /SUCCESS/);
});
