/**
 * The control plane's drift watch: every interval it reads the drift report of each ready replica
 * of every service the built-in ONNX server runs (`GET /v2/models/{name}/drift`, only at replica
 * URLs the runtime gave, never one from a request), judges them with the pure `driftVerdict`
 * (src/observability/drift) against `spec.model.drift.threshold`, keeps the `Drift` condition the
 * reconciler writes into status, and records an event on each transition (`driftTransition`).
 * Reads never overlap; each is bounded by a timeout. Time comes from the injected clock only.
 */
import { request } from 'undici';
import { driftVerdict, type DriftVerdict, type ReplicaDrift } from '../observability/drift/verdict.ts';
import { PSI_DRIFT } from '../observability/drift/stats.ts';
import type { DriftReport } from '../observability/drift/monitor.ts';
import type { Condition, InferenceService } from '../api/schema.ts';
import type { Endpoint } from '../runtime/types.ts';
import type { EventRecord } from './store.ts';
import { unref, type Clock, type TimerHandle } from '../util/clock.ts';

/** How often replicas are read: the reconciler's resync period. */
export const DRIFT_INTERVAL_MS = 2_000;
const CALL_TIMEOUT_MS = 2_000;

type Event = Pick<EventRecord, 'type' | 'reason' | 'message'>;

/** What the watch remembers of a service between readings. */
export interface DriftState {
  /** The last verdict, shown as the condition. */
  verdict: DriftVerdict;
  /** The drifted features of the last verdict that was True or False; an Unknown reading (replicas restarting) leaves it. */
  known: string[] | undefined;
}

/**
 * The next state and the event of a new verdict (pure):
 *
 * | known before   | verdict                     | event                          |
 * |----------------|-----------------------------|--------------------------------|
 * | any            | Unknown                     | none (known kept)              |
 * | none, or []    | True (features F)           | Warning Drift naming F         |
 * | F              | True (other features G)     | Warning Drift naming G         |
 * | F              | True (F)                    | none                           |
 * | F (non-empty)  | False                       | Normal DriftResolved           |
 * | none, or []    | False                       | none                           |
 */
export function driftTransition(previous: DriftState | undefined, verdict: DriftVerdict): { state: DriftState; event?: Event } {
  const known = previous?.known;
  if (verdict.status === 'Unknown') return { state: { verdict, known } };
  const state = { verdict, known: verdict.features };
  if (verdict.status === 'True') {
    if (known !== undefined && sameList(known, verdict.features)) return { state };
    return { state, event: { type: 'Warning', reason: 'Drift', message: `input features drifted: ${verdict.features.join(', ')} (${verdict.message})` } };
  }
  if (known !== undefined && known.length > 0) return { state, event: { type: 'Normal', reason: 'DriftResolved', message: `no input feature is past the drift threshold any more (was: ${known.join(', ')})` } };
  return { state };
}

/** One reading of a service's replicas. */
export interface DriftReading {
  /** When it was taken (ISO 8601). */
  at: string;
  threshold: number;
  verdict: DriftVerdict;
  /** Every ready replica; `report` null when it gave none (not answering, or no 2-D float input). */
  replicas: Array<{ replica: string; revision: string; report: DriftReport | null }>;
}

export interface DriftWatchOptions {
  store: {
    listServices(): Array<Pick<InferenceService, 'metadata' | 'spec'>>;
    addEvent(event: Omit<EventRecord, 'id' | 'time'>): unknown;
  };
  runtime: { endpoints(filter: { namespace: string; service: string }): Endpoint[] };
  clock: Clock;
  /** Called when a service's Drift condition changed, so that a reconcile writes it. */
  onChange: () => void;
  intervalMs?: number;
  /** Reads one replica's report; default: GET over HTTP. */
  read?: (url: string, model: string) => Promise<DriftReport | undefined>;
  log?: (entry: Record<string, unknown>) => void;
}

export class DriftWatch {
  readonly #o: DriftWatchOptions;
  readonly #states = new Map<string, DriftState>();
  readonly #readings = new Map<string, DriftReading>();
  #timer: TimerHandle | undefined;
  #running = false;
  #reading: Promise<void> | undefined;

