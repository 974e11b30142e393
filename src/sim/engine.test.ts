import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventQueue, runEvents, seededRandom, type ArrivalCursor } from './engine.ts';
import { lognormalFromMeanP95, lognormalQuantile, normalQuantile } from './random.ts';

test('events pop in time order; equal times in the order they were scheduled', () => {
  const q = new EventQueue();
  const rng = seededRandom(3);
  const pushed: Array<{ time: number; id: number }> = [];
  // Few distinct times so ties are common; more events than the initial capacity.
  for (let id = 0; id < 5000; id++) {
    const time = Math.floor(rng.next() * 50);
    pushed.push({ time, id });
    q.push(time, 7, id, time * 2);
  }
  const expected = [...pushed].sort((a, b) => a.time - b.time || a.id - b.id);
  const popped: Array<{ time: number; id: number }> = [];
  while (q.pop()) {
    assert.equal(q.event.type, 7);
    assert.equal(q.event.b, q.event.time * 2, 'payload travels with its event');
    popped.push({ time: q.event.time, id: q.event.a });
  }
  assert.deepEqual(popped, expected);
  assert.equal(q.size, 0);
  assert.equal(q.peekTime(), Infinity);
});

test('pushes between pops keep the order (interleaved use)', () => {
  const q = new EventQueue();
  q.push(10, 1, 1);
  q.push(5, 1, 2);
  assert.ok(q.pop());
  assert.equal(q.event.a, 2);
  q.push(10, 1, 3); // same time as event 1, scheduled later
  q.push(7, 1, 4);
  const order: number[] = [];
  while (q.pop()) order.push(q.event.a);
  assert.deepEqual(order, [4, 1, 3]);
});

test('a NaN time is refused', () => {
  assert.throws(() => new EventQueue().push(NaN, 1), RangeError);
});

class ListArrivals implements ArrivalCursor {
  #times: number[];
  #i = 0;
  constructor(times: number[]) {
    this.#times = times;
  }
  get time(): number {
    return this.#times[this.#i] ?? Infinity;
  }
  advance(): void {
    this.#i++;
  }
}

test('runEvents merges arrivals with events: an event at the same time runs first; nothing after the end', () => {
  const q = new EventQueue();
  q.push(2, 1, 20);
  q.push(5, 1, 50);
  q.push(11, 1, 110);
  const log: string[] = [];
  const handled = runEvents(
    q,
    new ListArrivals([1, 2, 9, 12]),
    10,
    (ev) => {
      log.push(`e${ev.a}@${ev.time}`);
      if (ev.a === 20) q.push(3, 1, 30); // events scheduled while running are honoured
    },
    (t) => log.push(`a@${t}`),
  );
  assert.deepEqual(log, ['a@1', 'e20@2', 'a@2', 'e30@3', 'e50@5', 'a@9']);
  assert.equal(handled, 6);
});

test('seeded streams repeat for a seed and differ across seeds', () => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  const c = seededRandom(43);
  const xs = Array.from({ length: 5 }, () => a.next());
  assert.deepEqual(xs, Array.from({ length: 5 }, () => b.next()));
  assert.notDeepEqual(xs, Array.from({ length: 5 }, () => c.next()));
  for (const x of xs) assert.ok(x >= 0 && x < 1);
});

test('the lognormal from a mean and p95 has that mean and p95', () => {
  const dist = lognormalFromMeanP95(60, 150);
  assert.ok(Math.abs(lognormalQuantile(dist, 0.95) - 150) < 1e-6);
  assert.ok(Math.abs(Math.exp(dist.mu + dist.sigma ** 2 / 2) - 60) < 1e-9);
  const rng = seededRandom(1);
  const n = 200_000;
  const samples = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    samples[i] = Math.exp(dist.mu + dist.sigma * rng.normal());
    sum += samples[i]!;
  }
  samples.sort();
  assert.ok(Math.abs(sum / n - 60) < 0.6, `sample mean ${sum / n}`);
  assert.ok(Math.abs(samples[Math.floor(0.95 * n)]! - 150) < 3, `sample p95 ${samples[Math.floor(0.95 * n)]}`);
  assert.throws(() => lognormalFromMeanP95(10, 50), RangeError, 'p95 5× the mean is beyond a lognormal');
  assert.ok(Math.abs(normalQuantile(0.975) - 1.959964) < 1e-5);
});
