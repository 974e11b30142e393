/**
 * The discrete-event core: a binary-heap event queue keyed by (time, sequence).
 * Events at the same time run in the order they were scheduled, so a run is a
 * pure function of its inputs. Events are plain numbers (a type code and two
 * payload slots) held in typed arrays: millions of them cost no allocations.
 */

export { seededRandom, type Random } from './random.ts';

/** The event at the head of the queue, filled in by `pop()` (reused, not allocated). */
export interface PoppedEvent {
  time: number;
  type: number;
  /** Integer payload (an id). */
  a: number;
  /** Numeric payload (a time, an amount). */
  b: number;
}

export class EventQueue {
  // One Float64Array, four slots per event: time, sequence, type + 16 × a, b.
  #data = new Float64Array(4 * 1024);
  #size = 0;
  #nextSeq = 0;
  /** The last popped event; valid until the next `pop()`. */
  readonly event: PoppedEvent = { time: 0, type: 0, a: 0, b: 0 };

  get size(): number {
    return this.#size;
  }

  /** Time of the earliest event, or Infinity when empty. */
  peekTime(): number {
    return this.#size === 0 ? Infinity : this.#data[0]!;
  }

  /** `type` in 0..15, `a` a non-negative integer id. */
  push(time: number, type: number, a = 0, b = 0): void {
    if (Number.isNaN(time)) throw new RangeError('event time is NaN');
    if (4 * (this.#size + 1) > this.#data.length) {
      const grown = new Float64Array(this.#data.length * 2);
      grown.set(this.#data);
      this.#data = grown;
    }
    const d = this.#data;
    const seq = this.#nextSeq++;
    // Sift up: move parents down until the slot for the new event is found.
    let i = this.#size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = parent << 2;
      const pt = d[p]!;
      if (pt < time || (pt === time && d[p + 1]! < seq)) break;
      const k = i << 2;
      d[k] = pt;
      d[k + 1] = d[p + 1]!;
      d[k + 2] = d[p + 2]!;
      d[k + 3] = d[p + 3]!;
      i = parent;
    }
    const k = i << 2;
    d[k] = time;
    d[k + 1] = seq;
    d[k + 2] = a * 16 + type;
    d[k + 3] = b;
  }

  /** Removes the earliest event into `this.event`; false when empty. */
  pop(): boolean {
    if (this.#size === 0) return false;
    const d = this.#data;
    const ev = this.event;
    ev.time = d[0]!;
    const packed = d[2]!;
    ev.type = packed % 16;
    ev.a = (packed - ev.type) / 16;
    ev.b = d[3]!;
    const last = --this.#size;
    if (last > 0) {
      const l = last << 2;
      const time = d[l]!;
      const seq = d[l + 1]!;
      const ta = d[l + 2]!;
      const b = d[l + 3]!;
      // Sift down the former last event from the root.
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= last) break;
        let c = left << 2;
        const right = left + 1;
        if (right < last) {
          const r = right << 2;
          const lt = d[c]!;
          const rt = d[r]!;
          if (rt < lt || (rt === lt && d[r + 1]! < d[c + 1]!)) c = r;
        }
        const ct = d[c]!;
        if (time < ct || (time === ct && seq < d[c + 1]!)) break;
        const k = i << 2;
        d[k] = ct;
        d[k + 1] = d[c + 1]!;
        d[k + 2] = d[c + 2]!;
        d[k + 3] = d[c + 3]!;
        i = c >> 2;
      }
      const k = i << 2;
      d[k] = time;
      d[k + 1] = seq;
      d[k + 2] = ta;
      d[k + 3] = b;
    }
    return true;
  }
}

/** A stream of arrivals in time order, merged with the queue by `runEvents`. */
export interface ArrivalCursor {
  /** Time (ms) of the next arrival, Infinity when exhausted. */
  readonly time: number;
  /** Moves to the following arrival. */
  advance(): void;
}

/**
 * Runs events and arrivals in time order until `endMs`: an arrival and an event
 * at the same time run event first (an event scheduled for t happened "before"
 * whatever arrives at t). Returns the number of events and arrivals handled.
 */
export function runEvents(
  queue: EventQueue,
  arrivals: ArrivalCursor,
  endMs: number,
  onEvent: (ev: PoppedEvent) => void,
  onArrival: (time: number) => void,
): number {
  let handled = 0;
  for (;;) {
    const te = queue.peekTime();
    const ta = arrivals.time;
    if (te <= ta) {
      if (te > endMs) break;
      queue.pop();
      onEvent(queue.event);
    } else {
      if (ta > endMs) break;
      onArrival(ta);
      arrivals.advance();
    }
    handled++;
  }
  return handled;
}
