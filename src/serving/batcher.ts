/**
 * Adaptive dynamic batcher: a request never waits for company while the model is
 * idle. Rows from different callers are stacked into one typed array per input, run
 * as one model call, and the outputs are handed back as views at each caller's row
 * offset. When is a batch started?
 *
 * | model state | what happens to a request that arrives |
 * |---|---|
 * | idle (nothing running) | runs at once, with whatever else is queued (up to `maxBatchSize` rows) |
 * | a batch runs | its rows gather into the next batch, which starts when the running batch ends |
 * | a batch runs, `maxBatchSize` rows wait, a pipeline slot is free | the full batch is handed to the runner now |
 * | a batch runs, the oldest waiting row has waited `maxDelayMs`, a pipeline slot is free | the partial batch is handed to the runner now and stops gathering |
 * | draining (`flush`) or the model cannot batch | whatever is queued goes as soon as a slot is free |
 *
 * So batches form only from load the model cannot keep up with: a lone request costs
 * no delay, and under load each batch holds what arrived while the one before ran.
 * `maxDelayMs` is the longest a row gathers company while the model is busy; it only
 * matters with `pipelineDepth` 2 or more (with depth 1 nothing can start before the
 * running batch ends anyway), and 0 means a free slot takes whatever is queued at once.
 * Handing a batch over early lets a model in another thread start it the moment the
 * running one ends, without waiting for this thread to notice; gathering longer makes
 * bigger batches. One batch computes at a time (the runtime already uses the cores);
 * pipelined batches wait their turn at the runner.
 *
 * Batches are made of whole requests in arrival order; a request larger than
 * `maxBatchSize` runs alone as one batch. Time comes from the injected `Clock`.
 */
import { KarbError, QueueFullError } from '../errors.ts';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.ts';
import type { TypedArray, TypedArrayConstructor } from './datatypes.ts';
import type { TensorData, TensorMap } from './onnx-model.ts';

/** The part of a model the batcher drives. */
export interface BatchRunner {
  /** False when rows of different requests cannot share a run (fixed first dimension). */
  readonly batchable: boolean;
  run(feeds: TensorMap): Promise<TensorMap>;
}

/** One caller's rows: every feed's first dimension is `rows`. */
export interface BatchRequest {
  readonly rows: number;
  readonly feeds: TensorMap;
  /** Filled in when the request's batch ends, for a caller that traces it. */
  readonly timing?: BatchTiming;
}

/** When a request's batch was handed to the model, began computing and ended (`stopwatch` ms), and its size. */
export interface BatchTiming {
  batchedAt: number;
  /** A pipelined batch waits at the model for the one before it: computing starts when that one ends. */
  runStartedAt: number;
  finishedAt: number;
  rows: number;
  requests: number;
}

export interface BatchStats {
  rows: number;
  requests: number;
  /** Milliseconds the model call took, from `stopwatch` (for a pipelined batch, from the end of the one before). */
  runMs: number;
  ok: boolean;
}

export interface BatcherOptions {
  maxBatchSize: number;
  /** While a batch runs: the longest the next batch gathers rows before it takes a free pipeline slot (0 = at once). Never a wait when the model is idle. */
  maxDelayMs: number;
  /** Rows allowed to wait; past it `submit` fails with QueueFullError. An empty queue always admits one request. */
  maxQueueRows: number;
  /**
   * Batches handed to the runner at once (default 1). With 2, a full next batch is
   * passed on while one runs; the runner still runs them in order.
   */
  pipelineDepth?: number;
  clock?: Clock;
  /** Monotonic milliseconds used only to measure run time for stats (default `performance.now`). */
  stopwatch?: () => number;
  onBatch?: (stats: BatchStats) => void;
}

/** The batch queue has no room for this request's rows: a retryable 503 that says how full it is. */
export function batchQueueFull(queuedRows: number, rows: number, maxQueueRows: number): QueueFullError {
  return new QueueFullError(
    `inference queue is full: ${queuedRows} rows waiting, this request adds ${rows}, the limit is ${maxQueueRows}; retry shortly or send to another replica`,
    { retryAfterSeconds: 1 },
  );
}

export class InferenceFailedError extends KarbError {
  constructor(message: string, cause?: unknown) {
    super('INFERENCE_FAILED', message, { status: 500, cause });
  }
}

interface Pending {
  readonly rows: number;
  readonly feeds: TensorMap;
  readonly arrivedAt: number;
  readonly timing: BatchTiming | undefined;
  readonly resolve: (outputs: TensorMap) => void;
  readonly reject: (err: unknown) => void;
}

