/**
 * What one model server keeps to measure drift: per observed column, counts over the reference's
 * bins for a sliding window of recent rows, or — with no reference yet — the first rows served,
 * from which it learns one.
 *
 * The window is two halves of `windowRows / 2` rows each; statistics read both, so they always
 * cover the last windowRows/2 to windowRows rows, and when a half fills, the older one is dropped
 * (a copy into a preallocated array, no allocation). Rows are counted on the first observed input.
 * `observe` is O(columns × log bins) per row and allocates nothing; `report` (a scrape, the drift
 * endpoint) does the arithmetic.
 *
 * At most `maxColumns` columns are watched (256 by default): the first ones, inputs before
 * outputs, in the order of the model's tensors or the reference file's columns. Each watched
 * column costs work per row and three metric series, so a wide input (embeddings, pixels) would
 * otherwise cost thousands of series per replica.
 */
import { DriftReferenceError, columnName, referenceColumn, type DriftReference, type ReferenceColumn } from './reference.ts';
import { ksBinned, psi } from './stats.ts';

/** A tensor drift can be measured on: 2-D float, `cols` values per row. */
export interface ObservedTensor {
  readonly name: string;
  readonly role: 'input' | 'output';
  readonly cols: number;
}

export interface MonitorOptions {
  /** The model's tensors that can be observed (2-D float). */
  tensors: readonly ObservedTensor[];
  /** A reference from a file; without one the monitor learns it from the first `learnRows` rows. */
  reference?: DriftReference;
  /** Rows to learn a reference from when none is given (default 1000). */
  learnRows?: number;
  /** Rows the statistics cover at most (default 2000); they cover at least half as many once that many were served. */
  windowRows?: number;
  /** Names of the input columns for a learned reference, by tensor (default `tensor[i]`). */
  names?: Readonly<Record<string, readonly string[]>>;
  /** Columns watched at most, inputs first (default 256). */
  maxColumns?: number;
}

export const DEFAULT_LEARN_ROWS = 1000;
export const DEFAULT_WINDOW_ROWS = 2000;
export const DEFAULT_MAX_COLUMNS = 256;
/** How the `reference.source` of a reference learned from the rows served begins. */
export const LEARNED_SOURCE = 'learned from the first';

export interface ColumnDrift {
  name: string;
  kind: ReferenceColumn['kind'];
  /** Population stability index against the reference; null until a row was seen. */
  psi: number | null;
  /** Two-sample KS statistic on the binned CDFs; null for a discrete column or before a row was seen. */
  ks: number | null;
}

export type DriftReport =
  | { state: 'learning'; learnedRows: number; learnRows: number }
  | {
      state: 'monitoring';
      reference: { rows: number; source: string };
      /** Rows the statistics below cover. */
      windowRows: number;
      inputs: ColumnDrift[];
      outputs: ColumnDrift[];
      /** Columns past `maxColumns`, not watched; absent when every column is. */
      unwatchedColumns?: number;
    };

/**
 * One tensor's watched columns, flattened into typed arrays so that the per-value loop reads
 * numbers, not objects: column i is value `column[i]` of a row, its edges are
 * `edges[edgeStart[i] .. edgeStart[i+1])` and its counts start at `offset[i]`.
 */
interface TensorBinding {
  readonly cols: number;
  readonly column: Int32Array;
  readonly offset: Int32Array;
  readonly edgeStart: Int32Array;
  readonly edges: Float64Array;
}

export class DriftMonitor {
  readonly #tensors: readonly ObservedTensor[];
  readonly #learnRows: number;
  readonly #halfRows: number;
  readonly #names: Readonly<Record<string, readonly string[]>>;
  /** The tensor whose rows advance the window (the first observed input). */
  readonly #clockTensor: string | undefined;
  readonly #maxColumns: number;
  /** How many leading columns of each tensor a learned reference watches (within maxColumns). */
  readonly #learnedColumns: ReadonlyMap<string, number>;
  #unwatched = 0;

  #reference: DriftReference | undefined;
  #bindings = new Map<string, TensorBinding>();
  #current = new Float64Array(0);
  #previous = new Float64Array(0);
  #currentRows = 0;
  #previousRows = 0;

  /** While learning: the first rows of each tensor, row-major, its watched columns only. */
  #learning: Map<string, { data: Float64Array; rows: number }> | undefined;

