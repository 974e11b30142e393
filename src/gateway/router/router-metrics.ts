/**
 * The router's metrics, registered in the gateway's own registry: retries,
 * the retry budget, outlier ejection, fallback and the admission queue.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export class RouterMetrics {
  readonly #retries: Counter<'service' | 'reason'>;
  readonly #budgetExhausted: Counter<'service'>;
  readonly #ejections: Counter<'service'>;
  readonly #fallbacks: Counter<'service' | 'fallback'>;
  readonly #queueDepth: Gauge<'service'>;
  readonly #queueRejected: Counter<'service' | 'code'>;

  /** `ejectedNow` answers, at scrape time, the endpoints ejected per service (ejections also end by themselves). */
  constructor(registry: Registry, ejectedNow: () => Map<string, number>) {
    const registers = [registry];
    this.#retries = new Counter({
      name: 'karb_gateway_retries_total',
      help: 'Attempts the gateway retried, by service and reason (connect, reset, timeout, status_502/503/504).',
      labelNames: ['service', 'reason'],
      registers,
    });
    this.#budgetExhausted = new Counter({
      name: 'karb_gateway_retry_budget_exhausted_total',
      help: 'Retries not made because the retry budget of the service was spent.',
      labelNames: ['service'],
      registers,
    });
    this.#ejections = new Counter({
      name: 'karb_gateway_ejections_total',
      help: 'Replica endpoints ejected for consecutive failures, by service.',
      labelNames: ['service'],
      registers,
    });
    new Gauge({
      name: 'karb_gateway_ejected_endpoints',
      help: 'Replica endpoints ejected right now, by service.',
      labelNames: ['service'],
      registers,
      collect() {
        this.reset();
        for (const [service, count] of ejectedNow()) this.set({ service }, count);
      },
    });
    this.#fallbacks = new Counter({
      name: 'karb_gateway_fallbacks_total',
      help: 'Requests sent to a fallback service, by primary service and fallback.',
      labelNames: ['service', 'fallback'],
      registers,
    });
    this.#queueDepth = new Gauge({
      name: 'karb_gateway_queue_depth',
      help: 'Requests waiting for a free slot at the gateway (backpressure), by service.',
      labelNames: ['service'],
      registers,
    });
    this.#queueRejected = new Counter({
      name: 'karb_gateway_queue_rejected_total',
      help: 'Requests refused because the wait queue of the service was full, by service and status.',
      labelNames: ['service', 'code'],
      registers,
    });
  }

  retry(service: string, reason: string): void {
    this.#retries.inc({ service, reason });
  }

  budgetExhausted(service: string): void {
    this.#budgetExhausted.inc({ service });
  }

  ejection(service: string): void {
    this.#ejections.inc({ service });
  }

  fallback(service: string, fallback: string): void {
    this.#fallbacks.inc({ service, fallback });
  }

  queueDepth(service: string, depth: number): void {
    this.#queueDepth.set({ service }, depth);
  }

  queueRejected(service: string, code: number): void {
    this.#queueRejected.inc({ service, code: String(code) });
  }
}
