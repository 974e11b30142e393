/**
 * The in-memory routing table that also tells listeners when it was replaced
 * (the reconciler replaces it on every endpoint change). `lookup` is untouched:
 * the hot path pays nothing for the notification.
 */
import { InMemoryRoutingTable, type Route } from './routing-table.ts';

export class ObservableRoutingTable extends InMemoryRoutingTable {
  readonly #listeners = new Set<() => void>();

  override replace(routes: Route[]): void {
    super.replace(routes);
    for (const listener of this.#listeners) listener();
  }

  /** Calls `listener` after every replace; returns the unsubscribe function. */
  onReplace(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
