import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readTracingConfig, type Env } from './config.ts';

const read = (env: Env) => {
  const warnings: string[] = [];
  const setting = readTracingConfig(env, 'karb-gateway', (m) => warnings.push(m));
  return { setting, warnings };
};
const ON = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };

describe('tracing configuration from OTEL_* variables', () => {
  const cases: Array<{ why: string; env: Env; want: Record<string, unknown>; warns?: RegExp }> = [
    { why: 'no endpoint: off, so the request path pays nothing', env: {}, want: { enabled: false } },
    { why: 'the base endpoint gets /v1/traces', env: ON, want: { enabled: true, url: 'http://collector:4318/v1/traces', sampler: 'parentbased_always_on', ratio: 1 } },
    { why: 'a trailing slash is not doubled', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' }, want: { url: 'http://c:4318/v1/traces' } },
    { why: 'the traces endpoint is used as it is, and wins', env: { ...ON, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://t.example/otlp/traces' }, want: { url: 'https://t.example/otlp/traces' } },
    { why: 'a bad traces endpoint falls back to the base one', env: { ...ON, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'collector:4318' }, want: { url: 'http://collector:4318/v1/traces' }, warns: /OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is not an http:\/\/ or https:\/\/ URL \(give one such as http:\/\/collector:4318\); it is ignored/ },
    { why: 'a bad base endpoint turns tracing off', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://c:4317' }, want: { enabled: false }, warns: /OTEL_EXPORTER_OTLP_ENDPOINT is grpc:\/\/c:4317, not an http/ },
    { why: 'OTEL_SDK_DISABLED=true wins over an endpoint', env: { ...ON, OTEL_SDK_DISABLED: 'TRUE' }, want: { enabled: false, reason: 'OTEL_SDK_DISABLED is true' } },
    { why: 'OTEL_SDK_DISABLED that is not a boolean is false', env: { ...ON, OTEL_SDK_DISABLED: 'yes' }, want: { enabled: true }, warns: /OTEL_SDK_DISABLED is "yes"; it takes true or false/ },
    { why: 'exporter none turns tracing off', env: { ...ON, OTEL_TRACES_EXPORTER: 'none' }, want: { enabled: false } },
    { why: 'an exporter karb lacks falls back to otlp', env: { ...ON, OTEL_TRACES_EXPORTER: 'zipkin' }, want: { enabled: true }, warns: /OTEL_TRACES_EXPORTER names zipkin; .* uses otlp/ },
    { why: 'a ratio sampler with its argument', env: { ...ON, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.01' }, want: { sampler: 'parentbased_traceidratio', ratio: 0.01 } },
    { why: 'a ratio outside 0..1 samples everything', env: { ...ON, OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '5' }, want: { sampler: 'traceidratio', ratio: 1 }, warns: /OTEL_TRACES_SAMPLER_ARG is "5"/ },
    { why: 'the argument means nothing to always_on', env: { ...ON, OTEL_TRACES_SAMPLER: 'always_on', OTEL_TRACES_SAMPLER_ARG: 'x' }, want: { sampler: 'always_on', ratio: 1 } },
    { why: 'an unknown sampler is the default', env: { ...ON, OTEL_TRACES_SAMPLER: 'jaeger_remote' }, want: { sampler: 'parentbased_always_on' }, warns: /OTEL_TRACES_SAMPLER is "jaeger_remote"/ },
    { why: 'grpc is not spoken: said, and http/json sent', env: { ...ON, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, want: { enabled: true }, warns: /OTEL_EXPORTER_OTLP_PROTOCOL is "grpc"; karb sends traces as http\/json/ },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const { setting, warnings } = read(c.env);
      for (const [key, value] of Object.entries(c.want)) assert.deepEqual((setting as unknown as Record<string, unknown>)[key], value, key);
      if (c.warns) {
        assert.equal(warnings.length, 1, warnings.join('\n'));
        assert.match(warnings[0]!, c.warns);
      } else assert.deepEqual(warnings, []);
    });
  }

  it('never repeats an endpoint’s userinfo or query in a warning, nor a value that is no URL', () => {
    const secret = 's3cret';
    for (const [env, shown] of [
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: `grpc://karb:${secret}@collector:4317/otlp?api_key=${secret}` }, /is grpc:\/\/collector:4317\/otlp, not an http/],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: `karb:${secret}@collector:4318` }, /OTEL_EXPORTER_OTLP_ENDPOINT is not an http/],
      [{ ...ON, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${secret}` }, /OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is not an http/],
    ] as const) {
      const { warnings } = read(env);
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(warnings[0]!, shown);
      assert.ok(!warnings[0]!.includes(secret), warnings[0]);
    }
  });

  it('builds the resource: the default service name, OTEL_SERVICE_NAME over it, attributes percent-decoded, bad entries skipped', () => {
    const { setting, warnings } = read({ ...ON, OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,team=pay%20ments,broken,=x' });
    assert.ok(setting.enabled);
    assert.deepEqual(setting.resource, { 'deployment.environment': 'prod', team: 'pay ments', 'service.name': 'karb-gateway' });
    assert.equal(warnings.length, 2);
    assert.match(warnings[0]!, /OTEL_RESOURCE_ATTRIBUTES has "broken"/);
    const named = read({ ...ON, OTEL_SERVICE_NAME: 'edge-eu', OTEL_RESOURCE_ATTRIBUTES: 'service.name=other' }).setting;
    assert.ok(named.enabled);
    assert.equal(named.resource['service.name'], 'edge-eu');
  });
});
