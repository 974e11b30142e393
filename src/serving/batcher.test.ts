import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../util/clock.ts';
import { QueueFullError } from '../errors.ts';
import { Batcher, InferenceFailedError, type BatchRunner } from './batcher.ts';
import type { TensorMap } from './onnx-model.ts';

/**
 * The runner used here is a tiny row-wise model, y = 2x over rows of width 2, that
 * records each run (time and rows). It can hold runs open with `hold()` to put
 * requests behind a running batch.
 */
function doublingRunner(clock: ManualClock, options: { batchable?: boolean } = {}) {
  const runs: Array<{ at: number; rows: number }> = [];
  let gate: Promise<void> | undefined;
  let failNext: Error | undefined;
  let dropBatchDim = false;
  const runner: BatchRunner = {
    batchable: options.batchable ?? true,
    async run(feeds: TensorMap): Promise<TensorMap> {
      const x = feeds.x!;
      runs.push({ at: clock.now(), rows: x.dims[0]! });
      if (gate !== undefined) await gate;
      if (failNext !== undefined) {
        const err = failNext;
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
    failNextRun(err: Error) {
      failNext = err;
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
  const cases: Array<{
    name: string;
    maxBatchSize: number;
    maxDelayMs: number;
    arrivals: Array<{ at: number; rows: number }>;
    batches: Array<{ at: number; rows: number }>;
  }> = [
    {
      name: 'flushes as soon as maxBatchSize rows are waiting',
      maxBatchSize: 4,
      maxDelayMs: 10,
      arrivals: [{ at: 0, rows: 1 }, { at: 1, rows: 1 }, { at: 2, rows: 1 }, { at: 3, rows: 1 }],
      batches: [{ at: 3, rows: 4 }],
    },
    {
      name: 'flushes maxDelayMs after the first row of the batch arrived',
      maxBatchSize: 32,
      maxDelayMs: 10,
      arrivals: [{ at: 0, rows: 1 }, { at: 6, rows: 2 }],
      batches: [{ at: 10, rows: 3 }],
    },
    {
      name: 'maxDelayMs 0 runs every arrival at once',
      maxBatchSize: 32,
      maxDelayMs: 0,
      arrivals: [{ at: 0, rows: 1 }, { at: 5, rows: 1 }],
      batches: [{ at: 0, rows: 1 }, { at: 5, rows: 1 }],
    },
    {
      name: 'a request larger than the batch size runs alone, in one run',
      maxBatchSize: 4,
      maxDelayMs: 10,
      arrivals: [{ at: 0, rows: 10 }],
      batches: [{ at: 0, rows: 10 }],
    },
    {
      name: 'a request that does not fit the filling batch waits for the next one',
      maxBatchSize: 4,
      maxDelayMs: 10,
      arrivals: [{ at: 0, rows: 3 }, { at: 2, rows: 2 }],
      // 5 rows waiting ≥ 4: the first 3 go now; the 2 left wait until 10 ms after they arrived.
      batches: [{ at: 2, rows: 3 }, { at: 12, rows: 2 }],
    },
    {
      name: 'a full batch goes now and the remainder waits for its own delay',
      maxBatchSize: 4,
      maxDelayMs: 10,
      arrivals: [{ at: 0, rows: 2 }, { at: 1, rows: 2 }, { at: 4, rows: 1 }],
      batches: [{ at: 1, rows: 4 }, { at: 14, rows: 1 }],
    },
    {
      name: 'batches never exceed maxBatchSize when whole requests can fill them',
      maxBatchSize: 4,
      maxDelayMs: 10,
      arrivals: [{ at: 0, rows: 1 }, { at: 0, rows: 2 }, { at: 0, rows: 2 }, { at: 0, rows: 1 }],
      // 1+2 = 3 then 2 does not fit: [1,2]; then 2+1 = 3 waits for its delay (arrived at 0) → runs right away.
      batches: [{ at: 0, rows: 3 }, { at: 10, rows: 3 }],
    },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const clock = new ManualClock(0);
      const model = doublingRunner(clock);
      const batcher = new Batcher(model.runner, { maxBatchSize: c.maxBatchSize, maxDelayMs: c.maxDelayMs, maxQueueRows: 1024, clock });
      const pending: Array<Promise<void>> = [];
      for (const [k, a] of c.arrivals.entries()) {
        clock.advance(a.at - clock.now());
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
  it('runs one batch at a time; rows that arrive meanwhile form the next batch', async () => {
    const clock = new ManualClock(0);
    const model = doublingRunner(clock);
    const batcher = new Batcher(model.runner, { maxBatchSize: 4, maxDelayMs: 10, maxQueueRows: 1024, clock });
    const release = model.hold();
    const first = [0, 1, 2, 3].map((k) => batcher.submit({ rows: 1, feeds: rowsFor(k, 1) }));
    await settle();
    assert.deepEqual(model.runs, [{ at: 0, rows: 4 }]);
    const second = [4, 5, 6, 7, 8].map((k) => batcher.submit({ rows: 1, feeds: rowsFor(k, 1) }));
    clock.advance(20);
    await settle();
    assert.equal(model.runs.length, 1, 'no second run while the first is running');
    assert.equal(batcher.queuedRows, 5);
    assert.equal(batcher.queuedRequests, 5);
    release();
    const outs = await Promise.all([...first, ...second]);
    outs.forEach((out, k) => expectOwnRows(out, k, 1));
    // Overdue rows run as soon as the running batch ends: 4 (full) then the last one (its delay has passed).
    assert.deepEqual(model.runs, [{ at: 0, rows: 4 }, { at: 20, rows: 4 }, { at: 20, rows: 1 }]);
  });

  it('with pipelineDepth 2, hands the next batch over while one runs, and no more', async () => {
    const clock = new ManualClock(0);
    const model = doublingRunner(clock);
    const batcher = new Batcher(model.runner, { maxBatchSize: 2, maxDelayMs: 10, maxQueueRows: 1024, clock, pipelineDepth: 2 });
    const release = model.hold();
    const calls = [0, 1, 2, 3, 4, 5].map((k) => batcher.submit({ rows: 1, feeds: rowsFor(k, 1) }));
    await settle();
    assert.deepEqual(model.runs, [{ at: 0, rows: 2 }, { at: 0, rows: 2 }]);
    assert.equal(batcher.runningBatches, 2);
    assert.equal(batcher.queuedRows, 2);
    release();
    (await Promise.all(calls)).forEach((out, k) => expectOwnRows(out, k, 1));
    assert.deepEqual(model.runs, [{ at: 0, rows: 2 }, { at: 0, rows: 2 }, { at: 0, rows: 2 }]);
  });

  it('with pipelineDepth 2, keeps a partial batch filling while the model is busy', async () => {
    const clock = new ManualClock(0);
    const model = doublingRunner(clock);
    const batcher = new Batcher(model.runner, { maxBatchSize: 4, maxDelayMs: 10, maxQueueRows: 1024, clock, pipelineDepth: 2 });
    const release = model.hold();
    const first = [0, 1, 2, 3].map((k) => batcher.submit({ rows: 1, feeds: rowsFor(k, 1) }));
    await settle();
    const late = [batcher.submit({ rows: 1, feeds: rowsFor(4, 1) })];
    clock.advance(15);
    await settle();
    assert.deepEqual(model.runs, [{ at: 0, rows: 4 }], 'the overdue single row is not handed over yet');
    late.push(batcher.submit({ rows: 2, feeds: rowsFor(5, 2) }));
    clock.advance(5);
    release();
    await Promise.all([...first, ...late]);
    assert.deepEqual(model.runs, [{ at: 0, rows: 4 }, { at: 20, rows: 3 }]);
  });

  it('hands each caller exactly its own rows when requests of different sizes share a batch', async () => {
    const clock = new ManualClock(0);
    const model = doublingRunner(clock);
    const batcher = new Batcher(model.runner, { maxBatchSize: 16, maxDelayMs: 5, maxQueueRows: 1024, clock });
    const sizes = [1, 3, 2, 5, 1, 4];
    const pending = sizes.map((rows, k) => batcher.submit({ rows, feeds: rowsFor(k, rows, 3) }).then((out) => expectOwnRows(out, k, rows, 3)));
    clock.advance(5);
    await Promise.all(pending);
    assert.deepEqual(model.runs, [{ at: 0, rows: 16 }]);
  });

  it('rejects every caller of a failed batch and keeps serving the next one', async () => {
    const clock = new ManualClock(0);
    const model = doublingRunner(clock);
    const batcher = new Batcher(model.runner, { maxBatchSize: 3, maxDelayMs: 10, maxQueueRows: 1024, clock });
    model.failNextRun(new Error('kernel exploded'));
    const failed = [0, 1, 2].map((k) => batcher.submit({ rows: 1, feeds: rowsFor(k, 1) }));
    for (const p of failed) {
      await assert.rejects(p, (err: unknown) => err instanceof InferenceFailedError && err.code === 'INFERENCE_FAILED' && /kernel exploded/.test(err.message));
    }
    const next = batcher.submit({ rows: 1, feeds: rowsFor(7, 1) });
    clock.advance(10);
    expectOwnRows(await next, 7, 1);
  });

  it('rejects every caller when an output lost the batch dimension', async () => {
    const clock = new ManualClock(0);
    const model = doublingRunner(clock);
    model.dropBatchDimension();
    const batcher = new Batcher(model.runner, { maxBatchSize: 2, maxDelayMs: 10, maxQueueRows: 1024, clock });
    const calls = [0, 1].map((k) => batcher.submit({ rows: 1, feeds: rowsFor(k, 1) }));
    for (const p of calls) await assert.rejects(p, /output 'y' has shape \[1, 2\], whose first dimension is not the batch size 2/);
  });

  it('refuses rows past maxQueueRows with a retryable QueueFullError, and admits one large request into an empty queue', async () => {
    const clock = new ManualClock(0);
    const model = doublingRunner(clock);
    const batcher = new Batcher(model.runner, { maxBatchSize: 2, maxDelayMs: 10, maxQueueRows: 4, clock });
    const release = model.hold();
    const running = batcher.submit({ rows: 2, feeds: rowsFor(0, 2) }); // runs at once (full batch)
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
    clock.advance(10);
    await Promise.all(queued);
    // Empty queue: a request larger than maxQueueRows is still admitted (it could never fit otherwise).
    const big = batcher.submit({ rows: 6, feeds: rowsFor(4, 6) });
    expectOwnRows(await big, 4, 6);
  });

  it('flush() runs what is queued without waiting for the delay and resolves once idle', async () => {
    const clock = new ManualClock(0);
    const model = doublingRunner(clock);
    const batcher = new Batcher(model.runner, { maxBatchSize: 32, maxDelayMs: 1000, maxQueueRows: 1024, clock });
    const calls = [0, 1].map((k) => batcher.submit({ rows: 1, feeds: rowsFor(k, 1) }));
    await settle();
    assert.equal(model.runs.length, 0);
    await batcher.flush();
    assert.deepEqual(model.runs, [{ at: 0, rows: 2 }]);
    (await Promise.all(calls)).forEach((out, k) => expectOwnRows(out, k, 1));
    // After flush, later arrivals also run at once (the server is draining).
    expectOwnRows(await batcher.submit({ rows: 1, feeds: rowsFor(5, 1) }), 5, 1);
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
    const a = batcher.submit({ rows: 1, feeds: rowsFor(0, 1, 2) });
    const b = batcher.submit({ rows: 1, feeds: rowsFor(1, 1, 3) });
    clock.advance(10);
    expectOwnRows(await a, 0, 1, 2);
    expectOwnRows(await b, 1, 1, 3);
    assert.deepEqual(model.runs, [{ at: 10, rows: 1 }, { at: 10, rows: 1 }]);
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
    await Promise.all([batcher.submit({ rows: 1, feeds: rowsFor(0, 1) }), batcher.submit({ rows: 2, feeds: rowsFor(1, 2) })]);
    assert.deepEqual(seen, [{ rows: 3, requests: 2, ok: true }]);
  });
});
