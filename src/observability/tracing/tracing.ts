/**
 * Tracing for one karb process, as its configuration (config.ts) says: a tracer provider of its
 * own (no global tracer provider or propagator is registered, so several gateways and servers in
 * one process — tests, `karb up` — never share one), the configured sampler, and a batching
 * OTLP/HTTP exporter. One thing is global: OpenTelemetry's error handler, where failed exports
 * end up; the last `createTracing` in a process sets it (see there).
 * Processes call `startTracing` (start.ts), which loads this module only when tracing is on.
 */
import type { Attributes, Tracer } from '@opentelemetry/api';
import type { IncomingHttpHeaders } from 'node:http';
import { setGlobalErrorHandler } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
} from '@opentelemetry/sdk-trace';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { urlForLog } from '../../util/safe-url.ts';
import type { SamplerName, TracingConfig } from './config.ts';
import { RequestTrace, type Kind } from './request-trace.ts';

export interface Tracing {
  readonly tracer: Tracer;
  readonly config: TracingConfig;
  /** A request's root span, joined to the caller's `traceparent` in `headers`; `startTime` in `performance.now()` ms. */
  startRequest(name: string, kind: Kind, headers: IncomingHttpHeaders, startTime: number, attributes?: Attributes): RequestTrace;
  /** Sends the spans that ended and are still waiting in the batch. */
  flush(): Promise<void>;
  /** Flushes, then stops exporting. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** Failed exports (at most one line a minute). */
  warn: (message: string) => void;
  /** How long ended spans wait to be sent in a batch. Default 1000 ms. */
  scheduledDelayMs?: number;
}

const EXPORT_WARNING_EVERY_MS = 60_000;

export function createTracing(config: TracingConfig, options: TracingOptions): Tracing {
  // Export failures reach OpenTelemetry's handler, which is global to the process (the SDK has no
  // other): the last tracing created reports them, for all. Said in karb's log, not on every batch;
  // the receiver by origin and path only, as its URL may carry credentials.
  let lastWarning = -Infinity;
  const receiver = urlForLog(config.url) ?? 'the OTLP endpoint';
  setGlobalErrorHandler((err) => {
    const now = Date.now();
    if (now - lastWarning < EXPORT_WARNING_EVERY_MS) return;
    lastWarning = now;
    options.warn(`traces could not be exported to ${receiver}: ${err instanceof Error ? err.message : String(err)}`);
  });
  const provider = new TracerProvider({
    sampler: samplerFor(config.sampler, config.ratio),
    resource: resourceFromAttributes(config.resource),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: config.url }),
        scheduledDelayMillis: options.scheduledDelayMs ?? 1000,
      }),
    ],
  });
  return tracingFrom(provider, config);
}

/** The `Tracing` of a provider built elsewhere (tests give one an in-memory exporter). */
export function tracingFrom(provider: TracerProvider, config: TracingConfig): Tracing {
  const tracer = provider.getTracer('karb');
  return {
    tracer,
    config,
    startRequest: (name, kind, headers, startTime, attributes) => new RequestTrace(tracer, name, kind, headers, startTime, attributes),
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

export function samplerFor(name: SamplerName, ratio: number): Sampler {
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
    default: {
      const unknown: never = name;
      throw new Error(`unknown sampler ${String(unknown)}`);
    }
  }
}
