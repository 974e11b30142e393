/**
 * The gateway's Prometheus metrics, in a registry of its own so several
 * gateways (tests, the embedded platform) never share counters.
 * Label values are bounded: the service and revision come from the routing
 * table, never from the request, so an unknown model counts under service "".
 *
 * The three metrics every request updates are counted in plain maps and typed
 * arrays, and handed to the exposition only when scraped: prom-client hashes
 * and validates a label object on every `inc` and `observe` (several µs for
 * the four updates of a request, the largest part of what metrics cost the
 * request path). The counter and the gauge fill prom-client metrics in their
 * `collect`; the histogram, which prom-client cannot be given counts for, is
 * written out after the registry's text in the same format.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { isAnswered } from '../../observability/sli.ts';
import { exemplarSuffix, toOpenMetrics, OPENMETRICS_CONTENT_TYPE, type Exemplar } from '../../observability/tracing/openmetrics.ts';

/** Seconds; fine at the low end, where the gateway's own overhead lives. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const DURATION_NAME = 'karb_gateway_request_duration_seconds';
const DURATION_HELP = 'Time from receiving a model request to the end of its response, by service and revision.';

/** One service revision's requests: answers by status and the duration histogram. */
interface RevisionSeries {
  readonly service: string;
  readonly revision: string;
  readonly codes: Map<number, number>;
  /** Observations per bucket (not cumulative); the last slot is above the highest bound. */
  readonly buckets: Float64Array;
  sum: number;
  count: number;
  /** Answered within the service's latency target (the latency SLI's good requests). */
  withinTarget: number;
  /** Left out of both SLIs (the caller's own rate limit, exchange.ts `outsideSli`). */
  outsideSli: number;
  /** The last sampled trace per bucket (OpenMetrics exemplars); created on the first one. */
  exemplars: Array<Exemplar | undefined> | undefined;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #series = new Map<string, RevisionSeries>();
  readonly #inflight = new Map<string, number>();
  readonly #noEndpoint: Counter<'service'>;

