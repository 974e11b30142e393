import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isKarbError } from '../../errors.ts';
import type { LocalProcessSpec } from './process-spec.ts';
import { buildReplicaCommand, processSpecHash, validateProcessSpec } from './replica-command.ts';

const base: LocalProcessSpec = {
  revision: 'fraud-detector-00001',
  service: 'fraud-detector',
  namespace: 'payments',
  model: { format: 'onnx', path: '/models/fraud-v1.onnx', name: 'fraud-detector' },
};
const ctx = { replica: 'fraud-detector-00001-abcde', port: 4321, host: '127.0.0.1', execPath: '/bin/node', karbEntry: '/karb/src/cli/main.ts', baseEnv: { HOME: '/home/k', PORT: '1' } };

test('built-in ONNX server runs as karb serve with the batching flags and extra server args', () => {
  const cmd = buildReplicaCommand({ ...base, batching: { maxBatchSize: 16, maxDelayMs: 3 }, serverArgs: ['--fail-rate', '0.1'] }, ctx);
  assert.equal(cmd.command, '/bin/node');
  assert.deepEqual(cmd.args, [
    '/karb/src/cli/main.ts', 'serve', '--model', '/models/fraud-v1.onnx', '--name', 'fraud-detector', '--port', '4321', '--host', '127.0.0.1',
    '--max-batch-size', '16', '--max-delay-ms', '3', '--fail-rate', '0.1',
  ]);
  assert.equal(cmd.env.PORT, '4321'); // the port wins over an inherited PORT
  assert.equal(cmd.env.HOME, '/home/k');
  assert.equal(cmd.env.KARB_REPLICA, 'fraud-detector-00001-abcde');
});

test('custom command gets $PORT replaced in its args and PORT in its env', () => {
  const cmd = buildReplicaCommand({ ...base, model: { format: 'openai', name: 'chat' }, command: ['vllm', 'serve', '--port', '$PORT', '--url=http://127.0.0.1:${PORT}/'], env: { A: 'b' } }, ctx);
  assert.equal(cmd.command, 'vllm');
  assert.deepEqual(cmd.args, ['serve', '--port', '4321', '--url=http://127.0.0.1:4321/']);
  assert.equal(cmd.env.PORT, '4321');
  assert.equal(cmd.env.A, 'b');
});

test('format openai with a model file and no command runs the built-in server in OpenAI mode', () => {
  const cmd = buildReplicaCommand({ ...base, model: { format: 'openai', name: 'tiny-lm', path: '/models/tiny-lm.onnx' } }, ctx);
  assert.equal(cmd.command, ctx.execPath);
  assert.deepEqual(cmd.args.slice(1, 6), ['serve', '--model', '/models/tiny-lm.onnx', '--name', 'tiny-lm']);
  assert.ok(cmd.args.includes('--openai'));
  assert.ok(!cmd.args.includes('--max-batch-size'), 'generation runs one sequence at a time; batching flags do not apply');
});

test('process specs that cannot run say what to fix', async (t) => {
  const cases: Array<{ name: string; template: LocalProcessSpec; code: string }> = [
    { name: 'oip without a command', template: { ...base, model: { format: 'oip', name: 'x' } }, code: 'RUNTIME_COMMAND_REQUIRED' },
    { name: 'openai without a command or a model path', template: { ...base, model: { format: 'openai', name: 'x' } }, code: 'RUNTIME_MODEL_PATH_REQUIRED' },
    { name: 'onnx without a model path', template: { ...base, model: { format: 'onnx', name: 'x' } }, code: 'RUNTIME_MODEL_PATH_REQUIRED' },
    { name: 'empty command', template: { ...base, command: [] }, code: 'RUNTIME_COMMAND_EMPTY' },
    { name: 'negative drain', template: { ...base, drainSeconds: -1 }, code: 'RUNTIME_INVALID_DRAIN' },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      assert.throws(() => validateProcessSpec(c.template), (err) => isKarbError(err) && err.code === c.code && err.status === 400 && err.message.includes(base.revision));
    });
  }
});

test('template hash ignores key order and changes with content', () => {
  const reordered: LocalProcessSpec = { namespace: base.namespace, model: { name: 'fraud-detector', path: '/models/fraud-v1.onnx', format: 'onnx' }, service: base.service, revision: base.revision };
  assert.equal(processSpecHash(base), processSpecHash(reordered));
  assert.notEqual(processSpecHash(base), processSpecHash({ ...base, serverArgs: ['--x'] }));
});
