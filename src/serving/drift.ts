/**
 * Drift in the model server: which reference it judges against (a file given with
 * `--drift-reference`, else `<model>.reference.json` beside the model, else one learned from the
 * first rows served), the monitor that counts each request's inputs and outputs (the math is
 * src/observability/drift), and the `karb_serving_feature_*` gauges, computed at scrape time.
 */
import { existsSync, readFileSync } from 'node:fs';
import { Gauge, type Registry } from 'prom-client';
import { DriftMonitor, observableTensors, type DriftReport } from '../observability/drift/monitor.ts';
import { DriftReferenceError, parseDriftReference } from '../observability/drift/reference.ts';
import type { TensorSpec } from './onnx-model.ts';

export interface DriftConfig {
  /** A reference file; a missing or invalid one is an error. */
  referencePath?: string;
  /** Rows to learn a reference from when there is no file. */
  learnRows?: number;
  /** Rows the statistics cover at most. */
  windowRows?: number;
  /** Columns watched at most, inputs first (DEFAULT_MAX_COLUMNS, 256, when unset): each costs three series. */
  maxColumns?: number;
}

/** The reference file karb serve looks for beside a model: `fraud-v1.onnx` → `fraud-v1.reference.json`. */
export function referenceBeside(modelPath: string): string {
  return `${modelPath.replace(/\.onnx$/, '')}.reference.json`;
}

/**
 * The drift monitor for a model, or undefined when it has no 2-D float input to watch. Throws
 * DriftReferenceError for a reference file that cannot be read or does not fit the model.
 */
export function createDriftMonitor(model: { inputs: readonly TensorSpec[]; outputs: readonly TensorSpec[] }, config: DriftConfig): DriftMonitor | undefined {
  const tensors = [...observableTensors(model.inputs, 'input'), ...observableTensors(model.outputs, 'output')];
  if (!tensors.some((t) => t.role === 'input')) return undefined;
  const reference = config.referencePath === undefined ? undefined : readReference(config.referencePath);
  return new DriftMonitor({
    tensors,
    ...(reference ? { reference } : {}),
    ...(config.learnRows === undefined ? {} : { learnRows: config.learnRows }),
    ...(config.windowRows === undefined ? {} : { windowRows: config.windowRows }),
    ...(config.maxColumns === undefined ? {} : { maxColumns: config.maxColumns }),
  });
}

/** The reference to use for `modelPath`: the given file, else the one beside the model if there is one. */
export function referencePathFor(modelPath: string, given: string | undefined): string | undefined {
  if (given !== undefined) return given;
  const beside = referenceBeside(modelPath);
  return existsSync(beside) ? beside : undefined;
}

function readReference(path: string): ReturnType<typeof parseDriftReference> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new DriftReferenceError(`cannot read the drift reference ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; name an existing file`, err);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DriftReferenceError(`drift reference ${path} is not valid JSON: ${(err as Error).message}`, err);
  }
  return { ...parseDriftReference(json, path), ...(typeof (json as { source?: unknown }).source === 'string' ? {} : { source: path }) };
}

/** The drift gauges, read from the monitor at scrape time (nothing on the request path). */
export function registerDriftMetrics(registry: Registry, monitor: DriftMonitor): void {
  // Each gauge reads its own report: at most maxColumns columns (256 by default) of ten bins each,
  // so at most three series per watched column, cheap next to a scrape.
  const report = (): DriftReport => monitor.report();
  const perColumn = (name: string, help: string, label: 'feature' | 'output', read: (r: Extract<DriftReport, { state: 'monitoring' }>) => Array<{ name: string; value: number | null }>) =>
    new Gauge({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset();
        const r = report();
        if (r.state !== 'monitoring') return;
        for (const { name: column, value } of read(r)) if (value !== null) this.set({ [label]: column }, value);
      },
    });
  perColumn('karb_serving_feature_psi', 'Population stability index of each input feature over the recent window against the drift reference (0.1: watch, 0.25: drift).', 'feature', (r) =>
    r.inputs.map((f) => ({ name: f.name, value: f.psi })),
  );
  perColumn('karb_serving_feature_ks', 'Two-sample Kolmogorov-Smirnov statistic (0..1) of each continuous input feature over the recent window against the drift reference, on binned CDFs.', 'feature', (r) =>
    r.inputs.map((f) => ({ name: f.name, value: f.ks })),
  );
  perColumn('karb_serving_output_psi', 'Population stability index of each model output column over the recent window against the drift reference.', 'output', (r) =>
    r.outputs.map((f) => ({ name: f.name, value: f.psi })),
  );
  new Gauge({
    name: 'karb_serving_drift_window_rows',
    help: 'Rows the drift statistics cover; while the reference is still being learned, the rows learned so far.',
    registers: [registry],
    collect() {
      const r = report();
      this.set(r.state === 'monitoring' ? r.windowRows : r.learnedRows);
    },
  });
}
