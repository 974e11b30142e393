/**
 * One acting controller among several, through a coordination.k8s.io Lease, as Kubernetes's own
 * controllers elect theirs: the holder renews the lease every `renewMs`; another candidate takes
 * it once it has gone unrenewed for `leaseDurationMs`. Writes use the lease's resourceVersion, so
 * two candidates racing for it cannot both win. The decision is a pure function of the lease, the
 * candidate and the time (`decideLease`); `LeaderElector` does the reads and writes.
 */
import type { KubeClient, ObjectLike } from '../../runtime/kubernetes/api-client.ts';
import { KubeApiError } from '../../runtime/kubernetes/api-client.ts';
import { LEASES } from '../../runtime/kubernetes/resources.ts';
import { microTime } from '../../runtime/kubernetes/micro-time.ts';
import { unref, type Clock, type TimerHandle } from '../../util/clock.ts';

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface LeaseObject extends ObjectLike {
  metadata: ObjectLike['metadata'] & { resourceVersion?: string };
  spec?: LeaseSpec;
}

export type LeaseDecision =
  | { action: 'create'; spec: LeaseSpec }
  | { action: 'update'; spec: LeaseSpec; acquired: boolean }
  | { action: 'wait'; holder: string; retryInMs: number };

/** What a candidate does with the lease as it finds it (undefined: no lease yet). */
export function decideLease(lease: LeaseSpec | undefined, identity: string, now: number, leaseDurationMs: number): LeaseDecision {
  const time = microTime(now);
  const fresh: LeaseSpec = { holderIdentity: identity, leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000), acquireTime: time, renewTime: time };
  if (lease === undefined) return { action: 'create', spec: { ...fresh, leaseTransitions: 0 } };
  if (lease.holderIdentity === identity) return { action: 'update', spec: { ...lease, renewTime: time }, acquired: false };
  const renewed = lease.renewTime ? Date.parse(lease.renewTime) : 0;
  const expiresAt = renewed + (lease.leaseDurationSeconds ?? Math.ceil(leaseDurationMs / 1000)) * 1000;
  if (lease.holderIdentity && now < expiresAt) return { action: 'wait', holder: lease.holderIdentity, retryInMs: expiresAt - now };
  return { action: 'update', spec: { ...fresh, leaseTransitions: (lease.leaseTransitions ?? 0) + 1 }, acquired: true };
}

export interface LeaderElectorOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  clock: Clock;
  /** A lease unrenewed this long may be taken (default 15 s, as kube-controller-manager). */
  leaseDurationMs?: number;
  /** How often the holder renews (default 5 s). */
  renewMs?: number;
  /** How often a candidate retries (default 2 s). */
  retryMs?: number;
  log?: (record: Record<string, unknown>) => void;
}

export class LeaderElector {
  readonly #o: Required<Omit<LeaderElectorOptions, 'log'>> & Pick<LeaderElectorOptions, 'log'>;
  #leading = false;
  #lastRenewed = 0;
  #timer: TimerHandle | undefined;
  #stopped = false;
  #onLost: (() => void) | undefined;

  constructor(options: LeaderElectorOptions) {
    this.#o = { leaseDurationMs: 15_000, renewMs: 5_000, retryMs: 2_000, ...options };
  }

  get leading(): boolean {
    return this.#leading;
  }

  /** Resolves once this candidate holds the lease; `onLost` runs if it stops holding it. */
  async acquire(onLost: () => void): Promise<void> {
    this.#onLost = onLost;
    while (!this.#stopped) {
      const outcome = await this.#try();
      if (outcome === 'leading') {
        this.#leading = true;
        this.#o.log?.({ level: 'info', msg: 'leading', component: 'leader-election', lease: `${this.#o.namespace}/${this.#o.name}`, identity: this.#o.identity });
        this.#scheduleRenew();
        return;
      }
      // Not unref'd: waiting for the lease is what a standby process is doing.
      await new Promise<void>((resolve) => {
        this.#timer = this.#o.clock.setTimeout(resolve, Math.min(this.#o.retryMs, Math.max(100, outcome)));
      });
    }
  }

  /** Gives the lease up (the next candidate need not wait for it to expire) and stops renewing. */
  async release(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    if (!this.#leading) return;
    this.#leading = false;
    try {
      const lease = await this.#o.client.get<LeaseObject>(LEASES, this.#o.namespace, this.#o.name);
      if (lease?.spec?.holderIdentity === this.#o.identity) {
        await this.#o.client.update({ ...lease, spec: { ...lease.spec, holderIdentity: '', renewTime: undefined } } as LeaseObject);
      }
    } catch {
      // It expires on its own.
    }
  }

  /** 'leading', or the milliseconds to wait before trying again. */
  async #try(): Promise<'leading' | number> {
    const { client, namespace, name, identity, clock, leaseDurationMs, retryMs } = this.#o;
    try {
      const lease = await client.get<LeaseObject>(LEASES, namespace, name);
      const decision = decideLease(lease?.spec, identity, clock.now(), leaseDurationMs);
      if (decision.action === 'wait') return decision.retryInMs;
      if (decision.action === 'create') await client.create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec: decision.spec });
      else await client.update({ ...lease!, spec: decision.spec });
      this.#lastRenewed = clock.now();
      return 'leading';
    } catch (err) {
      // Conflict / AlreadyExists: another candidate wrote first; anything else: try again later.
      if (!(err instanceof KubeApiError && (err.status === 409 || err.status === 422))) {
        this.#o.log?.({ level: 'warn', msg: 'lease not acquired', component: 'leader-election', error: err instanceof Error ? err.message : String(err) });
      }
      return retryMs;
    }
  }

  #scheduleRenew(): void {
    this.#timer = unref(
      this.#o.clock.setTimeout(async () => {
        if (this.#stopped) return;
        const outcome = await this.#try();
        if (outcome === 'leading') return this.#scheduleRenew();
        // Not renewed: still the leader until the lease could have been taken, then no longer.
        if (this.#o.clock.now() - this.#lastRenewed >= this.#o.leaseDurationMs - this.#o.renewMs) {
          this.#leading = false;
          this.#stopped = true;
          this.#o.log?.({ level: 'error', msg: 'leadership lost', component: 'leader-election', identity: this.#o.identity });
          this.#onLost?.();
          return;
        }
        this.#scheduleRenew();
      }, this.#o.renewMs),
    );
  }
}
