/**
 * Assembles async jobs for one gateway: the two public steps, the worker and
 * its dispatch pipeline. The gateway places `serveJob` after authentication,
 * `enqueue` just before the router, and calls `start` with the routing half of
 * its pipeline once it listens.
 */
import type { Registry } from 'prom-client';
import type { Clock } from '../../../util/clock.ts';
import type { Log } from '../../../util/log.ts';
import type { ExchangeContext, GatewayStep } from '../../server/exchange.ts';
import { newDispatchToken, startDispatchServer, type DispatchServer } from './dispatch-server.ts';
import { JobMetrics } from './metrics.ts';
import { enqueueJob, requireDispatchToken, serveJob } from './steps.ts';
import type { JobStore } from './types.ts';
import { JobWorker } from './worker.ts';

export interface AsyncJobsOptions {
  store: JobStore;
  /** Jobs dispatched at once by this gateway. Default 32. */
  concurrency?: number;
  /** How often the store is polled for work when idle. Default 250 ms. */
  pollIntervalMs?: number;
  /** How often expired and old jobs are swept. Default 10 s. */
  sweepIntervalMs?: number;
}

export interface AsyncJobs {
  serveJob: GatewayStep;
  enqueue: GatewayStep;
  /** First step of the dispatch pipeline, after match-request. */
  requireToken: GatewayStep;
  /** Starts the dispatch server on `routingSteps` and the worker (which first recovers). */
  start(ctx: ExchangeContext): Promise<void>;
  /** Jobs of a service waiting to run. */
  queued(service: string): number;
  close(): Promise<void>;
}

export function createAsyncJobs(
  options: AsyncJobsOptions,
  deps: { registry: Registry; clock: Clock; log?: Log | undefined; hasRoute: (service: string) => boolean },
): AsyncJobs {
  const store = options.store;
  const metrics = new JobMetrics(deps.registry, store);
  const token = newDispatchToken();
  const concurrency = options.concurrency ?? 32;
  let server: DispatchServer | undefined;
  let worker: JobWorker | undefined;
  return {
    serveJob: serveJob({ store, metrics }),
    enqueue: enqueueJob({ store, metrics, onEnqueued: () => worker?.nudge() }),
    requireToken: requireDispatchToken(token),
    async start(ctx: ExchangeContext): Promise<void> {
      server = await startDispatchServer(ctx, token, concurrency);
      const dispatchServer = server;
      worker = new JobWorker({
        store,
        dispatch: (job) => dispatchServer.dispatch(job),
        hasRoute: deps.hasRoute,
        clock: deps.clock,
        metrics,
        log: deps.log,
        concurrency,
        ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
        ...(options.sweepIntervalMs !== undefined ? { sweepIntervalMs: options.sweepIntervalMs } : {}),
      });
      await worker.start();
    },
    queued: (service) => store.queuedCount(service),
    async close(): Promise<void> {
      worker?.close();
      await server?.close();
    },
  };
}
