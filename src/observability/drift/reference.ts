/**
 * A drift reference: for each observed column (one feature of a 2-D float input, or one column of
 * an output), the bins and the share of the reference data (usually the training data) in each.
 * Bins are cut at the reference's quantiles (deciles by default), so each holds about the same
 * share and memory stays O(columns × bins) whatever the traffic. A column with few distinct values
 * (a flag, a small count) is `discrete`: one bin per value, and no KS statistic.
 *
 * The file format (`<model>.reference.json` beside a model, or `spec.model.drift.reference`):
 *   { "kind": "DriftReference", "version": 1, "rows": 30000,
 *     "inputs":  [{ "name": "amount_usd", "tensor": "features", "column": 0, "kind": "continuous",
 *                   "edges": [12.5, ...], "proportions": [0.1, ...] }, ...],
 *     "outputs": [{ "name": "probability", "tensor": "probability", "column": 0, ... }] }
 * Bin i holds edges[i-1] ≤ x < edges[i]; there is one more proportion than edges.
 */
import { KarbError } from '../../errors.ts';
import { binOf } from './stats.ts';

export const REFERENCE_KIND = 'DriftReference';
export const REFERENCE_VERSION = 1;
/** Bins per continuous column: deciles. */
export const DEFAULT_BINS = 10;
/** Most edges (bins less one) a column of a reference file may have. */
export const MAX_EDGES = 63;

export type ColumnKind = 'continuous' | 'discrete';

export interface ReferenceColumn {
  /** What people read: a feature name, or `<tensor>[<column>]` when none is known. */
  readonly name: string;
  readonly tensor: string;
  readonly column: number;
  readonly kind: ColumnKind;
  /** Inner bin edges, strictly ascending. */
  readonly edges: readonly number[];
  /** Share of the reference in each bin (edges.length + 1 of them), summing to 1. */
  readonly proportions: readonly number[];
}

export interface DriftReference {
  readonly kind: typeof REFERENCE_KIND;
  readonly version: typeof REFERENCE_VERSION;
  /** Rows the reference was built from. */
  readonly rows: number;
  /** Where it came from, for people: a file, the training data, or the first rows served. */
  readonly source?: string;
  readonly inputs: readonly ReferenceColumn[];
  readonly outputs: readonly ReferenceColumn[];
}

/** A reference file that karb cannot use; the message names the field and how to fix it. */
export class DriftReferenceError extends KarbError {
  constructor(message: string, cause?: unknown) {
    super('INVALID_DRIFT_REFERENCE', message, { status: 422, cause });
  }
}

/** One column's reference from its values (non-finite values are left out). */
export function referenceColumn(values: ArrayLike<number>, where: { name: string; tensor: string; column: number }, bins = DEFAULT_BINS): ReferenceColumn {
  const finite: number[] = [];
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i]!)) finite.push(values[i]!);
  if (finite.length === 0) throw new DriftReferenceError(`column ${where.name} has no finite values to build a reference from`);
  finite.sort((a, b) => a - b);
  const distinct: number[] = [];
  for (const v of finite) if (distinct.length === 0 || distinct[distinct.length - 1] !== v) distinct.push(v);

  let kind: ColumnKind;
  let edges: number[];
  if (distinct.length <= bins) {
    kind = 'discrete';
    edges = distinct.slice(1).map((v, i) => (distinct[i]! + v) / 2);
  } else {
    kind = 'continuous';
    edges = [];
    for (let q = 1; q < bins; q++) {
      const edge = finite[Math.floor((q * finite.length) / bins)]!;
      // Ties (many equal values) can repeat a quantile; a repeated edge would make an empty bin.
      if (edge > finite[0]! && (edges.length === 0 || edge > edges[edges.length - 1]!)) edges.push(edge);
    }
  }
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const v of finite) counts[binOf(edges, v)]!++;
  return { ...where, kind, edges, proportions: counts.map((c) => c / finite.length) };
}

/**
 * The reference columns of a row-major [rows, cols] matrix, one per column; `names` gives the
 * columns' names (default `<tensor>[<column>]`).
 */
export function referenceColumns(data: ArrayLike<number>, rows: number, cols: number, tensor: string, names?: readonly string[], bins = DEFAULT_BINS): ReferenceColumn[] {
  const out: ReferenceColumn[] = [];
  const column = new Float64Array(rows);
  for (let c = 0; c < cols; c++) {
    for (let r = 0; r < rows; r++) column[r] = data[r * cols + c]!;
    out.push(referenceColumn(column, { name: names?.[c] ?? columnName(tensor, c, cols), tensor, column: c }, bins));
  }
  return out;
}

