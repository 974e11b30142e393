/**
 * Watches a karb control plane during a load run: once a second it reads
 * `/api/v1/replicas` and counts Ready replicas per service, so a report can show
 * scaling next to latency. A failed poll leaves a gap; it never stops the run.
 */
import type { Clock, TimerHandle } from '../util/clock.ts';

export interface ReplicaSample {
  /** Clock time of the answer, epoch ms. */
  at: number;
  /** Service → Ready replicas. Services with none Ready appear with 0 once seen. */
  ready: Record<string, number>;
}

export interface ReplicaPoller {
  readonly samples: ReplicaSample[];
  /** Polls that failed, and the last failure's message. */
  readonly failures: { count: number; last?: string };
  stop(): Promise<void>;
}

/** `http://host:8081` or a full `.../api/v1/replicas` URL → the replicas endpoint (optionally for one service). */
export function replicasUrl(base: string, service?: string): string {
  const url = new URL(base);
  if (!url.pathname.replace(/\/+$/, '').endsWith('/api/v1/replicas')) url.pathname = `${url.pathname.replace(/\/+$/, '')}/api/v1/replicas`;
  if (service !== undefined) url.searchParams.set('service', service);
  return url.toString();
}

/** Counts Ready replicas per service in a `/api/v1/replicas` answer (`{ items: ReplicaStatus[] }`). */
export function countReady(answer: unknown, seen: Iterable<string> = []): Record<string, number> {
  const ready: Record<string, number> = {};
  for (const name of seen) ready[name] = 0;
  const items = (answer as { items?: unknown } | null)?.items;
  if (!Array.isArray(items)) throw new Error('the answer has no "items" list; is this a karb control plane?');
  for (const item of items as Array<{ service?: unknown; phase?: unknown }>) {
    if (typeof item?.service !== 'string') continue;
    ready[item.service] ??= 0;
    if (item.phase === 'Ready') ready[item.service]!++;
  }
  return ready;
}

export function startReplicaPoller(options: { url: string; clock: Clock; intervalMs?: number; timeoutMs?: number; adminToken?: string }): ReplicaPoller {
  const { url, clock } = options;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.adminToken !== undefined) headers.authorization = `Bearer ${options.adminToken}`;
  const intervalMs = options.intervalMs ?? 1000;
  const timeoutMs = options.timeoutMs ?? Math.max(200, intervalMs - 100);
  const samples: ReplicaSample[] = [];
  const failures: { count: number; last?: string } = { count: 0 };
  const seen = new Set<string>();
  let stopped = false;
  let timer: TimerHandle | undefined;
  let inFlight: Promise<void> = Promise.resolve();

  const poll = async (): Promise<void> => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers });
      if (!res.ok) {
        await res.body?.cancel();
        throw new Error(`GET ${url} answered ${res.status}`);
      }
      const ready = countReady(await res.json(), seen);
      for (const name of Object.keys(ready)) seen.add(name);
      if (!stopped) samples.push({ at: clock.now(), ready });
    } catch (err) {
      failures.count++;
      failures.last = (err as Error).message;
    }
  };

  const loop = (): void => {
    if (stopped) return;
    const began = clock.now();
    inFlight = poll().then(() => {
      if (!stopped) timer = clock.setTimeout(loop, Math.max(0, intervalMs - (clock.now() - began)));
    });
  };
  loop();

  return {
    samples,
    failures,
    async stop() {
      stopped = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      await inFlight;
    },
  };
}
