/**
 * The gateway's Prometheus metrics, in a registry of its own so several
 * gateways (tests, the embedded platform) never share counters.
 * Label values are bounded: the service and revision come from the routing
 * table, never from the request, so an unknown model counts under service "".
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Seconds; fine at the low end, where the gateway's own overhead lives. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'service' | 'revision' | 'code'>;
  readonly #duration: Histogram<'service' | 'revision'>;
  readonly #inflight: Gauge<'service'>;
  readonly #noEndpoint: Counter<'service'>;

  constructor() {
    const registers = [this.registry];
    this.#requests = new Counter({
      name: 'karb_gateway_requests_total',
      help: 'Model requests answered by the gateway, by service, revision and HTTP status (499: the client went away).',
      labelNames: ['service', 'revision', 'code'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'karb_gateway_request_duration_seconds',
      help: 'Time from receiving a model request to the end of its response, by service and revision.',
      labelNames: ['service', 'revision'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#inflight = new Gauge({
      name: 'karb_gateway_upstream_inflight',
      help: 'Requests sent to replicas and not yet finished, by service.',
      labelNames: ['service'],
      registers,
    });
    this.#noEndpoint = new Counter({
      name: 'karb_gateway_no_endpoint_total',
      help: 'Requests refused with 503 because the service had no ready replica.',
      labelNames: ['service'],
      registers,
    });
  }

  requestFinished(service: string, revision: string, code: number, seconds: number): void {
    this.#requests.inc({ service, revision, code: String(code) });
    this.#duration.observe({ service, revision }, seconds);
  }

  upstreamStarted(service: string): void {
    this.#inflight.inc({ service });
  }

  upstreamFinished(service: string): void {
    this.#inflight.dec({ service });
  }

  noEndpoint(service: string): void {
    this.#noEndpoint.inc({ service });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