/** A column's default name: the tensor's name when it has one column, else `tensor[i]`. */
export function columnName(tensor: string, column: number, cols: number): string {
  return cols === 1 ? tensor : `${tensor}[${column}]`;
}

/** Validates a parsed reference file; `source` names it in errors. */
export function parseDriftReference(value: unknown, source: string): DriftReference {
  const fail = (path: string, what: string): never => {
    throw new DriftReferenceError(`drift reference ${source}: ${path} ${what}`);
  };
  if (!isObject(value)) return fail('the file', 'must be a JSON object with kind "DriftReference", version 1, inputs and outputs');
  if (value.kind !== REFERENCE_KIND) fail('kind', `must be "${REFERENCE_KIND}", got ${JSON.stringify(value.kind)}`);
  if (value.version !== REFERENCE_VERSION) fail('version', `must be ${REFERENCE_VERSION}, got ${JSON.stringify(value.version)}; rebuild the reference with this karb`);
  if (!(Number.isSafeInteger(value.rows) && (value.rows as number) > 0)) fail('rows', 'must be a positive integer: the number of rows the reference was built from');
  const columns = (key: 'inputs' | 'outputs'): ReferenceColumn[] => {
    const list = value[key] ?? [];
    if (!Array.isArray(list)) return fail(key, 'must be a list of columns');
    return list.map((c: unknown, i) => parseColumn(c, `${key}[${i}]`, fail));
  };
  const inputs = columns('inputs');
  const outputs = columns('outputs');
  if (inputs.length + outputs.length === 0) fail('inputs', 'must list at least one column');
  const seen = new Set<string>();
  for (const c of [...inputs, ...outputs]) {
    const key = `${c.tensor}/${c.column}`;
    if (seen.has(key)) fail(`column ${c.column} of tensor ${c.tensor}`, 'is listed twice; list each column once');
    seen.add(key);
  }
  return {
    kind: REFERENCE_KIND,
    version: REFERENCE_VERSION,
    rows: value.rows as number,
    ...(typeof value.source === 'string' ? { source: value.source } : {}),
    inputs,
    outputs,
  };
}

function parseColumn(c: unknown, path: string, fail: (path: string, what: string) => never): ReferenceColumn {
  if (!isObject(c)) return fail(path, 'must be an object with name, tensor, column, kind, edges and proportions');
  if (typeof c.name !== 'string' || c.name === '') fail(`${path}.name`, 'must be a non-empty string (the feature name)');
  if (typeof c.tensor !== 'string' || c.tensor === '') fail(`${path}.tensor`, "must name the model's input or output tensor");
  if (!(Number.isSafeInteger(c.column) && (c.column as number) >= 0)) fail(`${path}.column`, 'must be a column index (0 or more) of the tensor\'s second dimension');
  if (c.kind !== 'continuous' && c.kind !== 'discrete') fail(`${path}.kind`, `must be "continuous" or "discrete", got ${JSON.stringify(c.kind)}`);
  const edges = c.edges;
  if (!Array.isArray(edges) || !edges.every((e) => typeof e === 'number' && Number.isFinite(e))) return fail(`${path}.edges`, 'must be a list of finite numbers');
  // Each request walks every edge of every column: keep that bounded.
  if (edges.length > MAX_EDGES) fail(`${path}.edges`, `must have at most ${MAX_EDGES} edges (got ${edges.length}); use fewer, wider bins (deciles are typical)`);
  for (let i = 1; i < edges.length; i++) if (!(edges[i] > edges[i - 1])) fail(`${path}.edges`, `must be strictly ascending (edges[${i}] = ${edges[i]} follows ${edges[i - 1]})`);
  const p = c.proportions;
  if (!Array.isArray(p) || !p.every((x) => typeof x === 'number' && x >= 0 && x <= 1)) return fail(`${path}.proportions`, 'must be a list of shares from 0 to 1');
  if (p.length !== edges.length + 1) fail(`${path}.proportions`, `must have one more entry than edges (${edges.length + 1}), got ${p.length}`);
  const sum = p.reduce((a: number, b: number) => a + b, 0);
  if (Math.abs(sum - 1) > 1e-3) fail(`${path}.proportions`, `must sum to 1, got ${sum.toFixed(4)}`);
  return { name: c.name as string, tensor: c.tensor as string, column: c.column as number, kind: c.kind as ColumnKind, edges: edges as number[], proportions: p as number[] };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
