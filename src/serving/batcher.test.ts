import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../util/clock.ts';
import { QueueFullError } from '../errors.ts';
import { Batcher, InferenceFailedError, type BatchRunner } from './batcher.ts';
import type { TensorMap } from './onnx-model.ts';

/**
 * The runner used here is a tiny row-wise model, y = 2x over rows of width 2, that
 * records each run (the time it was handed over, and its rows). With `runMs` each run
 * computes for that long on the manual clock, one after another as a real model's
 * would; `hold()` keeps runs open until released, to put requests behind a running batch.
 */
function doublingRunner(clock: ManualClock, options: { batchable?: boolean; runMs?: number } = {}) {
  const runs: Array<{ at: number; rows: number }> = [];
  let gate: Promise<void> | undefined;
  let failNext: { err: Error; rows: number | undefined } | undefined;
  let dropBatchDim = false;
  let busyUntil = -Infinity;
  const runner: BatchRunner = {
    batchable: options.batchable ?? true,
    async run(feeds: TensorMap): Promise<TensorMap> {
      const x = feeds.x!;
      const rows = x.dims[0]!;
      runs.push({ at: clock.now(), rows });
      if (options.runMs !== undefined) {
        busyUntil = Math.max(clock.now(), busyUntil) + options.runMs;
        await new Promise<void>((resolve) => clock.setTimeout(resolve, busyUntil - clock.now()));
      }
      if (gate !== undefined) await gate;
      if (failNext !== undefined && (failNext.rows === undefined || failNext.rows === rows)) {
        const { err } = failNext;
        failNext = undefined;
        throw err;
      }
      const y = Float32Array.from(x.data as Float32Array, (v) => v * 2);
      return { y: { data: dropBatchDim ? y.subarray(0, 2) : y, dims: dropBatchDim ? [1, 2] : x.dims } };
    },
  };
  return {
    runner,
    runs,
    hold(): () => void {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return () => {
        gate = undefined;
        release();
      };
    },
    /** Fails the next run (of exactly `rows` rows, when given). */
    failNextRun(err: Error, rows?: number) {
      failNext = { err, rows };
    },
    dropBatchDimension() {
      dropBatchDim = true;
    },
  };
}

/** Rows of width 2 whose values say which request and row they are: request k, row r → [k*100 + r, -(k*100 + r)]. */
function rowsFor(k: number, rows: number, width = 2): TensorMap {
  const data = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) {
    data[r * width] = k * 100 + r;
    for (let c = 1; c < width; c++) data[r * width + c] = -(k * 100 + r);
  }
  return { x: { data, dims: [rows, width] } };
}

function expectOwnRows(out: TensorMap, k: number, rows: number, width = 2): void {
  const want = rowsFor(k, rows, width).x!;
  assert.deepEqual(out.y!.dims, [rows, width]);
  assert.deepEqual(Array.from(out.y!.data as Float32Array), Array.from(want.data as Float32Array, (v) => v * 2));
}

