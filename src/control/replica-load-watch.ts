/**
 * The control plane's replica-load watch: every interval it reads `/metrics` of each ready
 * replica of every service whose replicas are a server karb did not build (an OpenAI-compatible
 * or OIP server run by `spec.model.command` or `image`: vLLM and the like), which tells the
 * gateway nothing of its load in headers. What a replica says there (replica-load.ts: its KV
 * cache's use, the requests waiting inside it) goes to the signal hub, where GASCL reads it.
 * Only replica URLs the runtime gave are read, never one from a request. Readings never overlap;
 * services are read a few at a time, each call bounded by a timeout that covers connecting too.
 * A replica that does not answer, or exports none of those metrics, reports nothing.
 * `stop()` cuts the reading in flight short and waits for it; a cut-short reading records nothing.
 */
import { request } from 'undici';
import type { InferenceService } from '../api/schema.ts';
import type { SignalHub } from '../observability/hub.ts';
import { parseReplicaLoad, type ReplicaLoad } from '../observability/replica-load.ts';
import type { Endpoint } from '../runtime/types.ts';
import type { Clock } from '../util/clock.ts';
import { eachLimited } from '../util/each-limited.ts';
import { PeriodicReading } from '../util/periodic-reading.ts';

/** How often replicas are read: the autoscaler's period. */
export const REPLICA_LOAD_INTERVAL_MS = 2_000;
/** Longest one replica's answer may take, connecting included. */
export const REPLICA_LOAD_CALL_TIMEOUT_MS = 1_500;
/** Largest /metrics text read (vLLM's is tens of KiB). */
const MAX_METRICS_BYTES = 4 * 2 ** 20;
const SERVICES_AT_ONCE = 8;

export interface ReplicaLoadWatchOptions {
  store: { listServices(): Array<Pick<InferenceService, 'metadata' | 'spec'>> };
  runtime: { endpoints(filter: { namespace: string; service: string }): Endpoint[] };
  hub: Pick<SignalHub, 'replicaLoad'>;
  clock: Clock;
  intervalMs?: number;
  /** Reads one replica's metrics text; default: GET `/metrics` over HTTP. `signal` aborts when the watch stops. */
  read?: (url: string, signal: AbortSignal) => Promise<string | undefined>;
  log?: (entry: Record<string, unknown>) => void;
}

/** Whether the service's replicas run a server of the user's (command or image) rather than karb's built-in one. */
export function runsOwnServer(spec: Pick<InferenceService['spec'], 'model'>): boolean {
  return spec.model.command !== undefined || spec.model.image !== undefined;
}

export class ReplicaLoadWatch {
  readonly #o: ReplicaLoadWatchOptions;
  readonly #periodic: PeriodicReading;

  constructor(options: ReplicaLoadWatchOptions) {
    this.#o = options;
    this.#periodic = new PeriodicReading({
      clock: options.clock,
      periodMs: options.intervalMs ?? REPLICA_LOAD_INTERVAL_MS,
      read: (signal) => this.#read(signal),
      onError: (err) => this.#o.log?.({ level: 'error', msg: 'replica load reading failed', component: 'replica-load-watch', error: err instanceof Error ? err.message : String(err) }),
    });
  }

  start(): void {
    this.#periodic.start();
  }

  stop(): Promise<void> {
    return this.#periodic.stop();
  }

  /** One reading of every such service; a reading in progress is joined, not repeated. */
  tick(): Promise<void> {
    return this.#periodic.tick();
  }

  async #read(signal: AbortSignal): Promise<void> {
    const read = this.#o.read ?? readMetrics;
    const services = this.#o.store.listServices().filter((s) => runsOwnServer(s.spec));
    const loads: Array<{ endpoint: Endpoint; load: ReplicaLoad }> = [];
    await eachLimited(services, SERVICES_AT_ONCE, async (service) => {
      const endpoints = this.#o.runtime.endpoints({ namespace: service.metadata.namespace, service: service.metadata.name });
      await Promise.all(
        endpoints.map(async (endpoint) => {
          const text = await read(endpoint.url, signal).catch(() => undefined);
          if (text !== undefined) loads.push({ endpoint, load: parseReplicaLoad(text) });
        }),
      );
    });
    if (signal.aborted) return;
    for (const { endpoint, load } of loads) this.#o.hub.replicaLoad(endpoint.service, endpoint.revision, endpoint.replica, endpoint.url, load);
  }
}

/** A replica's /metrics text, or undefined when it did not answer 200 within `timeoutMs` (connecting included) or before `signal` aborted. */
export async function readMetrics(url: string, signal?: AbortSignal, timeoutMs = REPLICA_LOAD_CALL_TIMEOUT_MS): Promise<string | undefined> {
  try {
    const deadline = AbortSignal.timeout(timeoutMs);
    const res = await request(`${url}/metrics`, { signal: signal === undefined ? deadline : AbortSignal.any([deadline, signal]) });
    if (res.statusCode !== 200) {
      await res.body.dump();
      return undefined;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_METRICS_BYTES) {
        res.body.destroy();
        return undefined;
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  } catch {
    return undefined;
  }
}
