/**
 * Backpressure (L3): when every endpoint of the chosen revision is at the
 * service's `concurrencyLimit`, synchronous requests wait here, first in
 * first out, one bounded queue per service, and leave as slots free up. The
 * queue holds items only; the router decides when to admit and dispatch.
 */
import { QueueFullError } from '../../errors.ts';

export class AdmissionQueues<T> {
  readonly #queues = new Map<string, T[]>();
  #onChange: (service: string, depth: number) => void;

  constructor(onChange: (service: string, depth: number) => void = () => {}) {
    this.#onChange = onChange;
  }

  depth(service: string): number {
    return this.#queues.get(service)?.length ?? 0;
  }

  /** Appends; false (nothing queued) when the queue already holds `bound` items. */
  push(service: string, item: T, bound: number): boolean {
    let q = this.#queues.get(service);
    if ((q?.length ?? 0) >= bound) return false;
    if (q === undefined) {
      q = [];
      this.#queues.set(service, q);
    }
    q.push(item);
    this.#onChange(service, q.length);
    return true;
  }

  /** Puts an item back at the head (it was taken but could not be placed yet). */
  unshift(service: string, item: T): void {
    let q = this.#queues.get(service);
    if (q === undefined) {
      q = [];
      this.#queues.set(service, q);
    }
    q.unshift(item);
    this.#onChange(service, q.length);
  }

  shift(service: string): T | undefined {
    const q = this.#queues.get(service);
    if (q === undefined) return undefined;
    const item = q.shift();
    if (q.length === 0) this.#queues.delete(service);
    this.#onChange(service, q.length);
    return item;
  }

  remove(service: string, item: T): boolean {
    const q = this.#queues.get(service);
    if (q === undefined) return false;
    const i = q.indexOf(item);
    if (i === -1) return false;
    q.splice(i, 1);
    if (q.length === 0) this.#queues.delete(service);
    this.#onChange(service, q.length);
    return true;
  }
}

/** Default bound: twice what the service's ready endpoints take at their target. */
export function defaultQueueBound(concurrencyLimit: number, endpoints: number): number {
  return 2 * concurrencyLimit * endpoints;
}

/**
 * The service's admission queue is full. A service that takes async jobs answers
 * 429 and points the caller at `Prefer: respond-async`; any other answers 503.
 */
export function admissionQueueFull(model: string, asyncEnabled: boolean): QueueFullError {
  return new QueueFullError(
    asyncEnabled
      ? `model '${model}' is at capacity and its wait queue is full; retry later, or send the request with ` +
          "'Prefer: respond-async' to queue it as a job"
      : `model '${model}' is at capacity and its wait queue is full; retry after the Retry-After delay`,
    { status: asyncEnabled ? 429 : 503, retryAfterSeconds: 1 },
  );
}
