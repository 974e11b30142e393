/**
 * One inference request's spans in the model server, when tracing is on (the standard OTEL_*
 * variables, read by `karb serve`; `startModelServer({ tracing })`):
 *
 *   POST /v2/models/{model}/infer (SERVER: the gateway attempt's traceparent is its parent)
 *   ├─ karb.queue       submitted to the batcher → its batch handed to the model
 *   └─ karb.batch       the batch this request ran in (rows, requests)
 *      └─ karb.inference   the model computing it (a pipelined batch first waits for the one before)
 *
 * Batches are shared: every traced request in one records the same batch times. No bodies, no
 * tensors, no headers in attributes.
 */
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { KarbError } from '../errors.ts';
// Types only: OpenTelemetry is loaded with the Tracing `karb serve` starts, never by the server itself.
import type { RequestTrace } from '../observability/tracing/request-trace.ts';
import type { Tracing } from '../observability/tracing/tracing.ts';
import type { BatchTiming } from './batcher.ts';

export class InferTrace {
  readonly #trace: RequestTrace;
  /** Handed to the batcher for a sampled request; the batcher fills it in. */
  readonly timing: BatchTiming | undefined;
  #submittedAt = 0;
  #error: string | undefined = undefined;

  constructor(tracing: Tracing, req: IncomingMessage, startedAt: number, model: string) {
    this.#trace = tracing.startRequest('POST /v2/models/{model}/infer', 'server', req.headers, startedAt, {
      'http.request.method': 'POST',
      'karb.model': model,
    });
    this.timing = this.#trace.sampled ? { batchedAt: Number.NaN, runStartedAt: 0, finishedAt: 0, rows: 0, requests: 0 } : undefined;
  }

  /** The request's rows go to the batcher now. */
  submitted(rows: number): void {
    this.#submittedAt = performance.now();
    this.#trace.root.setAttribute('karb.rows', rows);
  }

  failed(err: unknown): void {
    this.#error = err instanceof KarbError ? err.code : 'INTERNAL';
  }

  /** The answer went out with `status` (499: the client left first). */
  finish(status: number): void {
    const root = this.#trace.root;
    const t = this.timing;
    if (t !== undefined && this.#submittedAt > 0) {
      // A batch that never ran (the queue refused it, or the server closed) leaves batchedAt unset.
      if (Number.isNaN(t.batchedAt)) this.#trace.record('karb.queue', this.#submittedAt, performance.now());
      else {
        this.#trace.record('karb.queue', this.#submittedAt, t.batchedAt);
        const batch = this.#trace.record('karb.batch', t.batchedAt, t.finishedAt, { 'karb.batch.rows': t.rows, 'karb.batch.requests': t.requests });
        this.#trace.record('karb.inference', t.runStartedAt, t.finishedAt, undefined, batch);
      }
    }
    root.setAttribute('http.response.status_code', status);
    if (this.#error !== undefined && status >= 500) this.#trace.fail(root, this.#error);
    else {
      if (this.#error !== undefined) root.setAttribute('error.type', this.#error);
      if (status >= 500) this.#trace.markError(root);
      this.#trace.end(root);
    }
  }
}
