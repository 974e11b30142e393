/**
 * Where the gateway finds key records by id. Embedded (`karb up`): from the
 * key store (its exact in-memory cache), so a revoke takes effect on the next request. Standalone
 * (`karb gateway`): from the control plane's admin API, cached for `ttlMs`
 * (found and not found alike), so a revoke takes effect within that time.
 */
import { systemClock, unref, type Clock, type TimerHandle } from '../../util/clock.ts';
import type { KeyRecord } from './keys.ts';

export interface KeyResolver {
  lookup(id: string): KeyRecord | undefined | Promise<KeyRecord | undefined>;
  /** The key was accepted for a request at `nowMs` (for "last used"). */
  used?(record: KeyRecord, nowMs: number): void;
  /** Writes what is still pending; the gateway calls it when it closes. */
  close?(): void;
}

/** The part of the key store the embedded resolver needs. */
export interface KeyRecordSource {
  get(id: string): KeyRecord | undefined;
  touchMany(uses: ReadonlyArray<readonly [id: string, at: Date]>): void;
}

/** "Last used" is recorded at most this often per key… */
const TOUCH_EVERY_MS = 60_000;
/** …and written in one transaction for all keys this long after the first use that needs it. */
const FLUSH_AFTER_MS = 1_000;

/**
 * Embedded lookups, from the key store's cache. "Last used" never costs a
 * request a database write: SQLite writes are synchronous, wait up to the busy
 * timeout for another writer, and sync the log to disk, so a write on the
 * request path would stall every request the event loop holds. Uses are
 * collected and written together, off the request.
 */
export class StoreKeyResolver implements KeyResolver {
  readonly #source: KeyRecordSource;
  readonly #clock: Clock;
  readonly #touched = new Map<string, number>();
  readonly #pending = new Map<string, number>();
  #flushTimer: TimerHandle | undefined = undefined;

  constructor(source: KeyRecordSource, options: { clock?: Clock } = {}) {
    this.#source = source;
    this.#clock = options.clock ?? systemClock;
  }

  lookup(id: string): KeyRecord | undefined {
    return this.#source.get(id);
  }

  used(record: KeyRecord, nowMs: number): void {
    const last = this.#touched.get(record.id);
    if (last !== undefined && nowMs - last < TOUCH_EVERY_MS) return;
    this.#touched.set(record.id, nowMs);
    this.#pending.set(record.id, nowMs);
    if (this.#flushTimer === undefined) {
      this.#flushTimer = unref(this.#clock.setTimeout(() => this.#flush(), FLUSH_AFTER_MS));
    }
  }

  close(): void {
    if (this.#flushTimer !== undefined) this.#clock.clearTimeout(this.#flushTimer);
    this.#flush();
  }

  #flush(): void {
    this.#flushTimer = undefined;
    if (this.#pending.size === 0) return;
    const pending = [...this.#pending];
    this.#pending.clear();
    try {
      this.#source.touchMany(pending.map(([id, at]) => [id, new Date(at)] as const));
    } catch {
      // Busy (another writer) or closed: kept for the flush the next use schedules; requests are not affected.
      for (const [id, at] of pending) if (!this.#pending.has(id)) this.#pending.set(id, at);
    }
  }
}

interface CacheEntry {
  record: KeyRecord | undefined;
  fetchedAt: number;
}

export class RemoteKeyResolver implements KeyResolver {
  readonly #fetchRecord: (id: string) => Promise<KeyRecord | undefined>;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #inflight = new Map<string, Promise<KeyRecord | undefined>>();
  /** Bounds the cache: ids are caller-chosen, so unknown ones must not pile up. */
  readonly #maxEntries: number;

  constructor(options: { fetchRecord: (id: string) => Promise<KeyRecord | undefined>; ttlMs?: number; now?: () => number; maxEntries?: number }) {
    this.#fetchRecord = options.fetchRecord;
    this.#ttlMs = options.ttlMs ?? 2000;
    this.#now = options.now ?? Date.now;
    this.#maxEntries = options.maxEntries ?? 100_000;
  }

  lookup(id: string): KeyRecord | undefined | Promise<KeyRecord | undefined> {
    const hit = this.#cache.get(id);
    const now = this.#now();
    if (hit !== undefined && now - hit.fetchedAt < this.#ttlMs) return hit.record;
    let pending = this.#inflight.get(id);
    if (pending === undefined) {
      pending = this.#fetchRecord(id).then(
        (record) => {
          this.#inflight.delete(id);
          if (this.#cache.size >= this.#maxEntries) this.#cache.clear();
          this.#cache.set(id, { record, fetchedAt: this.#now() });
          return record;
        },
        (err: unknown) => {
          this.#inflight.delete(id);
          // The control plane is away: a record seen before still answers.
          if (hit !== undefined) return hit.record;
          throw err;
        },
      );
      this.#inflight.set(id, pending);
    }
    return pending;
  }
}
