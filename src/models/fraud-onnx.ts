/**
 * Turns a trained fraud model into an ONNX graph. Input `features` [batch, 8] takes raw
 * transaction features; the training set's standardization is part of the graph
 * (Sub, Div), so callers never scale anything. Output `probability` [batch, 1].
 */
import { encodeModel, OnnxGraphBuilder } from './onnx-writer.ts';
import { FRAUD_FEATURES, FRAUD_FEATURE_COUNT } from './fraud-data.ts';
import type { FraudModel } from './train.ts';

export const FRAUD_INPUT_NAME = 'features';
export const FRAUD_OUTPUT_NAME = 'probability';

export interface FraudModelInfo {
  /** File stem and metadata name, e.g. "fraud-v1". */
  name: string;
  version: number;
  heldoutAuc: number;
  trainRows: number;
  testRows: number;
  fraudRate: number;
  seed: number;
}

export function fraudModelToOnnx(model: FraudModel, info: FraudModelInfo): Uint8Array {
  const g = new OnnxGraphBuilder(info.name.replace(/[^A-Za-z0-9_]/g, '_'));
  const input = g.input(FRAUD_INPUT_NAME, ['batch', FRAUD_FEATURE_COUNT], 'float', `raw transaction features in the order ${FRAUD_FEATURES.join(', ')}`);
  const mean = g.initializer('feature_mean', [FRAUD_FEATURE_COUNT], model.standardizer.mean);
  const std = g.initializer('feature_std', [FRAUD_FEATURE_COUNT], model.standardizer.std);
  const centered = g.node('Sub', [input, mean], ['centered']);
  const standardized = g.node('Div', [centered, std], ['standardized']);

  let logit: string;
  if (model.kind === 'logistic') {
    const w = g.initializer('weights', [FRAUD_FEATURE_COUNT, 1], model.weights);
    const b = g.initializer('bias', [1], model.bias);
    const product = g.node('MatMul', [standardized, w], ['weighted_sum']);
    logit = g.node('Add', [product, b], ['logit']);
  } else {
    const w1 = g.initializer('hidden_weights', [FRAUD_FEATURE_COUNT, model.hidden], model.w1);
    const b1 = g.initializer('hidden_bias', [model.hidden], model.b1);
    const w2 = g.initializer('output_weights', [model.hidden, 1], model.w2);
    const b2 = g.initializer('output_bias', [1], model.b2);
    const preActivation = g.node('Gemm', [standardized, w1, b1], ['hidden_pre']);
    const hidden = g.node('Relu', [preActivation], ['hidden']);
    logit = g.node('Gemm', [hidden, w2, b2], ['logit']);
  }
  g.node('Sigmoid', [logit], [FRAUD_OUTPUT_NAME]);
  g.output(FRAUD_OUTPUT_NAME, ['batch', 1], 'float', 'probability that the transaction is fraudulent, in (0, 1)');

  const algorithm = model.kind === 'logistic' ? 'logistic_regression' : `mlp_${FRAUD_FEATURE_COUNT}x${model.hidden}x1_relu`;
  return encodeModel({
    graph: g.build(),
    modelVersion: info.version,
    docString: `karb example card-fraud model ${info.name} (${algorithm}), trained on synthetic transactions`,
    metadata: {
      name: info.name,
      version: String(info.version),
      algorithm,
      feature_names: FRAUD_FEATURES.join(','),
      input: `${FRAUD_INPUT_NAME}: float32 [batch, ${FRAUD_FEATURE_COUNT}], raw (un-standardized) features`,
      output: `${FRAUD_OUTPUT_NAME}: float32 [batch, 1], fraud probability`,
      heldout_auc: info.heldoutAuc.toFixed(4),
      train_rows: String(info.trainRows),
      test_rows: String(info.testRows),
      fraud_rate: info.fraudRate.toFixed(4),
      seed: String(info.seed),
    },
  });
}
