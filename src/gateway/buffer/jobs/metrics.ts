import { Counter, Gauge, type Registry } from 'prom-client';
import { JOB_STATES, type JobStore } from './types.ts';

export type JobOutcomeLabel = 'accepted' | 'rejected' | 'succeeded' | 'failed' | 'retried' | 'cancelled';

/** `karb_gateway_async_jobs_stored{state}` (read from the store at scrape; not `karb_gateway_async_jobs`, the counter's family name in OpenMetrics) and `karb_gateway_async_jobs_total{service,outcome}`. */
export class JobMetrics {
  readonly #total: Counter<'service' | 'outcome'>;

  constructor(registry: Registry, store: JobStore) {
    new Gauge({
      name: 'karb_gateway_async_jobs_stored',
      help: 'Async jobs in the store by state',
      labelNames: ['state'],
      registers: [registry],
      async collect() {
        // A scrape must not fail because the store (Redis) is down: keep the last values.
        const counts = await store.counts().catch(() => undefined);
        if (counts !== undefined) for (const state of JOB_STATES) this.set({ state }, counts[state]);
      },
    });
    this.#total = new Counter({
      name: 'karb_gateway_async_jobs_total',
      help: 'Async jobs by service and outcome (accepted, rejected when the queue is full, succeeded, failed, retried later, cancelled by their owner)',
      labelNames: ['service', 'outcome'],
      registers: [registry],
    });
  }

  count(service: string, outcome: JobOutcomeLabel): void {
    this.#total.inc({ service, outcome });
  }
}
