/**
 * The highest (or lowest) value recorded within a trailing time window, kept as
 * a monotonic queue: a value that a newer, larger one outlives can never be the
 * maximum again, so it is dropped. Memory stays small however often values
 * arrive, and the queue is plain data that survives a JSON round trip.
 */
import type { TimedValue } from './hpa-behavior.ts';

export type Extreme = 'max' | 'min';

/** The extreme of the entries newer than `now - windowMs`, or undefined if none. */
export function extremeSince(queue: readonly TimedValue[], windowMs: number, now: number): number | undefined {
  const cutoff = now - windowMs;
  for (const e of queue) if (e.at > cutoff) return e.value; // the first live entry is the extreme
  return undefined;
}

/** A new queue with `value` recorded at `now` and entries older than the window dropped. */
export function recordExtreme(queue: readonly TimedValue[], kind: Extreme, value: number, windowMs: number, now: number): TimedValue[] {
  const cutoff = now - windowMs;
  const out: TimedValue[] = [];
  for (const e of queue) {
    if (e.at <= cutoff) continue;
    if (kind === 'max' ? e.value > value : e.value < value) out.push(e);
  }
  out.push({ at: now, value });
  return out;
}

/** A new queue without the entries older than the window. */
export function expireExtremes(queue: readonly TimedValue[], windowMs: number, now: number): TimedValue[] {
  const cutoff = now - windowMs;
  return queue.filter((e) => e.at > cutoff);
}