export class Batcher {
  readonly #runner: BatchRunner;
  readonly #maxBatchSize: number;
  readonly #maxDelayMs: number;
  readonly #maxQueueRows: number;
  readonly #pipelineDepth: number;
  readonly #clock: Clock;
  readonly #stopwatch: () => number;
  readonly #onBatch: ((stats: BatchStats) => void) | undefined;

  /** FIFO of waiting requests; `#head` is the oldest. Compacted now and then instead of shifting. */
  #queue: Pending[] = [];
  #head = 0;
  #queuedRows = 0;
  #running = 0;
  #timer: TimerHandle | undefined;
  /** The waiting request the gathering timer was armed for. */
  #timerFor: Pending | undefined;
  /** Set by `flush`: hand everything queued to free slots without gathering. */
  #flushing = false;
  #idleWaiters: Array<() => void> = [];
  #lastFinished = -Infinity;

  constructor(runner: BatchRunner, options: BatcherOptions) {
    if (!(options.maxBatchSize >= 1)) throw new RangeError('maxBatchSize must be at least 1');
    if (!(options.maxDelayMs >= 0)) throw new RangeError('maxDelayMs must be 0 or more');
    if (!(options.maxQueueRows >= 1)) throw new RangeError('maxQueueRows must be at least 1');
    if (!((options.pipelineDepth ?? 1) >= 1)) throw new RangeError('pipelineDepth must be at least 1');
    this.#runner = runner;
    this.#maxBatchSize = options.maxBatchSize;
    this.#maxDelayMs = options.maxDelayMs;
    this.#maxQueueRows = options.maxQueueRows;
    this.#pipelineDepth = options.pipelineDepth ?? 1;
    this.#clock = options.clock ?? systemClock;
    this.#stopwatch = options.stopwatch ?? (() => performance.now());
    this.#onBatch = options.onBatch;
  }

  /** Rows waiting for a batch (not counting the batch that is running). */
  get queuedRows(): number {
    return this.#queuedRows;
  }

  get queuedRequests(): number {
    return this.#queue.length - this.#head;
  }

  /** Batches handed to the runner and not finished. */
  get runningBatches(): number {
    return this.#running;
  }

