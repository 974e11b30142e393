/**
 * Builds karb's example models from a seed: fraud-v1 (logistic regression), fraud-v2
 * (MLP) and wide-mlp (benchmark). Everything is generated, nothing downloaded, and the
 * same seed gives byte-identical files. scripts/make-models.ts is the command-line face.
 */
import { access, mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { rocAuc } from './auc.ts';
import { FRAUD_FEATURE_COUNT, generateFraudData } from './fraud-data.ts';
import { fraudModelToOnnx } from './fraud-onnx.ts';
import {
  DEFAULT_LOGISTIC_OPTIONS,
  DEFAULT_MLP_OPTIONS,
  predict,
  splitRows,
  trainLogisticRegression,
  trainMlp,
  type LabeledRows,
  type LogisticModel,
  type MlpModel,
} from './train.ts';
import { wideMlpLayers, wideMlpToOnnx } from './wide-mlp.ts';
import { TINY_LM_CONFIG, tinyLmToOnnx, tinyLmWeights } from './lm/tiny-lm.ts';

export const EXAMPLE_MODEL_FILES = ['fraud-v1.onnx', 'fraud-v2.onnx', 'wide-mlp.onnx', 'tiny-lm.onnx'] as const;
export const DEFAULT_SEED = 20240611;
export const FRAUD_DATA_ROWS = 40_000;
export const TRAIN_FRACTION = 0.75;

export interface BuiltModel {
  fileName: (typeof EXAMPLE_MODEL_FILES)[number];
  bytes: Uint8Array;
  /** One line for people: what it is and, for the fraud models, its held-out AUC. */
  summary: string;
  heldoutAuc?: number;
}

export interface FraudTraining {
  train: LabeledRows;
  test: LabeledRows;
  logistic: { model: LogisticModel; heldoutAuc: number };
  mlp: { model: MlpModel; heldoutAuc: number };
}

/** Generates the data set and trains both fraud models (deterministic in `seed`). */
export function trainFraudModels(seed: number = DEFAULT_SEED, rows: number = FRAUD_DATA_ROWS): FraudTraining {
  const data = generateFraudData({ rows, seed });
  const { train, test } = splitRows({ ...data, cols: FRAUD_FEATURE_COUNT }, TRAIN_FRACTION);
  const logistic = trainLogisticRegression(train, { ...DEFAULT_LOGISTIC_OPTIONS, seed: seed + 1 });
  const mlp = trainMlp(train, { ...DEFAULT_MLP_OPTIONS, seed: seed + 2 });
  return {
    train,
    test,
    logistic: { model: logistic, heldoutAuc: rocAuc(predict(logistic, test.features), test.labels) },
    mlp: { model: mlp, heldoutAuc: rocAuc(predict(mlp, test.features), test.labels) },
  };
}

/** All example models in memory, in EXAMPLE_MODEL_FILES order. */
export function buildExampleModels(seed: number = DEFAULT_SEED, training?: FraudTraining): BuiltModel[] {
  return [...buildFraudModels(seed, training), buildWideMlp(seed), buildTinyLm(seed)];
}

/** fraud-v1 (logistic regression) and fraud-v2 (MLP), trained on the same data. */
export function buildFraudModels(seed: number = DEFAULT_SEED, training: FraudTraining = trainFraudModels(seed)): BuiltModel[] {
  const fraudRate = mean(training.train.labels);
  const common = { trainRows: training.train.rows, testRows: training.test.rows, fraudRate, seed };
  const v1 = fraudModelToOnnx(training.logistic.model, { ...common, name: 'fraud-v1', version: 1, heldoutAuc: training.logistic.heldoutAuc });
  const v2 = fraudModelToOnnx(training.mlp.model, { ...common, name: 'fraud-v2', version: 2, heldoutAuc: training.mlp.heldoutAuc });
  return [
    { fileName: 'fraud-v1.onnx', bytes: v1, heldoutAuc: training.logistic.heldoutAuc, summary: `logistic regression, held-out AUC ${training.logistic.heldoutAuc.toFixed(4)}` },
    { fileName: 'fraud-v2.onnx', bytes: v2, heldoutAuc: training.mlp.heldoutAuc, summary: `MLP 8x16x1, held-out AUC ${training.mlp.heldoutAuc.toFixed(4)}` },
  ];
}

export function buildWideMlp(seed: number = DEFAULT_SEED): BuiltModel {
  return { fileName: 'wide-mlp.onnx', bytes: wideMlpToOnnx(wideMlpLayers(seed), seed), summary: 'benchmark MLP 256x2048x2048x16, random weights (no AUC)' };
}

export function buildTinyLm(seed: number = DEFAULT_SEED): BuiltModel {
  const c = TINY_LM_CONFIG;
  return {
    fileName: 'tiny-lm.onnx',
    bytes: tinyLmToOnnx(tinyLmWeights(seed), seed),
    summary: `byte-level LM d${c.dModel} x${c.layers} layers, context ${c.contextLength}, random weights (meaningless text)`,
  };
}

export interface WriteOptions {
  outDir: string;
  /** Do nothing when every example model file (and every companion file) already exists. */
  ifMissing?: boolean;
  seed?: number;
  /** Files written beside the models from the same training run (e.g. drift references). */
  companions?: CompanionFiles;
}

/**
 * Files derived from the fraud models' training run, built by the caller (this folder imports
 * nothing of the platform). A missing one makes `ifMissing` write everything again.
 */
export interface CompanionFiles {
  readonly files: readonly string[];
  /** The text of each file in `files`, by name. */
  build(training: FraudTraining): Record<string, string>;
}

export type WriteResult =
  | { written: false; reason: 'AllPresent'; outDir: string }
  | { written: true; outDir: string; models: Array<Omit<BuiltModel, 'bytes' | 'fileName'> & { fileName: string; path: string; sizeBytes: number }> };

/** Writes the example models to `outDir` (each file atomically: temp file, then rename). */
export async function writeExampleModels(options: WriteOptions): Promise<WriteResult> {
  const outDir = path.resolve(options.outDir);
  const expected = [...EXAMPLE_MODEL_FILES, ...(options.companions?.files ?? [])];
  if (options.ifMissing === true && (await allExist(expected.map((f) => path.join(outDir, f))))) {
    return { written: false, reason: 'AllPresent', outDir };
  }
  await mkdir(outDir, { recursive: true });
  const seed = options.seed ?? DEFAULT_SEED;
  const training = trainFraudModels(seed);
  const models: Array<{ fileName: string; bytes: Uint8Array; summary: string; heldoutAuc?: number }> = buildExampleModels(seed, training);
  if (options.companions !== undefined) {
    const texts = options.companions.build(training);
    for (const fileName of options.companions.files) {
      const text = texts[fileName];
      if (text === undefined) throw new Error(`companion file ${fileName} was not built`);
      models.push({ fileName, bytes: new TextEncoder().encode(text), summary: 'derived from the training data' });
    }
  }
  const written = [];
  for (const { bytes, ...model } of models) {
    const target = path.join(outDir, model.fileName);
    const temp = `${target}.${process.pid}.tmp`;
    await writeFile(temp, bytes);
    await rename(temp, target);
    written.push({ ...model, path: target, sizeBytes: bytes.length });
  }
  return { written: true, outDir, models: written };
}

async function allExist(paths: readonly string[]): Promise<boolean> {
  const checks = await Promise.all(
    paths.map((p) =>
      access(p).then(
        () => true,
        () => false,
      ),
    ),
  );
  return checks.every(Boolean);
}

function mean(values: Uint8Array): number {
  let sum = 0;
  for (const v of values) sum += v;
  return values.length === 0 ? 0 : sum / values.length;
}
