/**
 * Generates karb's example ONNX models (nothing is downloaded):
 *   node scripts/make-models.ts [--out DIR] [--if-missing] [--seed N]
 * Default DIR is models/ at the repository root. With --if-missing it does nothing
 * when every example model (fraud-v1, fraud-v2, wide-mlp, tiny-lm) and the fraud models' drift
 * references (`fraud-v1.reference.json`, `fraud-v2.reference.json`: the training data's feature
 * and prediction distributions, which `karb serve` finds beside the model) are there.
 * Exit codes: 0 success, 1 failure, 2 usage error.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_SEED, writeExampleModels, type CompanionFiles } from '../src/models/example-models.ts';
import { FRAUD_FEATURES, FRAUD_FEATURE_COUNT } from '../src/models/fraud-data.ts';
import { FRAUD_INPUT_NAME, FRAUD_OUTPUT_NAME } from '../src/models/fraud-onnx.ts';
import { predict, type FraudModel } from '../src/models/train.ts';
import { referenceColumns, type DriftReference } from '../src/observability/drift/reference.ts';

const USAGE = 'usage: node scripts/make-models.ts [--out DIR] [--if-missing] [--seed N]';
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        out: { type: 'string' },
        'if-missing': { type: 'boolean', default: false },
        seed: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`make-models: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const seed = values.seed === undefined ? DEFAULT_SEED : Number(values.seed);
  if (!Number.isSafeInteger(seed) || seed < 0) {
    process.stderr.write(`make-models: --seed must be a non-negative integer, got "${values.seed}"\n${USAGE}\n`);
    return 2;
  }

  const outDir = values.out === undefined ? path.join(REPO_ROOT, 'models') : path.resolve(values.out);
  const started = performance.now();
  const result = await writeExampleModels({ outDir, ifMissing: values['if-missing'], seed, companions: DRIFT_REFERENCES });
  if (!result.written) {
    process.stdout.write(`models: all present in ${displayPath(outDir)}, nothing to do\n`);
    return 0;
  }
  for (const model of result.models) {
    const size = `${(model.sizeBytes / 1024).toFixed(0)} KiB`;
    process.stdout.write(`${displayPath(model.path)}  ${model.summary}  (${size})\n`);
  }
  process.stdout.write(`models: wrote ${result.models.length} files in ${((performance.now() - started) / 1000).toFixed(2)} s\n`);
  return 0;
}

/**
 * The fraud models' drift references: the training features' distributions (named after
 * FRAUD_FEATURES) and each model's predictions on the same rows, written beside each model.
 */
const DRIFT_REFERENCES: CompanionFiles = {
  files: ['fraud-v1.reference.json', 'fraud-v2.reference.json'],
  build(training) {
    const { train } = training;
    const inputs = referenceColumns(train.features, train.rows, FRAUD_FEATURE_COUNT, FRAUD_INPUT_NAME, FRAUD_FEATURES);
    const reference = (model: FraudModel, name: string): string => {
      const doc: DriftReference = {
        kind: 'DriftReference',
        version: 1,
        rows: train.rows,
        source: `training data of ${name} (${train.rows} rows)`,
        inputs,
        outputs: referenceColumns(predict(model, train.features), train.rows, 1, FRAUD_OUTPUT_NAME),
      };
      return `${JSON.stringify(doc, null, 1)}\n`;
    };
    return {
      'fraud-v1.reference.json': reference(training.logistic.model, 'fraud-v1'),
      'fraud-v2.reference.json': reference(training.mlp.model, 'fraud-v2'),
    };
  },
};

/** Relative to the working directory when inside it, absolute otherwise. */
function displayPath(p: string): string {
  const relative = path.relative(process.cwd(), p);
  return relative === '' ? '.' : relative.startsWith('..') ? p : relative;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`make-models: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
