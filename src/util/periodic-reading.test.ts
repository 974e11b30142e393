import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from './clock.ts';
import { PeriodicReading } from './periodic-reading.ts';

test('readings never overlap: a tick during one joins it; stop aborts the one in flight, waits for it, and is for good', async () => {
  const clock = new ManualClock(0);
  let started = 0;
  let finish!: () => void;
  let seen: AbortSignal | undefined;
  const reading = new PeriodicReading({
    clock,
    periodMs: 1_000,
    read: (signal) => {
      started++;
      seen = signal;
      return new Promise<void>((resolve) => (finish = resolve));
    },
  });
  const first = reading.tick();
  const joined = reading.tick();
  assert.equal(started, 1, 'the second tick joined the first reading');
  finish();
  await Promise.all([first, joined]);

  reading.start();
  clock.advance(1_000);
  assert.equal(started, 2, 'started: one reading a period');
  let stopped = false;
  const stopping = reading.stop().then(() => (stopped = true));
  assert.equal(seen!.aborted, true, 'the reading in flight was told to stop');
  await Promise.resolve();
  assert.equal(stopped, false, 'stop waits for the reading in flight');
  finish();
  await stopping;
  reading.start();
  clock.advance(5_000);
  await reading.tick();
  assert.equal(started, 2, 'a stopped reading reads no more');
});

test('a reading that fails is reported, and the next period reads again', async () => {
  const clock = new ManualClock(0);
  const errors: unknown[] = [];
  let calls = 0;
  const reading = new PeriodicReading({ clock, periodMs: 1_000, read: () => (calls++, Promise.reject(new Error('replica gone'))), onError: (err) => errors.push(err) });
  reading.start();
  clock.advance(1_000);
  await new Promise((resolve) => setImmediate(resolve));
  clock.advance(1_000);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(calls, 2);
  assert.match(String(errors[0]), /replica gone/);
  await reading.stop();
});
