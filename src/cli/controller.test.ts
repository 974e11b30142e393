import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKarb } from '../serving/test-helpers.ts';

test('karb controller: the custom metrics API needs a certificate and its key; its port and host go only with them (exit 2, before any cluster is asked)', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['controller', '--metrics-api-port', '6443'], /--metrics-api-port goes with --metrics-api-cert and --metrics-api-key: the custom metrics API is served over HTTPS only/],
    [['controller', '--metrics-api-host', '0.0.0.0'], /--metrics-api-host goes with --metrics-api-cert/],
    [['controller', '--metrics-api-cert', 'tls.crt'], /needs both --metrics-api-cert and --metrics-api-key \(got only --metrics-api-cert\)/],
    [['controller', '--metrics-api-key', 'tls.key'], /got only --metrics-api-key/],
    [['controller', '--metrics-api-cert', 'tls.crt', '--metrics-api-key', 'tls.key', '--metrics-api-port', 'x'], /--metrics-api-port must be a whole number, got "x"/],
  ];
  for (const [args, message] of cases) {
    const r = await runKarb(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});
