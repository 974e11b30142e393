/**
 * Where the gateway finds key records by id. Embedded (`karb up`): from the
 * key store (its exact in-memory cache), so a revoke takes effect on the next request. Standalone
 * (`karb gateway`): from the control plane's admin API, cached for `ttlMs`
 * (found and not found alike), so a revoke takes effect within that time.
 */
import type { KeyRecord } from './keys.ts';

export interface KeyResolver {
  lookup(id: string): KeyRecord | undefined | Promise<KeyRecord | undefined>;
  /** The key was accepted for a request at `nowMs` (for "last used"). */
  used?(record: KeyRecord, nowMs: number): void;
}

/** The part of the key store the embedded resolver needs. */
export interface KeyRecordSource {
  get(id: string): KeyRecord | undefined;
  touch(id: string, at: Date): void;
}

/** "Last used" is written at most this often per key: a request must not cost a database write. */
const TOUCH_EVERY_MS = 60_000;

export class StoreKeyResolver implements KeyResolver {
  readonly #source: KeyRecordSource;
  readonly #touched = new Map<string, number>();

  constructor(source: KeyRecordSource) {
    this.#source = source;
  }

  lookup(id: string): KeyRecord | undefined {
    return this.#source.get(id);
  }

  used(record: KeyRecord, nowMs: number): void {
    const last = this.#touched.get(record.id);
    if (last !== undefined && nowMs - last < TOUCH_EVERY_MS) return;
    this.#touched.set(record.id, nowMs);
    try {
      this.#source.touch(record.id, new Date(nowMs));
    } catch {
      // A busy database only delays "last used"; the request goes on.
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
