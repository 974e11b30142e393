/**
 * One request's spans: a root joined to the caller's W3C `traceparent` (when it sends a valid
 * one), children below it, and the `traceparent` a call onward carries. Spans are started and
 * ended with explicit times (`performance.now()` milliseconds), so callers record a stage when
 * they know both ends, without a context manager. Every time goes through one conversion
 * (`hrTime`): the SDK's own, per span, anchors each span to `Date.now()` and so drifts by up to a
 * millisecond between spans, which would put a child before its parent.
 *
 * Callers get one from `Tracing.startRequest` and import only types from here, so a process with
 * tracing off never loads OpenTelemetry (hundreds of milliseconds of module loading, which a
 * replica's cold start would pay). A request the sampler drops has a non-recording root and no
 * children (`child` hands back the root, whose methods do nothing): it costs the root's ids and
 * the header it passes on.
 *
 * Never put secrets here: no API keys, no Authorization header, no bodies, no query strings.
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator, hrTime } from '@opentelemetry/core';
import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';

export type { Span, Attributes };
export type Kind = 'internal' | 'server' | 'client';

const KINDS: Record<Kind, SpanKind> = { internal: SpanKind.INTERNAL, server: SpanKind.SERVER, client: SpanKind.CLIENT };

const propagator = new W3CTraceContextPropagator();

/** Reads `traceparent` / `tracestate` from Node's request headers (already lower-case). */
const headerGetter: TextMapGetter<IncomingHttpHeaders> = {
  get: (headers, key) => headers[key],
  keys: (headers) => Object.keys(headers),
};

export class RequestTrace {
  readonly root: Span;
  /** The sampler kept this trace: its spans are recorded and exported. */
  readonly sampled: boolean;
  readonly #tracer: Tracer;
  readonly #context: Context;

  /**
   * The root span of a request that arrived with `headers` (a valid `traceparent` becomes its
   * parent; anything else starts a new trace) at `startTime`.
   */
  constructor(tracer: Tracer, name: string, kind: Kind, headers: IncomingHttpHeaders, startTime: number, attributes?: Attributes) {
    const parent = headers.traceparent === undefined ? ROOT_CONTEXT : propagator.extract(ROOT_CONTEXT, headers, headerGetter);
    this.#tracer = tracer;
    this.root = tracer.startSpan(name, { kind: KINDS[kind], startTime: hrTime(startTime), ...(attributes ? { attributes } : {}) }, parent);
    this.sampled = this.root.isRecording();
    this.#context = trace.setSpan(parent, this.root);
  }

  get traceId(): string {
    return this.root.spanContext().traceId;
  }

  /** A child of the root starting at `startTime`; the root itself when this trace is not sampled. */
  child(name: string, startTime: number, kind: Kind = 'internal', attributes?: Attributes): Span {
    if (!this.sampled) return this.root;
    return this.#tracer.startSpan(name, { kind: KINDS[kind], startTime: hrTime(startTime), ...(attributes ? { attributes } : {}) }, this.#context);
  }

  /** A child (of the root, or of `parent`) whose start and end are already known; returns it, ended. */
  record(name: string, startTime: number, endTime: number, attributes?: Attributes, parent?: Span): Span {
    if (!this.sampled) return this.root;
    const context = parent === undefined ? this.#context : trace.setSpan(this.#context, parent);
    const span = this.#tracer.startSpan(name, { startTime: hrTime(startTime), ...(attributes ? { attributes } : {}) }, context);
    span.end(hrTime(endTime));
    return span;
  }

  /** Ends `span` at `endTime` (`performance.now()` ms; default now). */
  end(span: Span, endTime: number = performance.now()): void {
    span.end(hrTime(endTime));
  }

  /** Marks `span` failed without a type (a 5xx answer). */
  markError(span: Span): void {
    span.setStatus({ code: SpanStatusCode.ERROR });
  }

  /** Ends `span` as failed with `errorType` (a stable code, never a message that may hold data). */
  fail(span: Span, errorType: string, endTime: number = performance.now()): void {
    span.setAttribute('error.type', errorType);
    span.setStatus({ code: SpanStatusCode.ERROR });
    span.end(hrTime(endTime));
  }

  /** The `traceparent` of a call made under `span` (W3C Trace Context, version 00). */
  traceparent(span: Span): string {
    const c = span.spanContext();
    return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED ? '01' : '00'}`;
  }

  /** The `tracestate` a call made under `span` carries (the caller's), if any. */
  tracestate(span: Span): string | undefined {
    const state = span.spanContext().traceState?.serialize();
    return state === undefined || state === '' ? undefined : state;
  }
}
