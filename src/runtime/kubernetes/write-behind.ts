/**
 * Writes to the API server behind a synchronous Store. Each write has a key (the object it writes)
 * and a lane (the service it belongs to): the newest write for a key replaces one not yet sent (a
 * status written twice in a pass goes out once); the writes of one lane go one at a time, in the
 * order their keys were first dirtied (a service's spec before its revision, its revision before
 * its status); different lanes go side by side, up to `inFlight` writes at once. A failed write is
 * retried with backoff, first in its lane, unless a newer one replaced it. A write the API server
 * refuses for good (a 4xx other than 408 and 429) is dropped and logged: its object is gone (the
 * deletion wins) or the write cannot succeed as it is.
 */
import { KubeApiError } from './api-client.ts';

export type Write = () => Promise<unknown>;

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 10_000;
/** Writes in flight at once: enough to keep a bring-up of 1,000 services moving, few enough for API priority and fairness. */
export const DEFAULT_WRITES_IN_FLIGHT = 8;

export interface WriteBehindOptions {
  inFlight?: number;
  log?: (record: Record<string, unknown>) => void;
}

export class WriteBehind {
  /** Lane → key → write, in the order the keys were dirtied. */
  readonly #lanes = new Map<string, Map<string, Write>>();
  /** Lanes with writes waiting and none in flight, oldest first. */
  readonly #ready = new Set<string>();
  /** Lanes with a write in flight (or backing off). */
  readonly #busy = new Set<string>();
  readonly #workers = new Set<Promise<void>>();
  readonly #inFlight: number;
  readonly #log: (record: Record<string, unknown>) => void;
  #failures = 0;
  #size = 0;
  #closed = false;

  constructor(options: WriteBehindOptions = {}) {
    this.#inFlight = Math.max(1, options.inFlight ?? DEFAULT_WRITES_IN_FLIGHT);
    this.#log = options.log ?? (() => {});
  }

  /** Queues `write` for `key` in `lane`, replacing a queued write for the same key. */
  schedule(key: string, lane: string, write: Write): void {
    if (this.#closed) return;
    let writes = this.#lanes.get(lane);
    if (!writes) this.#lanes.set(lane, (writes = new Map()));
    if (!writes.has(key)) this.#size++;
    writes.set(key, write);
    if (this.#busy.has(lane) || this.#ready.has(lane)) return;
    this.#ready.add(lane);
    if (this.#workers.size < this.#inFlight) {
      const worker = this.#work().finally(() => this.#workers.delete(worker));
      this.#workers.add(worker);
    }
  }

  /** Writes queued and not yet sent. */
  get size(): number {
    return this.#size;
  }

  /** Resolves once every write queued so far (and any queued meanwhile) has been sent or dropped. */
  async flush(): Promise<void> {
    while (this.#workers.size > 0) await Promise.all(this.#workers);
  }

  /** Stops taking writes; the queued ones are dropped (the next leader recomputes them). */
  close(): void {
    this.#closed = true;
    this.#lanes.clear();
    this.#ready.clear();
    this.#size = 0;
  }

  async #work(): Promise<void> {
    // Writes made in the same turn as this one (a pass's) are queued before any is sent.
    await new Promise((resolve) => setImmediate(resolve));
    while (!this.#closed) {
      const lane = this.#ready.values().next().value;
      if (lane === undefined) return;
      this.#ready.delete(lane);
      this.#busy.add(lane);
      await this.#sendNext(lane);
      this.#busy.delete(lane);
      if (this.#lanes.has(lane) && !this.#closed) this.#ready.add(lane);
    }
  }

  async #sendNext(lane: string): Promise<void> {
    const writes = this.#lanes.get(lane)!;
    const [key, write] = writes.entries().next().value as [string, Write];
    writes.delete(key);
    this.#size--;
    if (writes.size === 0) this.#lanes.delete(lane);
    try {
      await write();
      this.#failures = 0;
    } catch (err) {
      if (err instanceof KubeApiError && err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429) {
        if (err.status !== 404) this.#log({ level: 'error', msg: 'the API server refused a write', key, error: err.message });
        return;
      }
      if (this.#closed) return;
      this.#failures++;
      this.#log({ level: 'warn', msg: 'write to the API server failed; retrying', key, error: err instanceof Error ? err.message : String(err) });
      // First in its lane again (its newer replacement, if one came), so the lane's order holds.
      const rest = this.#lanes.get(lane) ?? new Map<string, Write>();
      const retry = rest.get(key) ?? write;
      if (!rest.delete(key)) this.#size++;
      this.#lanes.set(lane, new Map([[key, retry], ...rest]));
      await new Promise((r) => setTimeout(r, Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(this.#failures, 6))).unref());
    }
  }
}
