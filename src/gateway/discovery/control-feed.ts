/**
 * What a standalone gateway (`karb gateway`) reads from the control plane's
 * admin API: the routing table (polled) and API key records (on demand, cached
 * by RemoteKeyResolver), and where it reports signals and asks for replicas.
 * Uses the admin token (karb up) or, on a cluster, the gateway's
 * service-account token (karb controller reviews it); the key's secret never
 * travels.
 */
import type { Clock, TimerHandle } from '../../util/clock.ts';
import type { Log } from '../../util/log.ts';
import type { Route, RoutingTable } from './routing-table.ts';
import type { KeyRecord } from '../../api/api-key.ts';
import type { SignalReport } from '../../observability/signal-report.ts';
import type { SignalReporter } from '../../observability/signal-reporter.ts';

export interface ControlFeedOptions {
  /** Where to call: a fixed URL, or asked for each call (on a cluster, the controller that leads now; undefined: none is ready). */
  controlPlaneUrl: string | (() => string | undefined);
  /** The `Authorization` header of every call, asked for each time (a service-account token rotates). */
  authorization: () => string | Promise<string>;
  /** Per call. Default 2 s. */
  timeoutMs?: number;
}

export class ControlFeed {
  readonly #url: () => string | undefined;
  readonly #authorization: () => string | Promise<string>;
  readonly #timeoutMs: number;

  constructor(options: ControlFeedOptions) {
    const url = options.controlPlaneUrl;
    this.#url = typeof url === 'string' ? () => url : url;
    this.#authorization = options.authorization;
    this.#timeoutMs = options.timeoutMs ?? 2000;
  }

  get #base(): string {
    const url = this.#url();
    if (url === undefined) throw new Error('no controller is ready to take calls (none leads, or none runs)');
    return url.replace(/\/+$/, '');
  }

  async #headers(): Promise<Record<string, string>> {
    return { authorization: await this.#authorization() };
  }

  async routes(): Promise<Route[]> {
    const res = await this.#get('/api/v1/routes');
    if (!res.ok) throw new Error(`GET /api/v1/routes answered ${res.status}`);
    return ((await res.json()) as { items: Route[] }).items;
  }

  /** The record of key `id`; undefined when the control plane knows no such key. */
  async keyRecord(id: string): Promise<KeyRecord | undefined> {
    const res = await this.#get(`/api/v1/keys/lookup?id=${encodeURIComponent(id)}`);
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    if (!res.ok) throw new Error(`key lookup answered ${res.status}`);
    return (await res.json()) as KeyRecord;
  }

  /** Asks for a replica of a service this gateway holds requests for (scale from zero). */
  async activate(namespace: string, service: string): Promise<void> {
    const res = await fetch(`${this.#base}/api/v1/services/${encodeURIComponent(service)}/activate?namespace=${encodeURIComponent(namespace)}`, {
      method: 'POST',
      headers: await this.#headers(),
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`POST .../activate answered ${res.status}`);
  }

  /** Sends what this gateway routed since its last report (the autoscaler's and rollout analysis's signals). */
  async report(report: SignalReport): Promise<void> {
    const res = await fetch(`${this.#base}/api/v1/signals`, {
      method: 'POST',
      headers: { ...(await this.#headers()), 'content-type': 'application/json' },
      body: JSON.stringify(report),
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`POST /api/v1/signals answered ${res.status}`);
  }

  async #get(path: string): Promise<Response> {
    return fetch(`${this.#base}${path}`, { headers: await this.#headers(), signal: AbortSignal.timeout(this.#timeoutMs) });
  }
}

/**
 * Runs `task` now (when `now` is set) and then every `everyMs` after the last
 * run ended, until stopped. A failing run is logged once per outage (`failed`),
 * and once more when a run succeeds again (`recovered`).
 */
function repeatEvery(
  task: () => Promise<void>,
  options: { everyMs: number; clock: Clock; log?: Log; now: boolean; failed: string; recovered: string },
): { first: Promise<void>; stop(): void } {
  let timer: TimerHandle | undefined;
  let stopped = false;
  let failing = false;
  const run = async (): Promise<void> => {
    try {
      await task();
      if (failing) options.log?.({ level: 'info', msg: options.recovered });
      failing = false;
    } catch (err) {
      if (!failing) options.log?.({ level: 'warn', msg: options.failed, error: (err as Error).message });
      failing = true;
    }
  };
  const loop = (): void => {
    if (stopped) return;
    timer = options.clock.setTimeout(() => void run().finally(loop), options.everyMs);
  };
  let first = Promise.resolve();
  if (options.now) first = run().finally(loop);
  else loop();
  return {
    first,
    stop() {
      stopped = true;
      if (timer !== undefined) options.clock.clearTimeout(timer);
    },
  };
}

/**
 * Copies the control plane's routes into `table` now and every `everyMs`.
 * A failed poll keeps the last table (replicas keep being served while the
 * control plane restarts) and logs once per outage.
 */
export function pollRoutes(feed: ControlFeed, table: RoutingTable, options: { everyMs: number; clock: Clock; log?: Log }): { first: Promise<void>; stop(): void } {
  return repeatEvery(async () => table.replace(await feed.routes()), {
    ...options,
    now: true,
    failed: 'cannot read routes from the control plane; keeping the last table',
    recovered: 'control plane reachable again; routes updated',
  });
}

/**
 * Posts `reporter`'s report to the control plane every `everyMs`. A report that
 * cannot be delivered is dropped (its requests are not counted: the windows
 * the control plane decides on are short, and a late report would misplace
 * them in time); one log line per outage.
 */
export function reportSignals(feed: ControlFeed, reporter: SignalReporter, options: { everyMs: number; clock: Clock; log?: Log }): { stop(): void } {
  return repeatEvery(() => feed.report(reporter.take()), {
    ...options,
    now: false,
    failed: 'cannot report signals to the control plane; dropping them until it answers',
    recovered: 'control plane takes signal reports again',
  });
}
