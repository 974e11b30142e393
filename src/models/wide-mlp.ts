/**
 * A compute-bound benchmark model with seeded random weights:
 * `x` [batch, 256] → Gemm 2048 → Relu → Gemm 2048 → Relu → Gemm 16 → `y` [batch, 16].
 * About 4.75 M multiply-adds per row (≈ 300 MFLOP for a batch of 32), so batching
 * pays off and the model server's overhead is measurable against real work.
 */
import { encodeModel, OnnxGraphBuilder } from './onnx-writer.ts';
import { seededRandom } from '../util/prng.ts';

export const WIDE_MLP_INPUT_NAME = 'x';
export const WIDE_MLP_OUTPUT_NAME = 'y';
export const WIDE_MLP_LAYER_SIZES = [256, 2048, 2048, 16] as const;

export interface DenseLayer {
  inputs: number;
  outputs: number;
  /** [inputs, outputs], row-major. */
  weights: Float32Array;
  /** [outputs] */
  bias: Float32Array;
}

/** He-uniform weights (keeps activations at a steady scale through the ReLUs), small biases. */
export function wideMlpLayers(seed: number): DenseLayer[] {
  const rng = seededRandom(seed);
  const layers: DenseLayer[] = [];
  for (let k = 0; k + 1 < WIDE_MLP_LAYER_SIZES.length; k++) {
    const inputs = WIDE_MLP_LAYER_SIZES[k]!;
    const outputs = WIDE_MLP_LAYER_SIZES[k + 1]!;
    const limit = Math.sqrt(6 / inputs);
    const weights = new Float32Array(inputs * outputs);
    for (let i = 0; i < weights.length; i++) weights[i] = (2 * rng.next() - 1) * limit;
    const bias = new Float32Array(outputs);
    for (let i = 0; i < outputs; i++) bias[i] = (2 * rng.next() - 1) * 0.01;
    layers.push({ inputs, outputs, weights, bias });
  }
  return layers;
}

export function wideMlpToOnnx(layers: readonly DenseLayer[], seed: number): Uint8Array {
  const first = layers[0];
  const last = layers[layers.length - 1];
  if (first === undefined || last === undefined) throw new RangeError('wide MLP needs at least one layer');
  const g = new OnnxGraphBuilder('wide_mlp');
  let value = g.input(WIDE_MLP_INPUT_NAME, ['batch', first.inputs]);
  layers.forEach((layer, k) => {
    const w = g.initializer(`layer${k}_weights`, [layer.inputs, layer.outputs], layer.weights);
    const b = g.initializer(`layer${k}_bias`, [layer.outputs], layer.bias);
    const isLast = k === layers.length - 1;
    value = g.node('Gemm', [value, w, b], [isLast ? WIDE_MLP_OUTPUT_NAME : `layer${k}_pre`]);
    if (!isLast) value = g.node('Relu', [value], [`layer${k}_out`]);
  });
  g.output(WIDE_MLP_OUTPUT_NAME, ['batch', last.outputs]);
  return encodeModel({
    graph: g.build(),
    modelVersion: 1,
    docString: 'karb compute-bound benchmark model: seeded random weights, no meaning to its outputs',
    metadata: {
      name: 'wide-mlp',
      version: '1',
      layers: WIDE_MLP_LAYER_SIZES.join('x'),
      purpose: 'benchmark',
      seed: String(seed),
    },
  });
}

/** Reference forward pass for one row (tests compare ONNX Runtime against it). */
export function wideMlpForwardRow(layers: readonly DenseLayer[], row: Float32Array): Float64Array {
  let activations = Float64Array.from(row);
  layers.forEach((layer, k) => {
    const out = Float64Array.from(layer.bias);
    for (let i = 0; i < layer.inputs; i++) {
      const a = activations[i]!;
      if (a === 0) continue;
      const base = i * layer.outputs;
      for (let j = 0; j < layer.outputs; j++) out[j]! += a * layer.weights[base + j]!;
    }
    if (k < layers.length - 1) for (let j = 0; j < out.length; j++) if (out[j]! < 0) out[j] = 0;
    activations = out;
  });
  return activations;
}
