/**
 * Requests this gateway has sent to each endpoint URL and not yet seen finish
 * (queued in the pool or on the wire). The endpoint picker reads `counts`;
 * only the proxy step changes them, once up and once down per request.
 */
import type { OutstandingCounts } from './endpoint-picker.ts';

export class OutstandingRequests {
  readonly #counts = new Map<string, number>();

  get counts(): OutstandingCounts {
    return this.#counts;
  }

  acquire(url: string): void {
    this.#counts.set(url, (this.#counts.get(url) ?? 0) + 1);
  }

  release(url: string): void {
    const n = (this.#counts.get(url) ?? 0) - 1;
    if (n > 0) this.#counts.set(url, n);
    else this.#counts.delete(url);
  }

  get(url: string): number {
    return this.#counts.get(url) ?? 0;
  }

  /** Total over every endpoint. */
  total(): number {
    let sum = 0;
    for (const n of this.#counts.values()) sum += n;
    return sum;
  }
}