  constructor(options: MonitorOptions) {
    this.#tensors = options.tensors;
    this.#learnRows = Math.max(1, options.learnRows ?? DEFAULT_LEARN_ROWS);
    this.#halfRows = Math.max(1, Math.floor((options.windowRows ?? DEFAULT_WINDOW_ROWS) / 2));
    this.#names = options.names ?? {};
    this.#clockTensor = options.tensors.find((t) => t.role === 'input')?.name;
    this.#maxColumns = Math.max(1, options.maxColumns ?? DEFAULT_MAX_COLUMNS);
    const ordered = [...options.tensors.filter((t) => t.role === 'input'), ...options.tensors.filter((t) => t.role === 'output')];
    let budget = this.#maxColumns;
    const learned = new Map<string, number>();
    for (const t of ordered) {
      const take = Math.min(t.cols, budget);
      learned.set(t.name, take);
      budget -= take;
    }
    this.#learnedColumns = learned;
    if (options.reference !== undefined) {
      // Columns past the cap are checked too: a file that does not fit the model is refused whole.
      for (const c of options.reference.inputs) this.#tensorOf(c, 'input');
      for (const c of options.reference.outputs) this.#tensorOf(c, 'output');
      this.#use(this.#capped(options.reference));
    } else {
      this.#unwatched = ordered.reduce((n, t) => n + t.cols - learned.get(t.name)!, 0);
      this.#learning = new Map(ordered.filter((t) => learned.get(t.name)! > 0).map((t) => [t.name, { data: new Float64Array(this.#learnRows * learned.get(t.name)!), rows: 0 }]));
    }
  }

  get reference(): DriftReference | undefined {
    return this.#reference;
  }

  /** Columns left unwatched by `maxColumns` (of the model's tensors, or of the reference file). */
  get unwatchedColumns(): number {
    return this.#unwatched;
  }

  /** Counts `rows` rows of `tensor` (row-major, `cols` values each); a tensor drift does not watch is ignored. */
  observe(tensor: string, data: ArrayLike<number>, rows: number): void {
    if (this.#learning !== undefined) {
      this.#learn(tensor, data, rows);
      return;
    }
    const binding = this.#bindings.get(tensor);
    if (binding === undefined) return;
    const counts = this.#current;
    const { cols, column, offset, edgeStart, edges } = binding;
    const n = column.length;
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      for (let i = 0; i < n; i++) {
        const v = data[base + column[i]!]!;
        // NaN is no value at all; it would land in the last bin.
        if (v !== v) continue;
        // Bin k holds edges[k-1] ≤ v < edges[k]: the bin is the number of edges ≤ v. Counted
        // without branches, which beats a binary search on ~10 edges (no mispredictions).
        const end = edgeStart[i + 1]!;
        let bin = 0;
        for (let e = edgeStart[i]!; e < end; e++) bin += v >= edges[e]! ? 1 : 0;
        counts[offset[i]! + bin]!++;
      }
    }
    if (tensor === this.#clockTensor) {
      this.#currentRows += rows;
      if (this.#currentRows >= this.#halfRows) this.#rotate();
    }
  }

