/**
 * The edge's metrics, registered in the gateway's own registry. Labels are
 * bounded and never carry a key id: the service comes from the routing table,
 * the reason and scope from fixed vocabularies.
 */
import { Counter, type Registry } from 'prom-client';

export type AuthFailureReason = 'missing' | 'malformed' | 'unknown' | 'mismatch' | 'revoked' | 'expired' | 'scope';

export class EdgeMetrics {
  readonly #rateLimited: Counter<'service' | 'scope'>;
  readonly #authFailures: Counter<'reason'>;
  readonly #backendErrors: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.#rateLimited = new Counter({
      name: 'karb_gateway_ratelimited_total',
      help: 'Requests refused with 429 by a rate limit, by service and the limit that refused them (key or service).',
      labelNames: ['service', 'scope'],
      registers,
    });
    this.#authFailures = new Counter({
      name: 'karb_gateway_auth_failures_total',
      help: 'Requests refused for their API key (401) or its scope (403), by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.#backendErrors = new Counter({
      name: 'karb_gateway_ratelimit_backend_errors_total',
      help: 'Rate-limit decisions the shared store (Redis) could not make; each failed open or closed as configured.',
      registers,
    });
  }

  rateLimited(service: string, scope: 'key' | 'service'): void {
    this.#rateLimited.inc({ service, scope });
  }

  authFailed(reason: AuthFailureReason): void {
    this.#authFailures.inc({ reason });
  }

  backendError(): void {
    this.#backendErrors.inc();
  }
}
