/**
 * An index of a watch cache by the value of one label, per namespace: the objects of one revision
 * or one service in O(their number) instead of a scan of the whole cache. Kept by the cache's own
 * add, update and delete callbacks, which client-node's ListWatch calls after changing the cache
 * (for watch events and for the objects a relist adds, changes or drops alike), so the index never
 * disagrees with the cache. Create it before the cache starts, so the first list goes through it.
 */
import type { KubernetesObject, ListWatch } from '@kubernetes/client-node';

type Indexed = KubernetesObject & { metadata: { name?: string; namespace?: string; labels?: Record<string, string> } };

export class LabelIndex<T extends Indexed> {
  readonly #label: string;
  /** `namespace\0value` → name → object. */
  readonly #buckets = new Map<string, Map<string, T>>();
  /** `namespace/name` → the bucket it is in. */
  readonly #bucketOf = new Map<string, string>();

  constructor(cache: ListWatch<T>, label: string) {
    this.#label = label;
    cache.on('add', (obj) => this.#put(obj));
    cache.on('update', (obj) => this.#put(obj));
    cache.on('delete', (obj) => this.#remove(obj));
  }

  /** The objects in `namespace` whose label has `value` (a new array: the caller may keep it). */
  list(namespace: string, value: string): T[] {
    const bucket = this.#buckets.get(bucketKey(namespace, value));
    return bucket ? [...bucket.values()] : [];
  }

  #put(obj: T): void {
    this.#remove(obj);
    const value = obj.metadata.labels?.[this.#label];
    if (value === undefined) return;
    const bk = bucketKey(obj.metadata.namespace ?? '', value);
    let bucket = this.#buckets.get(bk);
    if (!bucket) this.#buckets.set(bk, (bucket = new Map()));
    bucket.set(obj.metadata.name ?? '', obj);
    this.#bucketOf.set(objectKey(obj), bk);
  }

  #remove(obj: T): void {
    const ok = objectKey(obj);
    const bk = this.#bucketOf.get(ok);
    if (bk === undefined) return;
    this.#bucketOf.delete(ok);
    const bucket = this.#buckets.get(bk)!;
    bucket.delete(obj.metadata.name ?? '');
    if (bucket.size === 0) this.#buckets.delete(bk);
  }
}

const bucketKey = (namespace: string, value: string) => `${namespace}\0${value}`;
const objectKey = (obj: Indexed) => `${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''}`;