  /** Queues the request's rows; resolves with outputs holding exactly its rows, in order. */
  submit(request: BatchRequest): Promise<TensorMap> {
    const { rows } = request;
    if (!(rows >= 1)) return Promise.reject(new RangeError('a batch request needs at least one row'));
    if (this.#queuedRows > 0 && this.#queuedRows + rows > this.#maxQueueRows) {
      return Promise.reject(batchQueueFull(this.#queuedRows, rows, this.#maxQueueRows));
    }
    return new Promise<TensorMap>((resolve, reject) => {
      this.#queue.push({ rows, feeds: request.feeds, arrivedAt: this.#clock.now(), timing: request.timing, resolve, reject });
      this.#queuedRows += rows;
      this.#schedule();
    });
  }

  /**
   * Hands everything queued now and from here on to the runner as soon as a slot is
   * free, without gathering (used while draining); resolves once nothing is queued or running.
   */
  flush(): Promise<void> {
    this.#flushing = true;
    this.#schedule();
    return this.#whenIdle();
  }

  #whenIdle(): Promise<void> {
    if (this.#running === 0 && this.queuedRequests === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Decides whether to start batches now, arm the gathering timer, or wait for a running batch to end. */
  #schedule(): void {
    while (this.#running < this.#pipelineDepth) {
      const oldest = this.#queue[this.#head];
      if (oldest === undefined) break;
      const ready =
        this.#running === 0 ||
        this.#flushing ||
        !this.#runner.batchable ||
        this.#queuedRows >= this.#maxBatchSize ||
        this.#clock.now() >= oldest.arrivedAt + this.#maxDelayMs;
      if (!ready) {
        // The model is busy and the next batch is still gathering: hand it over when its oldest row
        // has waited maxDelayMs, unless the running batch ends (or the batch fills) first.
        if (this.#timerFor === oldest) return;
        this.#disarm();
        this.#timerFor = oldest;
        this.#timer = this.#clock.setTimeout(() => {
          this.#timer = undefined;
          this.#timerFor = undefined;
          this.#schedule();
        }, oldest.arrivedAt + this.#maxDelayMs - this.#clock.now());
        return;
      }
      this.#disarm();
      this.#runBatch();
    }
    // Nothing waits, or every slot is taken: the end of a running batch schedules again.
    this.#disarm();
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerFor = undefined;
  }

  /** Takes whole requests from the head while they fit in one batch and share a row shape. */
  #take(): Pending[] {
    const first = this.#queue[this.#head++]!;
    const batch = [first];
    let rows = first.rows;
    if (this.#runner.batchable) {
      for (;;) {
        const next = this.#queue[this.#head];
        if (next === undefined || rows + next.rows > this.#maxBatchSize || !sameRowShape(first.feeds, next.feeds)) break;
        batch.push(next);
        rows += next.rows;
        this.#head++;
      }
    }
    this.#queuedRows -= rows;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return batch;
  }

  #runBatch(): void {
    const batch = this.#take();
    let rows = 0;
    for (const p of batch) rows += p.rows;
    this.#running++;
    const started = this.#stopwatch();
    let result: Promise<TensorMap>;
    try {
      result = this.#runner.run(batch.length === 1 ? batch[0]!.feeds : stackFeeds(batch, rows));
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (outputs) => {
        this.#finish(batch, rows, started, true);
        deliver(batch, rows, outputs);
      },
      (err: unknown) => {
        this.#finish(batch, rows, started, false);
        const reason = err instanceof Error ? err.message : String(err);
        const failure = err instanceof KarbError ? err : new InferenceFailedError(`inference failed: ${reason}`, err);
        for (const p of batch) p.reject(failure);
      },
    );
  }

  #finish(batch: Pending[], rows: number, started: number, ok: boolean): void {
    this.#running--;
    // A pipelined batch waits for the one before it; its run starts when that one ended.
    const finished = this.#stopwatch();
    const runStarted = Math.max(started, this.#lastFinished);
    const runMs = finished - runStarted;
    this.#lastFinished = finished;
    for (const p of batch) {
      const t = p.timing;
      if (t === undefined) continue;
      t.batchedAt = started;
      t.runStartedAt = runStarted;
      t.finishedAt = finished;
      t.rows = rows;
      t.requests = batch.length;
    }
    this.#onBatch?.({ rows, requests: batch.length, runMs, ok });
    this.#schedule();
    if (this.#running === 0 && this.queuedRequests === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}

/** True when every feed of `b` has the same non-batch dimensions as in `a`. */
function sameRowShape(a: TensorMap, b: TensorMap): boolean {
  for (const name in a) {
    const da = a[name]!.dims;
    const db = b[name]?.dims;
    if (db === undefined || da.length !== db.length) return false;
    for (let i = 1; i < da.length; i++) if (da[i] !== db[i]) return false;
  }
  return true;
}

/** Concatenates each input of the batch's requests into one typed array of `rows` rows. */
function stackFeeds(batch: readonly Pending[], rows: number): TensorMap {
  const first = batch[0]!;
  const feeds: TensorMap = {};
  for (const name in first.feeds) {
    const head = first.feeds[name]!;
    const rowSize = head.data.length / first.rows;
    const data = new (head.data.constructor as TypedArrayConstructor)(rows * rowSize);
    let offset = 0;
    for (const p of batch) {
      const part = p.feeds[name]!.data;
      (data as Float32Array).set(part as Float32Array, offset);
      offset += part.length;
    }
    const dims = head.dims.slice();
    dims[0] = rows;
    feeds[name] = { data, dims };
  }
  return feeds;
}

/** Hands each caller a view of its own rows of every output. */
function deliver(batch: readonly Pending[], rows: number, outputs: TensorMap): void {
  if (batch.length === 1) {
    batch[0]!.resolve(outputs);
    return;
  }
  for (const name in outputs) {
    const dims = outputs[name]!.dims;
    if (dims[0] !== rows) {
      const failure = new InferenceFailedError(
        `output '${name}' has shape [${dims.join(', ')}], whose first dimension is not the batch size ${rows}; ` +
          'a model served with batching must keep the batch dimension first in every output (or serve it with --max-batch-size 1)',
      );
      for (const p of batch) p.reject(failure);
      return;
    }
  }
  const perCaller: TensorMap[] = batch.map(() => ({}));
  for (const name in outputs) {
    const { data, dims } = outputs[name]!;
    const rowSize = data.length / rows;
    let offset = 0;
    for (let i = 0; i < batch.length; i++) {
      const n = batch[i]!.rows;
      const rowDims = dims.slice();
      rowDims[0] = n;
      perCaller[i]![name] = { data: data.subarray(offset * rowSize, (offset + n) * rowSize) as TypedArray, dims: rowDims } satisfies TensorData;
      offset += n;
    }
  }
  for (let i = 0; i < batch.length; i++) batch[i]!.resolve(perCaller[i]!);
}
