import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { sloRules } from '../observability/slo/rules.ts';
import { runKarb } from '../serving/test-helpers.ts';
import { RULES_HEADER, planPrometheusRules } from './render-prometheus.ts';

const service = (name: string, namespace: string | undefined, slo: Record<string, number>) => ({
  apiVersion: 'karb.dev/v1alpha1',
  kind: 'InferenceService',
  metadata: { name, ...(namespace ? { namespace } : {}) },
  spec: { model: { uri: 'pvc://models/fraud-v1.onnx' }, slo },
});

function workspace(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'karb-render-prometheus-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('one rule file per service, NAMESPACE.NAME.rules.yaml in namespace-then-name order, its SLO’s rules after karb’s header', () => {
  const files = planPrometheusRules(
    [
      { source: 'a.yaml', raw: service('zeta', 'payments', { latencyP95Ms: 80, errorRate: 0.001 }) },
      { source: 'b.yaml', raw: service('alpha', undefined, {}) },
    ],
    { namespace: 'default' },
  );
  assert.deepEqual(files.map((f) => f.path), ['default.alpha.rules.yaml', 'payments.zeta.rules.yaml']);
  assert.ok(files[1]!.content.startsWith(`${RULES_HEADER}\n`));
  assert.deepEqual(parse(files[1]!.content), sloRules({ name: 'zeta', namespace: 'payments', slo: { latencyP95Ms: 80, errorRate: 0.001 } }));
  // The schema's defaults (250 ms, 1%) where the manifest gives no SLO.
  assert.deepEqual(parse(files[0]!.content), sloRules({ name: 'alpha', namespace: 'default', slo: { latencyP95Ms: 250, errorRate: 0.01 } }));
});

test('karb render --prometheus alone writes only the rule files; a later render removes the rule files it no longer has, not the user’s', async (t) => {
  const dir = workspace(t);
  const a = path.join(dir, 'a.json');
  const b = path.join(dir, 'b.json');
  writeFileSync(a, JSON.stringify(service('a', undefined, {})));
  writeFileSync(b, JSON.stringify(service('b', undefined, {})));
  const rules = path.join(dir, 'rules');
  const first = await runKarb(['render', '-f', a, '-f', b, '--prometheus', rules, '--slo-period', '1d', '--scrape-interval', '1s']);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^wrote .*rules \(2 rule files: recording rules and burn-rate alerts of each service's SLO\)\n$/);
  assert.deepEqual(readdirSync(dir).sort(), ['a.json', 'b.json', 'rules'], 'no Kustomize tree without --out');
  assert.match(readFileSync(path.join(rules, 'default.a.rules.yaml'), 'utf8'), /\[2m\]/, 'the 1-hour window scaled to a 1-day period');
  writeFileSync(path.join(rules, 'mine.rules.yaml'), 'groups: []\n');
  const second = await runKarb(['render', '-f', a, '--prometheus', rules]);
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual(readdirSync(rules).sort(), ['default.a.rules.yaml', 'mine.rules.yaml']);
});

test('karb render --prometheus: an invalid spec exits 1 naming the field and writes nothing', async (t) => {
  const dir = workspace(t);
  const bad = path.join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify(service('bad', undefined, { errorRate: 2 })));
  const rules = path.join(dir, 'rules');
  const r = await runKarb(['render', '-f', bad, '--prometheus', rules]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /spec\.slo\.errorRate/);
  assert.deepEqual(readdirSync(dir), ['bad.json']);
});

test('karb render --prometheus: usage mistakes exit 2 with what was expected', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['render', '-f', 'examples', '--prometheus', ''], /--prometheus needs a directory/],
    [['render', '-f', 'examples', '--out', '/tmp/x', '--slo-period', '1d'], /--slo-period shapes the rule files: give --prometheus DIR too/],
    [['render', '-f', 'examples', '--out', '/tmp/x', '--scrape-interval', '1s'], /--scrape-interval shapes the rule files: give --prometheus DIR too/],
    // At the default 15 s scrapes a 1-day period's 10 s window would hold no rate.
    [
      ['render', '-f', 'examples', '--prometheus', '/tmp/x', '--slo-period', '1d'],
      /--slo-period 1d is too short for scrapes every 15s: .* would be 10000 ms, which must span 4 scrapes\. Give --slo-period 6d or longer, or, if your Prometheus scrapes the gateways every 2500ms or more often, say so with --scrape-interval/,
    ],
    [['render', '-f', 'examples', '--prometheus', '/tmp/x', '--slo-period', '1h', '--scrape-interval', '1s'], /--slo-period 1h is too short for scrapes every 1s: .*Give --slo-period 576m or longer/],
    [['render', '-f', 'examples', '--prometheus', '/tmp/x', '--scrape-interval', '0s'], /--scrape-interval must be at least 1ms/],
    [['render', '-f', 'examples', '--prometheus', '/tmp/x', '--slo-period', 'monthly'], /--slo-period must be a duration/],
    [['render', '-f', 'examples', '--prometheus', '/tmp/x', '--overlay', 'a=x.yaml'], /--overlay needs --out DIR/],
  ];
  for (const [args, message] of cases) {
    const r = await runKarb(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});
