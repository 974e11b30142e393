/**
 * Writes to the API server behind a synchronous Store: the newest write for a key replaces one
 * not yet sent (a status written twice in a pass goes out once), writes run one at a time in the
 * order keys were first dirtied, and a failed write is retried with backoff unless a newer one
 * replaced it. A write the API server refuses for good (a 4xx other than 408 and 429) is dropped
 * and logged: its object is gone (the deletion wins) or the write cannot succeed as it is.
 */
import { KubeApiError } from '../../runtime/kubernetes/api-client.ts';

export type Write = () => Promise<unknown>;

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 10_000;

export class WriteBehind {
  readonly #pending = new Map<string, Write>();
  readonly #log: (record: Record<string, unknown>) => void;
  #running: Promise<void> | undefined;
  #failures = 0;
  #closed = false;

  constructor(log: (record: Record<string, unknown>) => void = () => {}) {
    this.#log = log;
  }

  /** Queues `write` for `key`, replacing a queued write for the same key. */
  schedule(key: string, write: Write): void {
    if (this.#closed) return;
    this.#pending.set(key, write);
    this.#running ??= this.#drain().finally(() => (this.#running = undefined));
  }

  get size(): number {
    return this.#pending.size;
  }

  /** Resolves once every write queued so far (and any queued meanwhile) has been sent or dropped. */
  async flush(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Stops taking writes; the queued ones are dropped (the next leader recomputes them). */
  close(): void {
    this.#closed = true;
    this.#pending.clear();
  }

  async #drain(): Promise<void> {
    while (this.#pending.size > 0 && !this.#closed) {
      const [key, write] = this.#pending.entries().next().value as [string, Write];
      this.#pending.delete(key);
      try {
        await write();
        this.#failures = 0;
      } catch (err) {
        if (err instanceof KubeApiError && err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429) {
          if (err.status !== 404) this.#log({ level: 'error', msg: 'the API server refused a write', key, error: err.message });
          continue;
        }
        this.#failures++;
        this.#log({ level: 'warn', msg: 'write to the API server failed; retrying', key, error: err instanceof Error ? err.message : String(err) });
        if (!this.#pending.has(key)) this.#pending.set(key, write);
        await new Promise((r) => setTimeout(r, Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(this.#failures, 6))).unref());
      }
    }
  }
}
