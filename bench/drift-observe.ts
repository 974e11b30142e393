/**
 * Per-request cost of drift measurement in the model server: `DriftMonitor.observe` on the
 * example models' shapes (fraud-v1: 8 features → 1 output; wide-mlp: 256 features → 16 outputs),
 * once the reference is learned, against the baseline of the same run: the model itself, one
 * ONNX Runtime run of the same rows in this process (1 intra-op thread). CPU time, not wall time.
 *   node bench/drift-observe.ts
 */
import path from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { DriftMonitor } from '../src/observability/drift/monitor.ts';
import { seededRandom } from '../src/util/prng.ts';

const MODELS = path.resolve(import.meta.dirname, '..', 'models');

function cpuMicros(fn: () => void): number {
  const start = process.cpuUsage();
  fn();
  const used = process.cpuUsage(start);
  return used.user + used.system;
}

async function measure(file: string, input: string, inputCols: number, output: string, outputCols: number, rowsPerRequest: number): Promise<void> {
  const rng = seededRandom(1);
  const monitor = new DriftMonitor({ tensors: [{ name: input, role: 'input', cols: inputCols }, { name: output, role: 'output', cols: outputCols }], learnRows: 1000 });
  const pool = 64;
  const inputs = Array.from({ length: pool }, () => Float32Array.from({ length: rowsPerRequest * inputCols }, () => rng.normal()));
  const outputs = Array.from({ length: pool }, () => Float32Array.from({ length: rowsPerRequest * outputCols }, () => rng.next()));
  for (let i = 0; monitor.reference === undefined; i++) {
    monitor.observe(output, outputs[i % pool]!, rowsPerRequest);
    monitor.observe(input, inputs[i % pool]!, rowsPerRequest);
  }
  const requests = Math.max(2000, Math.floor(4_000_000 / (rowsPerRequest * (inputCols + outputCols))));
  let observeUs = 0;
  for (let round = 0; round < 2; round++) {
    observeUs = cpuMicros(() => {
      for (let i = 0; i < requests; i++) {
        monitor.observe(input, inputs[i % pool]!, rowsPerRequest);
        monitor.observe(output, outputs[i % pool]!, rowsPerRequest);
      }
    }) / requests;
  }

  const session = await InferenceSession.create(path.join(MODELS, file), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const runs = Math.max(50, Math.min(2000, Math.floor(200_000 / (rowsPerRequest * inputCols))));
  let modelUs = 0;
  for (let round = 0; round < 2; round++) {
    const start = process.cpuUsage();
    for (let i = 0; i < runs; i++) await session.run({ [input]: new Tensor('float32', inputs[i % pool]!, [rowsPerRequest, inputCols]) });
    const used = process.cpuUsage(start);
    modelUs = (used.user + used.system) / runs;
  }
  await session.release();
  console.log(
    `${file.padEnd(14)} ${String(rowsPerRequest).padStart(2)} rows/request: observe ${observeUs.toFixed(2)} µs CPU, model run ${modelUs.toFixed(1)} µs CPU → ${((100 * observeUs) / modelUs).toFixed(1)}% of the model`,
  );
}

await measure('fraud-v1.onnx', 'features', 8, 'probability', 1, 1);
await measure('fraud-v1.onnx', 'features', 8, 'probability', 1, 32);
await measure('wide-mlp.onnx', 'x', 256, 'y', 16, 1);
await measure('wide-mlp.onnx', 'x', 256, 'y', 16, 32);
