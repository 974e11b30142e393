/**
 * Trains karb's example fraud models in plain TypeScript: a logistic regression and a
 * small ReLU MLP, both on standardized features, both with Adam on mini-batches drawn
 * from a seeded shuffle. Parameters live in Float32Arrays (what ONNX stores), so the
 * forward passes here are the reference the exported graphs are checked against.
 */
import { seededRandom, shuffleInPlace, type Random } from '../util/prng.ts';

/** A data set in row-major layout: `features` is [rows, cols], `labels` holds 0/1. */
export interface LabeledRows {
  rows: number;
  cols: number;
  features: Float32Array;
  labels: Uint8Array;
}

/** Per-feature mean and standard deviation of the training set. */
export interface Standardizer {
  mean: Float32Array;
  std: Float32Array;
}

export interface LogisticModel {
  kind: 'logistic';
  standardizer: Standardizer;
  /** [cols] */
  weights: Float32Array;
  /** [1] */
  bias: Float32Array;
}

export interface MlpModel {
  kind: 'mlp';
  standardizer: Standardizer;
  hidden: number;
  /** [cols, hidden], row-major (input-major, as ONNX Gemm/MatMul expects). */
  w1: Float32Array;
  /** [hidden] */
  b1: Float32Array;
  /** [hidden, 1] */
  w2: Float32Array;
  /** [1] */
  b2: Float32Array;
}

export type FraudModel = LogisticModel | MlpModel;

export interface TrainOptions {
  seed: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** L2 penalty on weights (not biases). */
  l2: number;
}

export interface MlpTrainOptions extends TrainOptions {
  hidden: number;
}

export const DEFAULT_LOGISTIC_OPTIONS: TrainOptions = { seed: 1, epochs: 6, batchSize: 128, learningRate: 0.02, l2: 1e-4 };
export const DEFAULT_MLP_OPTIONS: MlpTrainOptions = { seed: 2, epochs: 20, batchSize: 64, learningRate: 0.004, l2: 1e-5, hidden: 16 };

/** Splits rows in order: the first `trainFraction` for training, the rest held out. */
export function splitRows(data: LabeledRows, trainFraction: number): { train: LabeledRows; test: LabeledRows } {
  const cut = Math.round(data.rows * trainFraction);
  const slice = (from: number, to: number): LabeledRows => ({
    rows: to - from,
    cols: data.cols,
    features: data.features.subarray(from * data.cols, to * data.cols),
    labels: data.labels.subarray(from, to),
  });
  return { train: slice(0, cut), test: slice(cut, data.rows) };
}

export function fitStandardizer(data: LabeledRows): Standardizer {
  const { rows, cols, features } = data;
  const sum = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) sum[c]! += features[r * cols + c]!;
  const mean = sum.map((s) => s / rows);
  const sq = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const d = features[r * cols + c]! - mean[c]!;
      sq[c]! += d * d;
    }
  }
  // A constant column would divide by zero; leave it unscaled instead.
  const std = sq.map((s) => {
    const v = Math.sqrt(s / rows);
    return v > 1e-6 ? v : 1;
  });
  return { mean: Float32Array.from(mean), std: Float32Array.from(std) };
}

/** Standardizes all rows exactly as the exported graph's Sub/Div nodes do (in FP32). */
export function standardize(s: Standardizer, features: Float32Array, cols: number): Float32Array {
  const out = new Float32Array(features.length);
  for (let i = 0; i < features.length; i++) {
    const c = i % cols;
    out[i] = Math.fround(Math.fround(features[i]! - s.mean[c]!) / s.std[c]!);
  }
  return out;
}

export function trainLogisticRegression(data: LabeledRows, options: TrainOptions = DEFAULT_LOGISTIC_OPTIONS): LogisticModel {
  const { cols } = data;
  const standardizer = fitStandardizer(data);
  const x = standardize(standardizer, data.features, cols);
  const weights = new Float32Array(cols);
  const bias = new Float32Array([initialBias(data.labels)]);
  const gw = new Float64Array(cols);
  const gb = new Float64Array(1);
  const adam = new Adam([weights, bias], options.learningRate);

  forEachBatch(data.rows, options, (batch) => {
    gw.fill(0);
    gb.fill(0);
    for (const r of batch) {
      let z = bias[0]!;
      for (let c = 0; c < cols; c++) z += weights[c]! * x[r * cols + c]!;
      const err = sigmoid(z) - data.labels[r]!; // d(BCE)/dz
      for (let c = 0; c < cols; c++) gw[c]! += err * x[r * cols + c]!;
      gb[0]! += err;
    }
    scaleAndRegularize(gw, weights, batch.length, options.l2);
    gb[0]! /= batch.length;
    adam.step([gw, gb]);
  });
  return { kind: 'logistic', standardizer, weights, bias };
}