  constructor(options: DriftWatchOptions) {
    this.#o = options;
  }

  /** The last reading of a service: its verdict and each ready replica's report (the control API's `/drift`). */
  reading(namespace: string, name: string): DriftReading | undefined {
    return this.#readings.get(`${namespace}/${name}`);
  }

  /** The `Drift` condition of a service, or undefined when its drift is not measured. */
  condition(namespace: string, name: string): Omit<Condition, 'lastTransitionTime'> | undefined {
    const state = this.#states.get(`${namespace}/${name}`);
    if (state === undefined) return undefined;
    const { status, reason, message } = state.verdict;
    return { type: 'Drift', status, reason, message };
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule();
  }

  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** One reading of every measured service; a reading in progress is joined, not repeated. */
  tick(): Promise<void> {
    this.#reading ??= this.#read().finally(() => (this.#reading = undefined));
    return this.#reading;
  }

  #schedule(): void {
    this.#timer = unref(
      this.#o.clock.setTimeout(() => {
        if (!this.#running) return;
        void this.tick()
          .catch((err: unknown) => this.#o.log?.({ level: 'error', msg: 'drift reading failed', component: 'drift-watch', error: (err as Error).message }))
          .finally(() => {
            if (this.#running) this.#schedule();
          });
      }, this.#o.intervalMs ?? DRIFT_INTERVAL_MS),
    );
  }

  async #read(): Promise<void> {
    const read = this.#o.read ?? readDrift;
    const seen = new Set<string>();
    let changed = false;
    for (const service of this.#o.store.listServices()) {
      const { namespace, name } = service.metadata;
      const { model } = service.spec;
      // Only karb's built-in ONNX server measures drift.
      if (model.format !== 'onnx' || model.command !== undefined) continue;
      const key = `${namespace}/${name}`;
      seen.add(key);
      const endpoints = this.#o.runtime.endpoints({ namespace, service: name });
      const answers = await Promise.all(endpoints.map(async (e) => ({ endpoint: e, report: await read(e.url, name) })));
      const reports: ReplicaDrift[] = answers.flatMap((a) => (a.report === undefined ? [] : [{ source: a.endpoint.replica, report: a.report }]));
      const threshold = model.drift?.threshold ?? PSI_DRIFT;
      const verdict = driftVerdict(reports, { threshold });
      this.#readings.set(key, {
        at: new Date(this.#o.clock.now()).toISOString(),
        threshold,
        verdict,
        replicas: answers.map((a) => ({ replica: a.endpoint.replica, revision: a.endpoint.revision, report: a.report ?? null })),
      });
      const before = this.#states.get(key);
      const { state, event } = driftTransition(before, verdict);
      this.#states.set(key, state);
      if (event) this.#o.store.addEvent({ ...event, namespace, service: name });
      if (before === undefined || before.verdict.status !== verdict.status || before.verdict.reason !== verdict.reason || before.verdict.message !== verdict.message) changed = true;
    }
    for (const map of [this.#states, this.#readings]) for (const key of map.keys()) if (!seen.has(key)) map.delete(key);
    if (changed) this.#o.onChange();
  }
}

/** One replica's drift report, or undefined when it has none (404: a model without 2-D float input) or did not answer. */
export async function readDrift(url: string, model: string): Promise<DriftReport | undefined> {
  try {
    const res = await request(`${url}/v2/models/${encodeURIComponent(model)}/drift`, { headersTimeout: CALL_TIMEOUT_MS, bodyTimeout: CALL_TIMEOUT_MS });
    const text = await res.body.text();
    if (res.statusCode !== 200) return undefined;
    const body = JSON.parse(text) as { state?: unknown; inputs?: unknown; outputs?: unknown; windowRows?: unknown; learnRows?: unknown };
    if (body.state === 'learning' && typeof body.learnRows === 'number') return body as DriftReport;
    if (body.state === 'monitoring' && Array.isArray(body.inputs) && Array.isArray(body.outputs) && typeof body.windowRows === 'number') return body as DriftReport;
    return undefined;
  } catch {
    return undefined;
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
