/**
 * Prometheus metrics of one model server, in their own Registry (several servers
 * can live in one process, e.g. in tests). Queue and in-flight gauges are read at
 * scrape time from the live objects, so the hot path only counts and observes.
 *
 * `createRequestMetrics` defines the families both model servers export under the
 * same names (requests by route and code, request latency, requests in flight), so
 * the OIP server here and the OpenAI server (openai/metrics.ts) cannot drift apart.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Buckets of `karb_serving_request_duration_seconds`: 0.5 ms (a batched tabular
 * model) to 30 s (a long generation), the same bounds as the gateway's request
 * histogram so that the two can be read side by side.
 */
export const REQUEST_SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** A registry whose every series carries the served model's name. */
export function servingRegistry(model: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ model });
  return registry;
}

/** The families every model server exports. */
export interface RequestMetrics {
  /** Counts one answered request. */
  countRequest(route: string, code: number): void;
  /** One inference request's latency, arrival to the end of its answer. */
  observeRequestSeconds(seconds: number): void;
}

export function createRequestMetrics(registry: Registry, inFlight: () => number): RequestMetrics {
  const requests = new Counter({
    name: 'karb_serving_requests_total',
    help: 'HTTP requests answered by the model server, by route and status code.',
    labelNames: ['route', 'code'] as const,
    registers: [registry],
  });
  const requestSeconds = new Histogram({
    name: 'karb_serving_request_duration_seconds',
    help: 'Inference request latency from arrival to the end of the response: queueing and batching included, the whole stream for a streamed answer.',
    buckets: REQUEST_SECONDS_BUCKETS,
    registers: [registry],
  });
  new Gauge({
    name: 'karb_serving_inflight_requests',
    help: 'Inference requests (OIP infer; OpenAI completions, chat and embeddings) received and not yet answered.',
    registers: [registry],
    collect() {
      this.set(inFlight());
    },
  });

  // Label children are cached so counting a request does not hash labels each time.
  const children = new Map<string, Counter.Internal>();
  return {
    countRequest(route, code) {
      const key = route + code;
      let child = children.get(key);
      if (child === undefined) {
        child = requests.labels(route, String(code));
        children.set(key, child);
      }
      child.inc();
    },
    observeRequestSeconds(seconds) {
      requestSeconds.observe(seconds);
    },
  };
}

export interface LiveCounts {
  queuedRows(): number;
  queuedRequests(): number;
  inFlight(): number;
}

export interface ServingMetrics extends RequestMetrics {
  readonly registry: Registry;
  observeBatch(rows: number, requests: number, runSeconds: number): void;
}

export function createServingMetrics(model: string, live: LiveCounts): ServingMetrics {
  const registry = servingRegistry(model);
  const { countRequest, observeRequestSeconds } = createRequestMetrics(registry, () => live.inFlight());
  const batchRows = new Histogram({
    name: 'karb_serving_batch_rows',
    help: 'Rows per model run (dynamic batch size).',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    registers: [registry],
  });
  const batchRequests = new Histogram({
    name: 'karb_serving_batch_requests',
    help: 'Inference requests merged into one model run.',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [registry],
  });
  const inferenceSeconds = new Histogram({
    name: 'karb_serving_inference_duration_seconds',
    help: 'Time of one model run (one batch) in ONNX Runtime.',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  new Gauge({
    name: 'karb_serving_queue_rows',
    help: 'Rows waiting for a batch.',
    registers: [registry],
    collect() {
      this.set(live.queuedRows());
    },
  });
  new Gauge({
    name: 'karb_serving_queue_requests',
    help: 'Inference requests waiting for a batch.',
    registers: [registry],
    collect() {
      this.set(live.queuedRequests());
    },
  });

  return {
    registry,
    countRequest,
    observeRequestSeconds,
    observeBatch(rows, count, runSeconds) {
      batchRows.observe(rows);
      batchRequests.observe(count);
      inferenceSeconds.observe(runSeconds);
    },
  };
}