  report(): DriftReport {
    const reference = this.#reference;
    if (reference === undefined) {
      const rows = this.#clockTensor === undefined ? 0 : (this.#learning?.get(this.#clockTensor)?.rows ?? 0);
      return { state: 'learning', learnedRows: rows, learnRows: this.#learnRows };
    }
    const sum = new Float64Array(this.#current.length);
    for (let i = 0; i < sum.length; i++) sum[i] = this.#current[i]! + this.#previous[i]!;
    const offsets = new Map<ReferenceColumn, number>();
    let offset = 0;
    for (const c of [...reference.inputs, ...reference.outputs]) {
      offsets.set(c, offset);
      offset += c.proportions.length;
    }
    const column = (c: ReferenceColumn): ColumnDrift => {
      const at = offsets.get(c)!;
      const p = psi(c.proportions, sum, at);
      const ks = c.kind === 'continuous' ? ksBinned(c.proportions, sum, at) : NaN;
      return { name: c.name, kind: c.kind, psi: Number.isNaN(p) ? null : round(p), ks: Number.isNaN(ks) ? null : round(ks) };
    };
    return {
      state: 'monitoring',
      reference: { rows: reference.rows, source: reference.source ?? 'file' },
      windowRows: this.#currentRows + this.#previousRows,
      inputs: reference.inputs.map(column),
      outputs: reference.outputs.map(column),
      ...(this.#unwatched > 0 ? { unwatchedColumns: this.#unwatched } : {}),
    };
  }

  /** A reference file's first `maxColumns` columns, inputs first. */
  #capped(reference: DriftReference): DriftReference {
    const inputs = reference.inputs.slice(0, this.#maxColumns);
    const outputs = reference.outputs.slice(0, this.#maxColumns - inputs.length);
    this.#unwatched = reference.inputs.length + reference.outputs.length - inputs.length - outputs.length;
    return this.#unwatched === 0 ? reference : { ...reference, inputs, outputs };
  }

  #rotate(): void {
    this.#previous.set(this.#current);
    this.#current.fill(0);
    this.#previousRows = this.#currentRows;
    this.#currentRows = 0;
  }

  #learn(tensor: string, data: ArrayLike<number>, rows: number): void {
    const buffer = this.#learning!.get(tensor);
    if (buffer === undefined) return;
    const cols = this.#tensors.find((t) => t.name === tensor)!.cols;
    const watched = this.#learnedColumns.get(tensor)!;
    const take = Math.min(rows, this.#learnRows - buffer.rows);
    for (let r = 0; r < take; r++) for (let c = 0; c < watched; c++) buffer.data[(buffer.rows + r) * watched + c] = data[r * cols + c]!;
    buffer.rows += take;
    if (tensor !== this.#clockTensor || buffer.rows < this.#learnRows) return;
    const columns = (role: ObservedTensor['role']) =>
      this.#tensors
        .filter((t) => t.role === role)
        .flatMap((t) => {
          const b = this.#learning!.get(t.name);
          if (b === undefined || b.rows === 0) return [];
          const names = this.#names[t.name];
          const watched = this.#learnedColumns.get(t.name)!;
          // A column with no finite value among the first rows cannot be binned: it is left unwatched
          // (observing must never fail the request that completed the learning).
          return Array.from({ length: watched }, (_, c) => c).flatMap((c) => {
            const values = new Float64Array(b.rows);
            for (let r = 0; r < b.rows; r++) values[r] = b.data[r * watched + c]!;
            try {
              return [referenceColumn(values, { name: names?.[c] ?? columnName(t.name, c, t.cols), tensor: t.name, column: c })];
            } catch {
              return [];
            }
          });
        });
    const reference: DriftReference = {
      kind: 'DriftReference',
      version: 1,
      rows: buffer.rows,
      source: `${LEARNED_SOURCE} ${buffer.rows} rows served`,
      inputs: columns('input'),
      outputs: columns('output'),
    };
    this.#learning = undefined;
    this.#use(reference);
  }

  /** The model's tensor a reference column reads; throws DriftReferenceError when it has no such tensor or column. */
  #tensorOf(c: ReferenceColumn, role: ObservedTensor['role']): ObservedTensor {
    const tensor = this.#tensors.find((t) => t.name === c.tensor);
    if (tensor === undefined || tensor.role !== role) {
      const known = this.#tensors.filter((t) => t.role === role).map((t) => t.name);
      throw new DriftReferenceError(`drift reference column ${c.name} names ${role} tensor '${c.tensor}', which this model has not as a 2-D float ${role}; the model's are: ${known.join(', ') || 'none'}`);
    }
    if (c.column >= tensor.cols) {
      throw new DriftReferenceError(`drift reference column ${c.name} is column ${c.column} of '${c.tensor}', which has ${tensor.cols} columns (0 to ${tensor.cols - 1})`);
    }
    return tensor;
  }

  /** Binds the reference's columns to the model's tensors and sizes the count arrays. */
  #use(reference: DriftReference): void {
    const found = new Map<string, { cols: number; columns: Array<{ column: number; offset: number; edges: readonly number[] }> }>();
    let offset = 0;
    for (const [role, list] of [['input', reference.inputs], ['output', reference.outputs]] as const) {
      for (const c of list) {
        const tensor = this.#tensorOf(c, role);
        let binding = found.get(c.tensor);
        if (binding === undefined) found.set(c.tensor, (binding = { cols: tensor.cols, columns: [] }));
        binding.columns.push({ column: c.column, offset, edges: c.edges });
        offset += c.proportions.length;
      }
    }
    const bindings = new Map<string, TensorBinding>();
    for (const [name, { cols, columns }] of found) {
      const edgeStart = new Int32Array(columns.length + 1);
      columns.forEach((c, i) => (edgeStart[i + 1] = edgeStart[i]! + c.edges.length));
      bindings.set(name, {
        cols,
        column: Int32Array.from(columns, (c) => c.column),
        offset: Int32Array.from(columns, (c) => c.offset),
        edgeStart,
        edges: Float64Array.from(columns.flatMap((c) => c.edges)),
      });
    }
    this.#reference = reference;
    this.#bindings = bindings;
    this.#current = new Float64Array(offset);
    this.#previous = new Float64Array(offset);
    this.#currentRows = 0;
    this.#previousRows = 0;
  }
}

/** Whether a report judges against a reference its replica learned from its own first rows, not a file. */
export function judgedOnLearnedReference(report: DriftReport): boolean {
  return report.state === 'monitoring' && report.reference.source.startsWith(LEARNED_SOURCE);
}

/** The model's tensors drift can watch: 2-D float with a fixed number of columns. */
export function observableTensors(specs: ReadonlyArray<{ name: string; datatype: string; shape: readonly number[] }>, role: ObservedTensor['role']): ObservedTensor[] {
  return specs.filter((s) => (s.datatype === 'FP32' || s.datatype === 'FP64') && s.shape.length === 2 && s.shape[1]! > 0).map((s) => ({ name: s.name, role, cols: s.shape[1]! }));
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
