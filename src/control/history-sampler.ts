/**
 * Feeds the dashboard's history (src/observability/history.ts) once a second:
 * what the gateway finished (the `RequestTally`), each service's replicas
 * (runtime), desired count and last decision (store), and its queue and held
 * requests (signal hub). Listeners hear each new set of points, which the
 * dashboard API streams.
 *
 * The actor around the pure history: it reads store, runtime and hub, and
 * writes only the history. Time comes from the injected Clock.
 */
import { History, pointView, quantiles, type RevisionPoint, type ServicePoint, type ServicePointView } from '../observability/history.ts';
import { sparse } from '../observability/latency-histogram.ts';
import type { RequestTally, RevisionTally } from '../observability/request-tally.ts';
import type { SignalHub } from '../observability/hub.ts';
import type { Runtime } from '../runtime/types.ts';
import type { Clock } from '../util/clock.ts';
import { PeriodicTask } from '../util/periodic-task.ts';
import type { Store, StoredService } from './store.ts';
import type { Log } from '../util/log.ts';
import { servingRevision } from './autoscaling-loop.ts';

export const SAMPLE_PERIOD_MS = 1_000;

export interface HistorySamplerOptions {
  store: Store;
  runtime: Runtime;
  hub: SignalHub;
  tally: RequestTally;
  clock: Clock;
  history?: History;
  periodMs?: number;
  log?: Log;
}

export class HistorySampler {
  readonly history: History;
  readonly #o: HistorySamplerOptions;
  readonly #period: number;
  readonly #listeners = new Set<(t: number, points: Map<string, ServicePointView>) => void>();
  /** Each service's desired count at the last sample, to mark changes. */
  readonly #desired = new Map<string, number>();
  #last: number;
  /** The history refused a service at the last sample (its warning is logged once). */
  #refusing = false;
  #task: PeriodicTask | undefined;

  constructor(options: HistorySamplerOptions) {
    this.#o = options;
    this.history = options.history ?? new History();
    this.#period = options.periodMs ?? SAMPLE_PERIOD_MS;
    this.#last = options.clock.now();
  }

  start(): void {
    this.#task ??= new PeriodicTask({
      clock: this.#o.clock,
      periodMs: this.#period,
      run: () => this.tick(),
      // A failed sample leaves a gap in the charts; it must not end the sampling.
      onError: (err) => this.#o.log?.({ level: 'error', msg: 'dashboard sample failed', error: err instanceof Error ? err.message : String(err) }),
    });
    this.#task.start();
  }

  /** A sample is synchronous, so none is in flight when this runs: nothing to wait for. */
  stop(): void {
    void this.#task?.stop();
  }

  /** Hears every sample: its time and the new point of each service (`namespace/name`). */
  onSample(listener: (t: number, points: Map<string, ServicePointView>) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** How many hear the samples now (each open dashboard stream is one). */
  get listenerCount(): number {
    return this.#listeners.size;
  }

  /** Takes one sample of every service now. */
  tick(): void {
    const now = this.#o.clock.now();
    const seconds = Math.max(0.001, (now - this.#last) / 1000);
    const since = this.#last;
    this.#last = now;
    const tallies = new Map<string, RevisionTally[]>();
    for (const t of this.#o.tally.take()) {
      const list = tallies.get(t.service) ?? [];
      list.push(t);
      tallies.set(t.service, list);
    }
    const services = this.#o.store.listServices();
    const keys = new Set<string>();
    const fresh = new Map<string, ServicePointView>();
    let refused = 0;
    for (const svc of services) {
      const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
      keys.add(key);
      // A service past the history's bound is sampled only for an open dashboard's live view:
      // a controller with a thousand services does not build a point a second for each.
      if (this.history.refuses(key) && this.#listeners.size === 0) {
        refused++;
        continue;
      }
      const point = this.#point(svc, tallies.get(svc.metadata.name) ?? [], now, since, seconds);
      if (!this.history.record(key, point)) refused++;
      fresh.set(key, pointView(point));
    }
    this.history.retain(keys);
    if (refused > 0 && !this.#refusing) {
      this.#o.log?.({ level: 'warn', msg: 'dashboard history full', services: services.length, kept: this.history.maxServices, refused, hint: `only the first ${this.history.maxServices} services keep a history; the others show live samples and no SLO status` });
    }
    this.#refusing = refused > 0;
    for (const key of this.#desired.keys()) if (!keys.has(key)) this.#desired.delete(key);
    for (const listener of this.#listeners) listener(now, fresh);
  }

  #point(svc: StoredService, tallies: RevisionTally[], now: number, since: number, seconds: number): ServicePoint {
    const { store, runtime, hub } = this.#o;
    const { namespace, name } = svc.metadata;
    const statusRevisions = svc.status.revisions ?? [];
    const replicas = runtime.replicas({ namespace, service: name });
    const ready = new Map<string, number>();
    for (const e of runtime.endpoints({ namespace, service: name })) ready.set(e.revision, (ready.get(e.revision) ?? 0) + 1);

    const revisions: Record<string, RevisionPoint> = {};
    const entry = (revision: string): RevisionPoint =>
      (revisions[revision] ??= { requests: 0, rps: 0, errors: 0, ready: ready.get(revision) ?? 0, traffic: statusRevisions.find((r) => r.name === revision)?.traffic ?? 0, answered: [] });
    for (const r of statusRevisions) if (r.traffic > 0 || r.desired > 0 || (ready.get(r.name) ?? 0) > 0) entry(r.name);
    for (const t of tallies) {
      const p = entry(t.revision);
      p.requests = t.requests;
      p.rps = t.requests / seconds;
      p.errors = t.serverErrors;
      p.answered = sparse(t.answered);
      if (t.minMs !== Infinity) {
        p.minMs = t.minMs;
        p.maxMs = t.maxMs;
        Object.assign(p, quantiles(t.answered, t.answered.reduce((a, b) => a + b, 0), t.minMs, t.maxMs));
      }
    }

    const serving = servingRevision(svc, store.listRevisions(namespace, name));
    const recorder = serving === undefined ? undefined : hub.recorder(serving);
    const queue = recorder?.window(now, recorder.bucketMs).queueDepth ?? 0;
    const decision = store.getAutoscaler(namespace, name);
    const desired = statusRevisions.reduce((n, r) => n + r.desired, 0);
    const coldStarts = replicas.filter((r) => r.readyAt !== undefined && r.readyAt > since && r.readyAt <= now).map((r) => r.readyAt! - r.startedAt);
    const point: ServicePoint = {
      t: now,
      seconds,
      ready: [...ready.values()].reduce((a, b) => a + b, 0),
      desired,
      queueDepth: queue,
      held: hub.held(name),
      coldStarts,
      revisions,
    };
    const key = `${namespace}/${name}`;
    const before = this.#desired.get(key);
    if (decision !== undefined) {
      if (before !== undefined && decision.desiredReplicas !== before) point.scale = { from: before, to: decision.desiredReplicas, reason: decision.reason, message: decision.message };
      this.#desired.set(key, decision.desiredReplicas);
    }
    return point;
  }
}