  constructor() {
    const registers = [this.registry];
    const series = this.#series;
    const inflight = this.#inflight;
    new Counter({
      name: 'karb_gateway_requests_total',
      help: 'Model requests answered by the gateway, by service, revision and HTTP status (499: the client went away).',
      labelNames: ['service', 'revision', 'code'],
      registers,
      collect() {
        this.reset();
        for (const s of series.values()) {
          for (const [code, n] of s.codes) this.inc({ service: s.service, revision: s.revision, code: String(code) }, n);
        }
      },
    });
    new Gauge({
      name: 'karb_gateway_upstream_inflight_requests',
      help: 'Requests sent to replicas and not yet finished, by service.',
      labelNames: ['service'],
      registers,
      collect() {
        for (const [service, n] of inflight) this.set({ service }, n);
      },
    });
    // The latency SLI's good requests, counted against each service's own target as the request
    // finishes. The histogram cannot answer this honestly: its fixed bounds do not include an
    // arbitrary latencyP95Ms (250 ms would fall between 0.1 and 0.25 s only by luck), and
    // interpolating inside a bucket guesses. A target change applies from the next request on.
    new Counter({
      name: 'karb_gateway_requests_within_latency_target_total',
      help: "Model requests answered (not 5xx, not 429) within their service's spec.slo.latencyP95Ms, by service and revision: the latency SLI's good requests.",
      labelNames: ['service', 'revision'],
      registers,
      collect() {
        this.reset();
        for (const s of series.values()) this.inc({ service: s.service, revision: s.revision }, s.withinTarget);
      },
    });
    // Counted in karb_gateway_requests_total too (every request is), so the rules subtract these
    // from it: the SLIs count what the service did, not a caller's quota.
    new Counter({
      name: 'karb_gateway_requests_outside_sli_total',
      help: "Model requests the SLIs leave out, by service and revision: 429 for the caller's own API-key rate limit. Also counted in karb_gateway_requests_total.",
      labelNames: ['service', 'revision'],
      registers,
      collect() {
        this.reset();
        for (const s of series.values()) if (s.outsideSli > 0) this.inc({ service: s.service, revision: s.revision }, s.outsideSli);
      },
    });
    this.#noEndpoint = new Counter({
      name: 'karb_gateway_no_endpoint_total',
      help: 'Requests refused with 503 because the service had no ready replica.',
      labelNames: ['service'],
      registers,
    });
  }

  /**
   * `latencyTargetMs`: the service's `spec.slo.latencyP95Ms`, from its route (absent: no target to meet).
   * `traceId`: the request's sampled trace, kept as its bucket's exemplar.
   * `outsideSli`: the SLIs leave the request out (exchange.ts `outsideSli`).
   */
  requestFinished(service: string, revision: string, code: number, seconds: number, latencyTargetMs?: number, traceId?: string, outsideSli = false): void {
    const key = `${service}\u0000${revision}`;
    let s = this.#series.get(key);
    if (s === undefined) {
      s = { service, revision, codes: new Map(), buckets: new Float64Array(DURATION_BUCKETS.length + 1), sum: 0, count: 0, withinTarget: 0, outsideSli: 0, exemplars: undefined };
      this.#series.set(key, s);
    }
    s.codes.set(code, (s.codes.get(code) ?? 0) + 1);
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    s.buckets[i]! += 1;
    s.sum += seconds;
    s.count += 1;
    if (outsideSli) s.outsideSli += 1;
    else if (latencyTargetMs !== undefined && seconds * 1000 <= latencyTargetMs && isAnswered(code)) s.withinTarget += 1;
    if (traceId !== undefined) (s.exemplars ??= new Array(DURATION_BUCKETS.length + 1))[i] = { traceId, value: seconds, timestamp: Date.now() / 1000 };
  }

  upstreamStarted(service: string): void {
    this.#inflight.set(service, (this.#inflight.get(service) ?? 0) + 1);
  }

  upstreamFinished(service: string): void {
    this.#inflight.set(service, (this.#inflight.get(service) ?? 0) - 1);
  }

  noEndpoint(service: string): void {
    this.#noEndpoint.inc({ service });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * The exposition: Prometheus text, or with `openMetrics` (the scraper's Accept asked for it,
   * `wantsOpenMetrics`) OpenMetrics with the duration buckets' exemplars; its content type is
   * `OPENMETRICS_CONTENT_TYPE`.
   */
  async render(openMetrics = false): Promise<string> {
    const text = `${await this.registry.metrics()}\n${this.#durationText(openMetrics)}`;
    return openMetrics ? toOpenMetrics(text) : text;
  }

  contentTypeFor(openMetrics: boolean): string {
    return openMetrics ? OPENMETRICS_CONTENT_TYPE : this.registry.contentType;
  }

  /** The duration histogram in the text exposition format, as prom-client writes one (exemplars only for OpenMetrics). */
  #durationText(openMetrics: boolean): string {
    const lines = [`# HELP ${DURATION_NAME} ${DURATION_HELP}`, `# TYPE ${DURATION_NAME} histogram`];
    for (const s of this.#series.values()) {
      const labels = `service="${escapeLabel(s.service)}",revision="${escapeLabel(s.revision)}"`;
      let cumulative = 0;
      const exemplars = openMetrics ? s.exemplars : undefined;
      DURATION_BUCKETS.forEach((bound, i) => {
        cumulative += s.buckets[i]!;
        const exemplar = exemplars?.[i];
        lines.push(`${DURATION_NAME}_bucket{le="${bound}",${labels}} ${cumulative}${exemplar ? exemplarSuffix(exemplar) : ''}`);
      });
      const above = exemplars?.[DURATION_BUCKETS.length];
      lines.push(`${DURATION_NAME}_bucket{le="+Inf",${labels}} ${s.count}${above ? exemplarSuffix(above) : ''}`);
      lines.push(`${DURATION_NAME}_sum{${labels}} ${s.sum}`);
      lines.push(`${DURATION_NAME}_count{${labels}} ${s.count}`);
    }
    return `${lines.join('\n')}\n`;
  }
}

/** Label values escape backslash, double quote and newline (the exposition format's rule). */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