export function trainMlp(data: LabeledRows, options: MlpTrainOptions = DEFAULT_MLP_OPTIONS): MlpModel {
  const { cols } = data;
  const { hidden } = options;
  const standardizer = fitStandardizer(data);
  const x = standardize(standardizer, data.features, cols);
  const rng = seededRandom(options.seed ^ 0x9e3779b9);

  // He initialization for the ReLU layer, small Xavier-style weights for the output.
  const w1 = Float32Array.from({ length: cols * hidden }, () => rng.normal() * Math.sqrt(2 / cols));
  const b1 = new Float32Array(hidden);
  const w2 = Float32Array.from({ length: hidden }, () => rng.normal() * Math.sqrt(1 / hidden));
  const b2 = new Float32Array([initialBias(data.labels)]);
  const g = { w1: new Float64Array(w1.length), b1: new Float64Array(hidden), w2: new Float64Array(hidden), b2: new Float64Array(1) };
  const adam = new Adam([w1, b1, w2, b2], options.learningRate);
  const h = new Float64Array(hidden);

  forEachBatch(data.rows, options, (batch) => {
    g.w1.fill(0);
    g.b1.fill(0);
    g.w2.fill(0);
    g.b2.fill(0);
    for (const r of batch) {
      const xr = r * cols;
      for (let j = 0; j < hidden; j++) h[j] = b1[j]!;
      for (let c = 0; c < cols; c++) {
        const xv = x[xr + c]!;
        for (let j = 0; j < hidden; j++) h[j]! += xv * w1[c * hidden + j]!;
      }
      let z = b2[0]!;
      for (let j = 0; j < hidden; j++) {
        if (h[j]! < 0) h[j] = 0;
        z += h[j]! * w2[j]!;
      }
      const err = sigmoid(z) - data.labels[r]!;
      g.b2[0]! += err;
      for (let j = 0; j < hidden; j++) {
        g.w2[j]! += err * h[j]!;
        // Back through ReLU: only active units pass gradient.
        const dh = h[j]! > 0 ? err * w2[j]! : 0;
        if (dh === 0) continue;
        g.b1[j]! += dh;
        for (let c = 0; c < cols; c++) g.w1[c * hidden + j]! += dh * x[xr + c]!;
      }
    }
    scaleAndRegularize(g.w1, w1, batch.length, options.l2);
    scaleAndRegularize(g.w2, w2, batch.length, options.l2);
    for (let j = 0; j < hidden; j++) g.b1[j]! /= batch.length;
    g.b2[0]! /= batch.length;
    adam.step([g.w1, g.b1, g.w2, g.b2]);
  });
  return { kind: 'mlp', standardizer, hidden, w1, b1, w2, b2 };
}

/**
 * Fraud probability for each row of raw (un-standardized) features, [rows * cols].
 * The same computation as the exported ONNX graph.
 */
export function predict(model: FraudModel, features: Float32Array): Float32Array {
  const cols = model.standardizer.mean.length;
  if (features.length % cols !== 0) throw new RangeError(`features length ${features.length} is not a multiple of ${cols}`);
  const rows = features.length / cols;
  const x = standardize(model.standardizer, features, cols);
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const xr = r * cols;
    let z: number;
    if (model.kind === 'logistic') {
      z = model.bias[0]!;
      for (let c = 0; c < cols; c++) z += x[xr + c]! * model.weights[c]!;
    } else {
      z = model.b2[0]!;
      for (let j = 0; j < model.hidden; j++) {
        let h = model.b1[j]!;
        for (let c = 0; c < cols; c++) h += x[xr + c]! * model.w1[c * model.hidden + j]!;
        if (h > 0) z += h * model.w2[j]!;
      }
    }
    out[r] = sigmoid(z);
  }
  return out;
}

/** Adam with the usual defaults (β1 0.9, β2 0.999, ε 1e-8); updates the Float32 parameters in place. */
class Adam {
  readonly #params: Float32Array[];
  readonly #m: Float64Array[];
  readonly #v: Float64Array[];
  readonly #lr: number;
  #t = 0;

  constructor(params: Float32Array[], learningRate: number) {
    this.#params = params;
    this.#m = params.map((p) => new Float64Array(p.length));
    this.#v = params.map((p) => new Float64Array(p.length));
    this.#lr = learningRate;
  }

  step(grads: Float64Array[]): void {
    this.#t++;
    const correction1 = 1 - 0.9 ** this.#t;
    const correction2 = 1 - 0.999 ** this.#t;
    this.#params.forEach((p, k) => {
      const g = grads[k]!;
      const m = this.#m[k]!;
      const v = this.#v[k]!;
      for (let i = 0; i < p.length; i++) {
        m[i] = 0.9 * m[i]! + 0.1 * g[i]!;
        v[i] = 0.999 * v[i]! + 0.001 * g[i]! * g[i]!;
        p[i] = p[i]! - (this.#lr * (m[i]! / correction1)) / (Math.sqrt(v[i]! / correction2) + 1e-8);
      }
    });
  }
}

/** Calls `step` with each mini-batch of row indices, reshuffling every epoch from the seed. */
function forEachBatch(rows: number, options: TrainOptions, step: (batch: Uint32Array) => void): void {
  const rng: Random = seededRandom(options.seed);
  const order = Uint32Array.from({ length: rows }, (_, i) => i);
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    shuffleInPlace(order, rng);
    for (let start = 0; start < rows; start += options.batchSize) {
      step(order.subarray(start, Math.min(rows, start + options.batchSize)));
    }
  }
}

function scaleAndRegularize(grad: Float64Array, weights: Float32Array, batchSize: number, l2: number): void {
  for (let i = 0; i < grad.length; i++) grad[i] = grad[i]! / batchSize + l2 * weights[i]!;
}

/** Starting the output bias at the log-odds of the base rate saves the first epoch from learning it. */
function initialBias(labels: Uint8Array): number {
  let positives = 0;
  for (const l of labels) positives += l;
  const p = Math.min(Math.max(positives / Math.max(labels.length, 1), 1e-4), 1 - 1e-4);
  return Math.log(p / (1 - p));
}

export function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}
