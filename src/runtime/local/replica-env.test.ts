import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LocalProcessSpec } from './process-spec.ts';
import { buildReplicaCommand } from './replica-command.ts';

const template: LocalProcessSpec = {
  revision: 'chat-00001',
  service: 'chat',
  namespace: 'default',
  model: { format: 'openai', name: 'chat' },
  command: ['my-server', '--port', '$PORT'],
};

/** What karb up's environment may hold besides what a process needs. */
const karbEnv = {
  PATH: '/usr/bin:/bin',
  HOME: '/home/k',
  LANG: 'C.UTF-8',
  LC_ALL: 'C.UTF-8',
  TZ: 'UTC',
  NODE_OPTIONS: '--max-old-space-size=512',
  CUDA_VISIBLE_DEVICES: '0',
  KARB_LOG_LEVEL: 'debug',
  KARB_TOKEN: 'karb_admin_secret',
  AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'aws-secret',
  DATABASE_URL: 'postgres://user:password@db/prod',
  HTTPS_PROXY: 'http://user:pass@proxy:3128',
  PORT: '1',
};
const ctx = { replica: 'chat-00001-abcde', port: 4321, host: '127.0.0.1', execPath: '/bin/node', karbEntry: '/karb/src/cli/main.ts', baseEnv: karbEnv };

test("a replica gets a minimal environment, never karb's secrets", () => {
  const { env } = buildReplicaCommand(template, ctx);
  assert.deepEqual(env, {
    PATH: '/usr/bin:/bin',
    HOME: '/home/k',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    TZ: 'UTC',
    NODE_OPTIONS: '--max-old-space-size=512',
    KARB_LOG_LEVEL: 'debug',
    // Not karb's CUDA_VISIBLE_DEVICES: a replica sees the GPUs karb assigned it, here none.
    CUDA_VISIBLE_DEVICES: '',
    NVIDIA_VISIBLE_DEVICES: '',
    PORT: '4321',
    KARB_REPLICA: 'chat-00001-abcde',
    KARB_REVISION: 'chat-00001',
    KARB_SERVICE: 'chat',
    KARB_NAMESPACE: 'default',
  });
});

test("a replica sees exactly the GPUs karb assigned it, whatever karb's environment or its spec's env say", () => {
  const gpus = ['GPU-3f9c2a51-7d4e-4b8a-9c61-2e5f0a7b1d34', 'GPU-8a1e6c02-54b3-4f9d-a7e2-c90d13f4b6a8'];
  const { env } = buildReplicaCommand({ ...template, env: { CUDA_VISIBLE_DEVICES: '1' } }, { ...ctx, visibleDevices: gpus });
  assert.equal(env.CUDA_VISIBLE_DEVICES, gpus.join(','));
  assert.equal(env.NVIDIA_VISIBLE_DEVICES, gpus.join(','));
  const none = buildReplicaCommand({ ...template, env: { CUDA_VISIBLE_DEVICES: '1' } }, ctx).env;
  assert.equal(none.CUDA_VISIBLE_DEVICES, '', 'asking for no GPU in the spec leaves none visible');
});

test('the built-in server gets the same minimal environment', () => {
  const { env } = buildReplicaCommand({ ...template, command: undefined, model: { format: 'onnx', name: 'fraud', path: '/m/fraud-v1.onnx' } }, ctx);
  for (const secret of ['KARB_TOKEN', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'DATABASE_URL', 'HTTPS_PROXY']) assert.equal(env[secret], undefined, secret);
  assert.equal(env.PATH, '/usr/bin:/bin');
});

test("what the spec's env sets reaches the replica, a variable karb has included", () => {
  const { env } = buildReplicaCommand({ ...template, env: { AWS_REGION: 'eu-west-1', HTTPS_PROXY: 'http://proxy:3128', PATH: '/opt/bin' } }, ctx);
  assert.equal(env.AWS_REGION, 'eu-west-1');
  assert.equal(env.HTTPS_PROXY, 'http://proxy:3128');
  assert.equal(env.PATH, '/opt/bin');
  assert.equal(env.AWS_SECRET_ACCESS_KEY, undefined);
});

test("a replica inherits only tracing's listed OTEL_* variables: never the exporters' credentials or the gateway's service name", () => {
  const { env } = buildReplicaCommand(template, {
    ...ctx,
    baseEnv: {
      PATH: '/usr/bin',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'https://karb:collector-secret@collector:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector:4318/v1/traces',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.01',
      OTEL_SDK_DISABLED: 'false',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod',
      // Not passed on: the gateway's own name, and every exporter's credentials.
      OTEL_SERVICE_NAME: 'edge-gateway',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer collector-secret',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-api-key=collector-secret',
      OTEL_EXPORTER_OTLP_METRICS_HEADERS: 'x-api-key=collector-secret',
      OTEL_EXPORTER_OTLP_LOGS_HEADERS: 'x-api-key=collector-secret',
      OTEL_EXPORTER_OTLP_CLIENT_KEY: '/etc/karb/otlp-client.key',
      OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: '/etc/karb/otlp-client.crt',
      OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY: '/etc/karb/otlp-client.key',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'https://karb:collector-secret@collector:4318/v1/metrics',
      OTEL_UNKNOWN_FUTURE_VARIABLE: 'collector-secret',
    },
  });
  const otel = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('OTEL_')));
  assert.deepEqual(otel, {
    OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector:4318/',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector:4318/v1/traces',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0.01',
    OTEL_SDK_DISABLED: 'false',
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod',
  });
  assert.ok(!JSON.stringify(env).includes('collector-secret'));
});

test('an endpoint that is not an http(s) URL is not passed on: what it holds cannot be told from a credential', () => {
  const { env } = buildReplicaCommand(template, { ...ctx, baseEnv: { OTEL_EXPORTER_OTLP_ENDPOINT: 'karb:collector-secret@collector:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' } });
  assert.equal(env.OTEL_EXPORTER_OTLP_ENDPOINT, undefined);
  assert.equal(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, 'http://collector:4318/v1/traces');
});
