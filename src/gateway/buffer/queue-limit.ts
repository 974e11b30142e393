/**
 * How many requests of a service can be waiting at once, all gateways together, as the
 * queue-depth signal counts them: while no replica is ready, what the gateways hold for
 * the cold start; once some are, what each gateway's admission queue takes
 * (`defaultQueueBound`) plus what the replicas accept beyond the requests they serve
 * (each takes up to `concurrencyLimit` and works on fewer). Beyond it requests are refused,
 * and the refusals are counted as such, so a projection of the queue past this bound
 * counts arrivals that cannot wait. Read by the control loop for GASCL (`queueLimit`).
 */
import { defaultQueueBound } from './admission-queue.ts';
import { DEFAULT_MAX_HELD_PER_SERVICE } from './hold.ts';

export function queueLimit(options: { concurrencyLimit: number; readyReplicas: number; gateways: number }): number {
  const { concurrencyLimit, readyReplicas, gateways } = options;
  if (readyReplicas <= 0) return gateways * DEFAULT_MAX_HELD_PER_SERVICE;
  return gateways * defaultQueueBound(concurrencyLimit, readyReplicas) + readyReplicas * concurrencyLimit;
}
