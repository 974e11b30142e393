/** PeriodicTask on a manual clock: runs each period, never two at once, survives errors, unrefs its timer, and stop() waits for the run in flight. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, type Clock } from './clock.ts';
import { PeriodicTask } from './periodic-task.ts';

/** A promise and the function that resolves it. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('PeriodicTask', () => {
  it('runs a synchronous task once per period from start, and not after stop', async () => {
    const clock = new ManualClock(0);
    let runs = 0;
    const task = new PeriodicTask({ clock, periodMs: 1000, run: () => void runs++ });
    task.start();
    task.start(); // a second start schedules nothing more
    clock.advance(999);
    assert.equal(runs, 0, 'the first run comes one period after start');
    clock.advance(1);
    assert.equal(runs, 1);
    clock.advance(3000);
    assert.equal(runs, 4);
    await task.stop();
    clock.advance(5000);
    assert.equal(runs, 4);
    assert.equal(clock.pendingTimers(), 0, 'no timer is left behind');
  });

  it('never overlaps runs: the next period is timed from the end of an asynchronous run', async () => {
    const clock = new ManualClock(0);
    let runs = 0;
    let running = 0;
    let most = 0;
    let current = deferred();
    const task = new PeriodicTask({
      clock,
      periodMs: 1000,
      run: async () => {
        runs++;
        running++;
        most = Math.max(most, running);
        await current.promise;
        running--;
      },
    });
    task.start();
    clock.advance(10_000);
    assert.equal(runs, 1, 'ten periods passed while one run was in flight');
    const first = current;
    current = deferred();
    first.resolve();
    await turn();
    clock.advance(1000);
    assert.equal(runs, 2, 'the next run one period after the first ended');
    assert.equal(most, 1);
    current.resolve();
    await task.stop();
  });

  it('reports a run that throws or rejects and goes on', async () => {
    const clock = new ManualClock(0);
    const errors: string[] = [];
    let runs = 0;
    const task = new PeriodicTask({
      clock,
      periodMs: 100,
      run: () => {
        runs++;
        if (runs === 1) throw new Error('sync failure');
        if (runs === 2) return Promise.reject(new Error('async failure'));
      },
      onError: (err) => errors.push((err as Error).message),
    });
    task.start();
    clock.advance(100);
    clock.advance(100);
    await turn();
    clock.advance(100);
    assert.deepEqual(errors, ['sync failure', 'async failure']);
    assert.equal(runs, 3);
    await task.stop();
  });

  it('stop() resolves only once the run in flight has ended, and no run follows', async () => {
    const clock = new ManualClock(0);
    const gate = deferred();
    let runs = 0;
    let ended = false;
    const task = new PeriodicTask({
      clock,
      periodMs: 100,
      run: async () => {
        runs++;
        await gate.promise;
        ended = true;
      },
    });
    task.start();
    clock.advance(100);
    let stopped = false;
    const stopping = task.stop().then(() => (stopped = true));
    await turn();
    assert.equal(stopped, false, 'the run is still in flight');
    gate.resolve();
    await stopping;
    assert.equal(ended, true, 'stop resolved after the run ended');
    clock.advance(1000);
    assert.equal(runs, 1);
    assert.equal(clock.pendingTimers(), 0);
  });

  it('unrefs its timers, so they never keep the process alive', async () => {
    const manual = new ManualClock(0);
    let unrefs = 0;
    const clock: Clock = {
      now: () => manual.now(),
      setTimeout: (fn, ms) => Object.assign(manual.setTimeout(fn, ms), { unref: () => void unrefs++ }),
      clearTimeout: (h) => manual.clearTimeout(h),
    };
    const task = new PeriodicTask({ clock, periodMs: 10, run: () => {} });
    task.start();
    manual.advance(30);
    assert.equal(unrefs, 4, 'the first timer and one after each of three runs');
    await task.stop();
  });
});
