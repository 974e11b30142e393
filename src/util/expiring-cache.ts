/**
 * Answers kept for a while: a value is returned until `ttlMs` after it was set, and the cache
 * holds at most `maxEntries` (past that it starts over, so keys a caller chooses cannot pile up).
 * Time comes from the injected clock.
 */
import type { Clock } from './clock.ts';

export class ExpiringCache<V> {
  readonly #entries = new Map<string, { value: V; until: number }>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #clock: Clock;

  constructor(options: { ttlMs: number; maxEntries: number; clock: Clock }) {
    this.#ttlMs = options.ttlMs;
    this.#maxEntries = options.maxEntries;
    this.#clock = options.clock;
  }

  /** The value set for `key` less than `ttlMs` ago; undefined otherwise. */
  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    return entry !== undefined && entry.until > this.#clock.now() ? entry.value : undefined;
  }

  set(key: string, value: V): void {
    if (this.#entries.size >= this.#maxEntries) this.#entries.clear();
    this.#entries.set(key, { value, until: this.#clock.now() + this.#ttlMs });
  }
}
