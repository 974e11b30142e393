import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RevisionTemplate } from '../types.ts';
import { localProcessSpec, type LocalProcessSpec } from './process-spec.ts';
import { buildReplicaCommand, processSpecHash } from './replica-command.ts';

const template: RevisionTemplate = {
  revision: 'fraud-detector-00002',
  service: 'fraud-detector',
  namespace: 'payments',
  model: { format: 'onnx', name: 'fraud-detector', uri: 'file://models/fraud-v1.onnx', batching: { maxBatchSize: 32, maxDelayMs: 4 } },
  resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '2', memory: '2Gi' } },
  placement: { pools: [], tolerations: [], nodeSelector: {} },
  drainSeconds: 30,
};

test('the built-in server: the model file under the models root, and a drain timeout 5 s inside the grace', () => {
  // The shape replica records have always kept, so replicas an older karb left running are adopted, not replaced.
  const legacy: LocalProcessSpec = {
    revision: 'fraud-detector-00002',
    service: 'fraud-detector',
    namespace: 'payments',
    model: { format: 'onnx', name: 'fraud-detector', path: '/srv/karb/models/fraud-v1.onnx' },
    batching: { maxBatchSize: 32, maxDelayMs: 4 },
    drainSeconds: 30,
    serverArgs: ['--drain-timeout-ms', '25000'],
  };
  const spec = localProcessSpec(template, '/srv/karb');
  assert.deepEqual(spec, legacy);
  assert.equal(processSpecHash(spec), processSpecHash(legacy));
});

test('a custom command runs as given, with its env and readiness path, and no built-in flags', () => {
  const spec = localProcessSpec({ ...template, model: { ...template.model, format: 'openai', command: ['vllm', 'serve', '--port', '$PORT'], env: { A: 'b' }, readinessPath: '/health' } }, '/srv/karb');
  assert.deepEqual(spec.command, ['vllm', 'serve', '--port', '$PORT']);
  assert.deepEqual(spec.env, { A: 'b' });
  assert.equal(spec.readinessPath, '/health');
  assert.equal(spec.serverArgs, undefined);
  assert.equal(spec.drainSeconds, 30);
});

test('an absolute file URI is its own path; a URI that is no file has none', () => {
  assert.equal(localProcessSpec({ ...template, model: { ...template.model, uri: 'file:///data/m.onnx' } }, '/srv/karb').model.path, '/data/m.onnx');
  assert.equal(localProcessSpec({ ...template, model: { ...template.model, uri: 's3://bucket/m.onnx' } }, '/srv/karb').model.path, undefined);
});

test('image, requests, limits and placement do not change what runs on this machine', () => {
  const other: RevisionTemplate = {
    ...template,
    model: { ...template.model, image: 'ghcr.io/example/karb-serve:1' },
    resources: { requests: { cpu: '4', memory: '8Gi' }, limits: { cpu: '8', memory: '16Gi' } },
    placement: { pools: ['onprem-a100'], tolerations: [], nodeSelector: { zone: 'a' } },
  };
  assert.equal(processSpecHash(localProcessSpec(other, '/srv/karb')), processSpecHash(localProcessSpec(template, '/srv/karb')));
});

test('an accelerator is kept in the process spec, since it decides the GPUs a replica sees; without one the spec is as before', () => {
  const accelerator = { kind: 'nvidia.com/gpu', count: 1, sharing: 'time-slice' as const };
  const gpu = localProcessSpec({ ...template, resources: { ...template.resources, accelerator } }, '/srv/karb');
  assert.deepEqual(gpu.accelerator, accelerator);
  assert.notEqual(processSpecHash(gpu), processSpecHash(localProcessSpec(template, '/srv/karb')));
  assert.equal('accelerator' in localProcessSpec(template, '/srv/karb'), false);
});

test('without a drain grace the built-in server keeps its own drain timeout', () => {
  const { drainSeconds: _, ...noGrace } = template;
  const spec = localProcessSpec(noGrace, '/srv/karb');
  assert.equal(spec.serverArgs, undefined);
  assert.equal(spec.drainSeconds, undefined);
});

test('spec.model.drift becomes the built-in server\'s drift flags, the reference under the models root', () => {
  const spec = localProcessSpec({ ...template, model: { ...template.model, drift: { reference: 'file://models/fraud-v1.reference.json', learnRows: 500, windowRows: 4000 } } }, '/srv/karb');
  assert.deepEqual(spec.serverArgs, ['--drain-timeout-ms', '25000', '--drift-reference', '/srv/karb/models/fraud-v1.reference.json', '--drift-learn-rows', '500', '--drift-window-rows', '4000']);
  // A custom server gets no flags of karb serve.
  const custom = localProcessSpec({ ...template, model: { ...template.model, command: ['srv'], drift: { learnRows: 500 } } }, '/srv/karb');
  assert.equal(custom.serverArgs, undefined);
});

test('spec.model.digest reaches karb serve as --model-digest; a custom server is not given it', () => {
  const digest = `sha256:${'ab'.repeat(32)}`;
  const spec = localProcessSpec({ ...template, model: { ...template.model, digest } }, '/srv/karb');
  assert.deepEqual(spec.serverArgs, ['--drain-timeout-ms', '25000', '--model-digest', digest]);
  const argv = buildReplicaCommand(spec, { replica: 'fraud-detector-00002-abcde', port: 4321, host: '127.0.0.1', execPath: '/bin/node', karbEntry: '/karb/src/cli/main.ts', baseEnv: {} }).args;
  assert.deepEqual(argv.slice(argv.indexOf('--model-digest'), argv.indexOf('--model-digest') + 2), ['--model-digest', digest]);
  assert.equal(argv[argv.indexOf('--model') + 1], '/srv/karb/models/fraud-v1.onnx', 'the file it pins is the one served');
  assert.notEqual(processSpecHash(spec), processSpecHash(localProcessSpec(template, '/srv/karb')), 'a pinned replica is another process than an unpinned one');
  const custom = localProcessSpec({ ...template, model: { ...template.model, command: ['srv', '--port', '$PORT'], digest } }, '/srv/karb');
  assert.equal(custom.serverArgs, undefined);
  assert.ok(!buildReplicaCommand(custom, { replica: 'r', port: 1, host: '127.0.0.1', execPath: '/bin/node', karbEntry: '/k', baseEnv: {} }).args.includes(digest));
});