/** Lets promise callbacks (run completions, deliveries) settle. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('Batcher scheduling scenarios', () => {
  // Each model run computes for runMs on the manual clock; `batches` are the runs as handed over (time, rows).
  const cases: Array<{
    name: string;
    maxBatchSize: number;
    maxDelayMs: number;
    pipelineDepth?: number;
    runMs: number;
    arrivals: Array<{ at: number; rows: number }>;
    batches: Array<{ at: number; rows: number }>;
  }> = [
    {
      name: 'an idle batcher runs a lone request at once, without waiting for company',
      maxBatchSize: 32,
      maxDelayMs: 4,
      runMs: 2,
      arrivals: [{ at: 0, rows: 1 }],
      batches: [{ at: 0, rows: 1 }],
    },
    {
      name: 'sparse requests each run the moment they arrive',
      maxBatchSize: 32,
      maxDelayMs: 4,
      runMs: 2,
      arrivals: [{ at: 0, rows: 1 }, { at: 3, rows: 2 }, { at: 10, rows: 1 }],
      batches: [{ at: 0, rows: 1 }, { at: 3, rows: 2 }, { at: 10, rows: 1 }],
    },
    {
      name: 'requests that arrive while a batch runs are merged into the next batch, which starts when it ends',
      maxBatchSize: 32,
      maxDelayMs: 4,
      runMs: 5,
      arrivals: [{ at: 0, rows: 1 }, { at: 1, rows: 1 }, { at: 2, rows: 2 }, { at: 4, rows: 1 }, { at: 6, rows: 1 }],
      batches: [{ at: 0, rows: 1 }, { at: 5, rows: 4 }, { at: 10, rows: 1 }],
    },
    {
      name: 'a batch that runs longer than maxDelayMs still gathers everything that arrived meanwhile (pipeline depth 1)',
      maxBatchSize: 32,
      maxDelayMs: 1,
      runMs: 10,
      arrivals: [{ at: 0, rows: 1 }, { at: 1, rows: 1 }, { at: 5, rows: 1 }, { at: 9, rows: 1 }],
      batches: [{ at: 0, rows: 1 }, { at: 10, rows: 3 }],
    },
    {
      name: 'maxBatchSize caps a batch; the requests left over make the next one',
      maxBatchSize: 4,
      maxDelayMs: 4,
      runMs: 5,
      arrivals: [{ at: 0, rows: 1 }, { at: 1, rows: 2 }, { at: 1, rows: 2 }, { at: 2, rows: 1 }, { at: 2, rows: 3 }],
      batches: [{ at: 0, rows: 1 }, { at: 5, rows: 4 }, { at: 10, rows: 4 }],
    },
    {
      name: 'a request that does not fit the next batch waits for the one after',
      maxBatchSize: 4,
      maxDelayMs: 4,
      runMs: 5,
      arrivals: [{ at: 0, rows: 1 }, { at: 1, rows: 3 }, { at: 2, rows: 2 }],
      batches: [{ at: 0, rows: 1 }, { at: 5, rows: 3 }, { at: 10, rows: 2 }],
    },
    {
      name: 'a request larger than the batch size runs alone, in one run',
      maxBatchSize: 4,
      maxDelayMs: 4,
      runMs: 5,
      arrivals: [{ at: 0, rows: 10 }, { at: 1, rows: 1 }],
      batches: [{ at: 0, rows: 10 }, { at: 5, rows: 1 }],
    },
    {
      name: 'pipeline depth 2: a full batch is handed over at once while one runs, and no more than that',
      maxBatchSize: 2,
      maxDelayMs: 50,
      pipelineDepth: 2,
      runMs: 10,
      arrivals: [{ at: 0, rows: 1 }, { at: 1, rows: 1 }, { at: 1, rows: 1 }, { at: 2, rows: 1 }, { at: 2, rows: 1 }],
      // The third batch is handed over when the first ends (10); the runner starts it when the second ends (20).
      batches: [{ at: 0, rows: 1 }, { at: 1, rows: 2 }, { at: 10, rows: 2 }],
    },
    {
      name: 'pipeline depth 2: the next batch gathers while one runs and is handed over once its oldest row waited maxDelayMs',
      maxBatchSize: 32,
      maxDelayMs: 3,
      pipelineDepth: 2,
      runMs: 10,
      arrivals: [{ at: 0, rows: 1 }, { at: 1, rows: 1 }, { at: 2, rows: 1 }, { at: 6, rows: 1 }],
      batches: [{ at: 0, rows: 1 }, { at: 4, rows: 2 }, { at: 10, rows: 1 }],
    },
    {
      name: 'pipeline depth 2, maxDelayMs 0: a free slot takes whatever is queued at once',
      maxBatchSize: 32,
      maxDelayMs: 0,
      pipelineDepth: 2,
      runMs: 10,
      arrivals: [{ at: 0, rows: 1 }, { at: 1, rows: 1 }, { at: 2, rows: 1 }, { at: 3, rows: 2 }],
      batches: [{ at: 0, rows: 1 }, { at: 1, rows: 1 }, { at: 10, rows: 3 }],
    },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const clock = new ManualClock(0);
      const model = doublingRunner(clock, { runMs: c.runMs });
      const batcher = new Batcher(model.runner, {
        maxBatchSize: c.maxBatchSize,
        maxDelayMs: c.maxDelayMs,
        maxQueueRows: 1024,
        clock,
        ...(c.pipelineDepth === undefined ? {} : { pipelineDepth: c.pipelineDepth }),
      });
      const pending: Array<Promise<void>> = [];
      for (const [k, a] of c.arrivals.entries()) {
        while (clock.now() < a.at) {
          clock.advance(1);
          await settle();
        }
        pending.push(batcher.submit({ rows: a.rows, feeds: rowsFor(k, a.rows) }).then((out) => expectOwnRows(out, k, a.rows)));
        await settle();
      }
      for (let t = 0; t < 100; t++) {
        clock.advance(1);
        await settle();
      }
      await Promise.all(pending);
      assert.deepEqual(model.runs, c.batches);
      assert.equal(batcher.queuedRows, 0);
      assert.equal(clock.pendingTimers(), 0);
    });
  }
});

describe('Batcher', () => {
  it('answers a lone request without the clock moving and leaves no timer behind', async () => {
    const clock = new ManualClock(0);
    const model = doublingRunner(clock);
    const batcher = new Batcher(model.runner, { maxBatchSize: 32, maxDelayMs: 1000, maxQueueRows: 1024, clock });
    expectOwnRows(await batcher.submit({ rows: 2, feeds: rowsFor(0, 2) }), 0, 2);
    assert.deepEqual(model.runs, [{ at: 0, rows: 2 }]);
    assert.equal(clock.pendingTimers(), 0);
  });

  it('runs one batch at a time; rows that arrive meanwhile form the next batch', async () => {
    const clock = new ManualClock(0);
    const model = doublingRunner(clock);
    const batcher = new Batcher(model.runner, { maxBatchSize: 4, maxDelayMs: 10, maxQueueRows: 1024, clock });
    const release = model.hold();
    const first = batcher.submit({ rows: 1, feeds: rowsFor(0, 1) });
    await settle();
    assert.deepEqual(model.runs, [{ at: 0, rows: 1 }]);
    const second = [1, 2, 3, 4, 5].map((k) => batcher.submit({ rows: 1, feeds: rowsFor(k, 1) }));
    clock.advance(20);
    await settle();
    assert.equal(model.runs.length, 1, 'no second run while the first is running, however long the rows have waited');
    assert.equal(batcher.queuedRows, 5);
    assert.equal(batcher.queuedRequests, 5);
    assert.equal(clock.pendingTimers(), 0, 'with one slot, nothing is timed: the end of the run starts the next batch');
    release();
    const outs = await Promise.all([first, ...second]);
    outs.forEach((out, k) => expectOwnRows(out, k, 1));
    // The waiting rows run as soon as the running batch ends: 4 (the cap), then the one left.
    assert.deepEqual(model.runs, [{ at: 0, rows: 1 }, { at: 20, rows: 4 }, { at: 20, rows: 1 }]);
  });

  it('with pipelineDepth 2, keeps a partial batch gathering while the model is busy until maxDelayMs', async () => {
    const clock = new ManualClock(0);
    const model = doublingRunner(clock);
    const batcher = new Batcher(model.runner, { maxBatchSize: 4, maxDelayMs: 10, maxQueueRows: 1024, clock, pipelineDepth: 2 });
    const release = model.hold();
    const calls = [batcher.submit({ rows: 1, feeds: rowsFor(0, 1) })];
    await settle();
    calls.push(batcher.submit({ rows: 1, feeds: rowsFor(1, 1) }));
    clock.advance(5);
    await settle();
    assert.deepEqual(model.runs, [{ at: 0, rows: 1 }], 'the single waiting row is not handed over yet');
    calls.push(batcher.submit({ rows: 2, feeds: rowsFor(2, 2) }));
    clock.advance(5);
    await settle();
    assert.deepEqual(model.runs, [{ at: 0, rows: 1 }, { at: 10, rows: 3 }]);
    assert.equal(batcher.runningBatches, 2);
    release();
    (await Promise.all(calls)).forEach((out, k) => expectOwnRows(out, k, k === 2 ? 2 : 1));
  });

  it('hands each caller exactly its own rows when requests of different sizes share a batch', async () => {
    const clock = new ManualClock(0);
    const model = doublingRunner(clock);
    const batcher = new Batcher(model.runner, { maxBatchSize: 16, maxDelayMs: 5, maxQueueRows: 1024, clock });
    const release = model.hold();
    const opener = batcher.submit({ rows: 1, feeds: rowsFor(9, 1, 3) });
    const sizes = [1, 3, 2, 5, 1, 4];
    const pending = sizes.map((rows, k) => batcher.submit({ rows, feeds: rowsFor(k, rows, 3) }).then((out) => expectOwnRows(out, k, rows, 3)));
    release();
    expectOwnRows(await opener, 9, 1, 3);
    await Promise.all(pending);
    assert.deepEqual(model.runs, [{ at: 0, rows: 1 }, { at: 0, rows: 16 }]);
  });

  it('rejects every caller of a failed batch and keeps serving the next one', async () => {
    const clock = new ManualClock(0);
    const model = doublingRunner(clock);
    const batcher = new Batcher(model.runner, { maxBatchSize: 3, maxDelayMs: 10, maxQueueRows: 1024, clock });
    const release = model.hold();
    const opener = batcher.submit({ rows: 1, feeds: rowsFor(9, 1) });
    const failed = [0, 1, 2].map((k) => batcher.submit({ rows: 1, feeds: rowsFor(k, 1) }));
    model.failNextRun(new Error('kernel exploded'), 3);
    release();
    expectOwnRows(await opener, 9, 1);
    for (const p of failed) {
      await assert.rejects(p, (err: unknown) => err instanceof InferenceFailedError && err.code === 'INFERENCE_FAILED' && /kernel exploded/.test(err.message));
    }
    assert.deepEqual(model.runs, [{ at: 0, rows: 1 }, { at: 0, rows: 3 }]);
    expectOwnRows(await batcher.submit({ rows: 1, feeds: rowsFor(7, 1) }), 7, 1);
  });

  it('rejects every caller when an output lost the batch dimension', async () => {
    const clock = new ManualClock(0);
    const model = doublingRunner(clock);
    model.dropBatchDimension();
    const batcher = new Batcher(model.runner, { maxBatchSize: 2, maxDelayMs: 10, maxQueueRows: 1024, clock });
    const release = model.hold();
    const opener = batcher.submit({ rows: 1, feeds: rowsFor(9, 1) });
    const calls = [0, 1].map((k) => batcher.submit({ rows: 1, feeds: rowsFor(k, 1) }));
    release();
    await opener;
    for (const p of calls) await assert.rejects(p, /output 'y' has shape \[1, 2\], whose first dimension is not the batch size 2/);
  });

  it('refuses rows past maxQueueRows with a retryable QueueFullError, and admits one large request into an empty queue', async () => {
    const clock = new ManualClock(0);
    const model = doublingRunner(clock);
    const batcher = new Batcher(model.runner, { maxBatchSize: 2, maxDelayMs: 10, maxQueueRows: 4, clock });
    const release = model.hold();
    const running = batcher.submit({ rows: 2, feeds: rowsFor(0, 2) }); // runs at once (the model is idle)
    await settle();
    const queued = [batcher.submit({ rows: 3, feeds: rowsFor(1, 3) }), batcher.submit({ rows: 1, feeds: rowsFor(2, 1) })];
    assert.equal(batcher.queuedRows, 4);
    await assert.rejects(batcher.submit({ rows: 1, feeds: rowsFor(3, 1) }), (err: unknown) => {
      assert.ok(err instanceof QueueFullError);
      assert.equal(err.status, 503);
      assert.equal(err.code, 'QUEUE_FULL');
      assert.equal(err.retryAfterSeconds, 1);
      assert.match(err.message, /4 rows waiting, this request adds 1, the limit is 4/);
      return true;
    });
    release();
    expectOwnRows(await running, 0, 2);
    await Promise.all(queued);
    // Empty queue: a request larger than maxQueueRows is still admitted (it could never fit otherwise).
    const big = batcher.submit({ rows: 6, feeds: rowsFor(4, 6) });
    expectOwnRows(await big, 4, 6);
  });

  it('flush() hands what is queued to a free slot without gathering and resolves once idle', async () => {
    const clock = new ManualClock(0);
    const model = doublingRunner(clock);
    const batcher = new Batcher(model.runner, { maxBatchSize: 32, maxDelayMs: 1000, maxQueueRows: 1024, clock, pipelineDepth: 2 });
    let release = model.hold();
    const calls = [0, 1, 2].map((k) => batcher.submit({ rows: 1, feeds: rowsFor(k, 1) }));
    await settle();
    assert.deepEqual(model.runs, [{ at: 0, rows: 1 }], 'the two rows behind the running one are gathering');
    const flushed = batcher.flush();
    await settle();
    assert.deepEqual(model.runs, [{ at: 0, rows: 1 }, { at: 0, rows: 2 }]);
    release();
    await flushed;
    (await Promise.all(calls)).forEach((out, k) => expectOwnRows(out, k, 1));
    // After flush, a row that arrives behind a running batch is handed over at once too (the server is draining).
    release = model.hold();
    const later = [5, 6].map((k) => batcher.submit({ rows: 1, feeds: rowsFor(k, 1) }));
    await settle();
    assert.deepEqual(model.runs.slice(2), [{ at: 0, rows: 1 }, { at: 0, rows: 1 }]);
    release();
    (await Promise.all(later)).forEach((out, k) => expectOwnRows(out, k + 5, 1));
    assert.equal(clock.pendingTimers(), 0);
  });

  it('runs each request alone when the model cannot batch', async () => {
    const clock = new ManualClock(0);
    const model = doublingRunner(clock, { batchable: false });
    const batcher = new Batcher(model.runner, { maxBatchSize: 32, maxDelayMs: 10, maxQueueRows: 1024, clock });
    const calls = [0, 1, 2].map((k) => batcher.submit({ rows: 1, feeds: rowsFor(k, 1) }));
    (await Promise.all(calls)).forEach((out, k) => expectOwnRows(out, k, 1));
    assert.deepEqual(model.runs, [{ at: 0, rows: 1 }, { at: 0, rows: 1 }, { at: 0, rows: 1 }]);
  });

  it('does not stack requests whose non-batch dimensions differ', async () => {
    const clock = new ManualClock(0);
    const model = doublingRunner(clock);
    const batcher = new Batcher(model.runner, { maxBatchSize: 32, maxDelayMs: 10, maxQueueRows: 1024, clock });
    const release = model.hold();
    const opener = batcher.submit({ rows: 1, feeds: rowsFor(9, 1, 2) });
    const a = batcher.submit({ rows: 1, feeds: rowsFor(0, 1, 2) });
    const b = batcher.submit({ rows: 1, feeds: rowsFor(1, 1, 3) });
    release();
    expectOwnRows(await opener, 9, 1, 2);
    expectOwnRows(await a, 0, 1, 2);
    expectOwnRows(await b, 1, 1, 3);
    assert.deepEqual(model.runs, [{ at: 0, rows: 1 }, { at: 0, rows: 1 }, { at: 0, rows: 1 }]);
  });

  it('reports each batch to onBatch', async () => {
    const clock = new ManualClock(0);
    const model = doublingRunner(clock);
    const seen: Array<{ rows: number; requests: number; ok: boolean }> = [];
    const batcher = new Batcher(model.runner, {
      maxBatchSize: 3,
      maxDelayMs: 10,
      maxQueueRows: 1024,
      clock,
      stopwatch: () => clock.now(),
      onBatch: ({ rows, requests, ok }) => seen.push({ rows, requests, ok }),
    });
    await Promise.all([
      batcher.submit({ rows: 1, feeds: rowsFor(0, 1) }),
      batcher.submit({ rows: 1, feeds: rowsFor(1, 1) }),
      batcher.submit({ rows: 2, feeds: rowsFor(2, 2) }),
    ]);
    assert.deepEqual(seen, [{ rows: 1, requests: 1, ok: true }, { rows: 3, requests: 2, ok: true }]);
  });

  it("fills in a traced request's batch timing: handed over, computing, ended, and the batch's size", async () => {
    const clock = new ManualClock(0);
    const model = doublingRunner(clock, { runMs: 5 });
    const batcher = new Batcher(model.runner, { maxBatchSize: 3, maxDelayMs: 10, maxQueueRows: 1024, clock, stopwatch: () => clock.now(), pipelineDepth: 2 });
    const timing = () => ({ batchedAt: Number.NaN, runStartedAt: 0, finishedAt: 0, rows: 0, requests: 0 });
    const [a, b, c] = [timing(), timing(), timing()];
    const first = batcher.submit({ rows: 1, feeds: rowsFor(0, 1), timing: a });
    // A full next batch is handed to the second slot at once; it computes only when the first ends (at 5).
    const rest = [batcher.submit({ rows: 1, feeds: rowsFor(1, 1), timing: b }), batcher.submit({ rows: 2, feeds: rowsFor(2, 2), timing: c })];
    await settle();
    clock.advance(5);
    await settle();
    clock.advance(5);
    await Promise.all([first, ...rest]);
    assert.deepEqual(a, { batchedAt: 0, runStartedAt: 0, finishedAt: 5, rows: 1, requests: 1 });
    assert.deepEqual(b, { batchedAt: 0, runStartedAt: 5, finishedAt: 10, rows: 3, requests: 2 });
    assert.deepEqual(c, b, 'requests of one batch share its times');
  });
});
