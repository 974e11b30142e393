/**
 * The control plane's drift watch: every interval it reads the drift report of each ready replica
 * of every service the built-in ONNX server runs (`GET /v2/models/{name}/drift`, only at replica
 * URLs the runtime gave, never one from a request), judges them with the pure `driftVerdict`
 * (src/observability/drift) against `spec.model.drift.threshold`, keeps the `Drift` condition the
 * reconciler writes into status, and records an event on each transition (`driftTransition`).
 * Readings never overlap; services are read a few at a time, and each call is bounded by a
 * timeout that covers connecting too, so one unreachable replica delays no other service.
 * `stop()` cuts the reading in flight short and waits for it; a reading cut short records nothing.
 * Time comes from the injected clock only.
 */
import { request } from 'undici';
import { driftVerdict, type DriftVerdict, type ReplicaDrift } from '../observability/drift/verdict.ts';
import { PSI_DRIFT } from '../observability/drift/stats.ts';
import { judgedOnLearnedReference, type DriftReport } from '../observability/drift/monitor.ts';
import type { Condition, InferenceService } from '../api/schema.ts';
import type { Endpoint } from '../runtime/types.ts';
import type { EventRecord } from './store.ts';
import type { Clock } from '../util/clock.ts';
import { eachLimited } from '../util/each-limited.ts';
import { PeriodicReading } from '../util/periodic-reading.ts';

/** How often replicas are read: the reconciler's resync period. */
export const DRIFT_INTERVAL_MS = 2_000;
/** Longest one replica's answer may take, connecting included. */
export const DRIFT_CALL_TIMEOUT_MS = 2_000;
/** Services read at once. */
const SERVICES_AT_ONCE = 8;
/** Said with a DriftResolved judged on learned references: a replica started during the drift learned the drifted inputs. */
export const LEARNED_CAVEAT =
  'judged on references the replicas learned from their own first rows: a replica started during the drift learned the drifted inputs and reads them as no drift; give a reference file to be sure (docs/observability.md, "Model drift")';

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
  /** Reads one replica's report; default: GET over HTTP. `signal` aborts when the watch stops. */
  read?: (url: string, model: string, signal: AbortSignal) => Promise<DriftReport | undefined>;
  log?: (entry: Record<string, unknown>) => void;
}

export class DriftWatch {
  readonly #o: DriftWatchOptions;
  readonly #states = new Map<string, DriftState>();
  readonly #readings = new Map<string, DriftReading>();
  readonly #periodic: PeriodicReading;

  constructor(options: DriftWatchOptions) {
    this.#o = options;
    this.#periodic = new PeriodicReading({
      clock: options.clock,
      periodMs: options.intervalMs ?? DRIFT_INTERVAL_MS,
      read: (signal) => this.#read(signal),
      onError: (err) => this.#o.log?.({ level: 'error', msg: 'drift reading failed', component: 'drift-watch', error: err instanceof Error ? err.message : String(err) }),
    });
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

  /** Reads every interval until stopped; a stopped watch does not start again. */
  start(): void {
    this.#periodic.start();
  }

  /**
   * Stops reading: the replica calls in flight are aborted, the reading they belong to records
   * nothing (no event, no change), and the promise resolves once it has ended, so that the store
   * can be closed after it.
   */
  stop(): Promise<void> {
    return this.#periodic.stop();
  }

  /** One reading of every measured service; a reading in progress is joined, not repeated. */
  tick(): Promise<void> {
    return this.#periodic.tick();
  }

  async #read(signal: AbortSignal): Promise<void> {
    const read = this.#o.read ?? readDrift;
    // Only karb's built-in ONNX server measures drift.
    const services = this.#o.store.listServices().filter(({ spec: { model } }) => model.format === 'onnx' && model.command === undefined);
    const answered = new Map<(typeof services)[number], Array<{ endpoint: Endpoint; report: DriftReport | undefined }>>();
    await eachLimited(services, SERVICES_AT_ONCE, async (service) => {
      const endpoints = this.#o.runtime.endpoints({ namespace: service.metadata.namespace, service: service.metadata.name });
      const answers = await Promise.all(
        endpoints.map(async (e) => ({ endpoint: e, report: await read(e.url, service.metadata.name, signal).catch(() => undefined) })),
      );
      answered.set(service, answers);
    });
    // Stopped while reading: the store may be closing, and a cut-short reading is no verdict.
    if (signal.aborted) return;
    const seen = new Set<string>();
    let changed = false;
    for (const service of services) {
      const { namespace, name } = service.metadata;
      const { model } = service.spec;
      const key = `${namespace}/${name}`;
      seen.add(key);
      const answers = answered.get(service)!;
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
      if (event) this.#o.store.addEvent({ ...event, ...(event.reason === 'DriftResolved' && reports.some((r) => judgedOnLearnedReference(r.report)) ? { message: `${event.message}; ${LEARNED_CAVEAT}` } : {}), namespace, service: name });
      if (before === undefined || before.verdict.status !== verdict.status || before.verdict.reason !== verdict.reason || before.verdict.message !== verdict.message) changed = true;
    }
    for (const map of [this.#states, this.#readings]) for (const key of map.keys()) if (!seen.has(key)) map.delete(key);
    if (changed) this.#o.onChange();
  }
}

/**
 * One replica's drift report, or undefined when it has none (404: a model without 2-D float input)
 * or did not answer within `timeoutMs`, connecting included, or before `signal` aborted.
 */
export async function readDrift(url: string, model: string, signal?: AbortSignal, timeoutMs = DRIFT_CALL_TIMEOUT_MS): Promise<DriftReport | undefined> {
  try {
    // headersTimeout would not cover connecting (undici waits 10 s for that): one signal bounds it all.
    const deadline = AbortSignal.timeout(timeoutMs);
    const res = await request(`${url}/v2/models/${encodeURIComponent(model)}/drift`, { signal: signal === undefined ? deadline : AbortSignal.any([deadline, signal]) });
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
