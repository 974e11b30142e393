/**
 * Keeps the objects an InferenceService has once (ServiceAccount, Service, PDB, NetworkPolicy, the
 * HPA or ScaledObject of its policy) as the builders say, by server-side apply, owned by the
 * service so they go with it. An object is applied when what the builders make for it changes
 * (and once after a start); an autoscaler object the policy no longer has is deleted (those there
 * before a start are listed once, so a start deletes only what is there). The
 * revisions' Deployments are the runtime's.
 */
import { canonicalJson } from '../../api/index.ts';
import type { KubeClient, ObjectLike } from '../../runtime/kubernetes/api-client.ts';
import { buildServiceObjects, ownerReference, type KubernetesObject } from '../../runtime/kubernetes/objects.ts';
import type { ClusterOptions } from '../../runtime/kubernetes/options.ts';
import { HORIZONTAL_POD_AUTOSCALERS, SCALED_OBJECTS } from '../../runtime/kubernetes/resources.ts';
import { MANAGED_BY, selectorText } from '../../runtime/kubernetes/labels.ts';
import type { StoredService } from '../store.ts';
import { eachLimited } from '../../util/each-limited.ts';

const REVISION_KINDS = new Set(['Deployment']);
const AUTOSCALER_TYPES = [HORIZONTAL_POD_AUTOSCALERS, SCALED_OBJECTS];
/** Services whose objects are applied at once. */
const SERVICES_IN_FLIGHT = 8;

export interface ServiceObjectsSyncOptions {
  client: KubeClient;
  /** The namespace the controller watches; all by default. */
  namespace?: string;
  cluster: ClusterOptions;
  log?: (record: Record<string, unknown>) => void;
  /** A Warning event on the service (an object the API server refused). */
  warn(service: StoredService, reason: string, message: string): void;
}

export class ServiceObjectsSync {
  readonly #o: ServiceObjectsSyncOptions;
  /** By service (namespace/name): each object's key and the canonical form last applied. */
  readonly #applied = new Map<string, Map<string, string>>();
  /** Autoscaler objects of karb's found in the cluster at start (`Kind/namespace/name`), listed once. */
  #found: Set<string> | undefined;

  constructor(options: ServiceObjectsSyncOptions) {
    this.#o = options;
  }

  /** The objects of one service as karb applies them (its revisions' Deployments aside). */
  objectsFor(service: StoredService): KubernetesObject[] {
    const owner = ownerReference(service.metadata.name, service.metadata.uid);
    return buildServiceObjects(service, [], this.#o.cluster)
      .filter((o) => !REVISION_KINDS.has(o.kind))
      .map((o) => ({ ...o, metadata: { ...o.metadata, ownerReferences: [owner] } }));
  }

  async sync(services: StoredService[]): Promise<number> {
    this.#found ??= await this.#listAutoscalers();
    const seen = new Set(services.map((s) => `${s.metadata.namespace}/${s.metadata.name}`));
    let writes = 0;
    // Services side by side (a bring-up of many applies thousands of objects), one service's objects in order.
    await eachLimited(services, SERVICES_IN_FLIGHT, async (service) => {
      writes += await this.#syncService(service);
    });
    for (const sk of [...this.#applied.keys()]) if (!seen.has(sk)) this.#applied.delete(sk);
    return writes;
  }

  async #syncService(service: StoredService): Promise<number> {
    let writes = 0;
    const sk = `${service.metadata.namespace}/${service.metadata.name}`;
    const first = !this.#applied.has(sk);
    const applied = this.#applied.get(sk) ?? new Map<string, string>();
    this.#applied.set(sk, applied);
    const objects = this.objectsFor(service);
    const keys = new Set<string>();
    for (const obj of objects) {
      const k = `${obj.kind}/${obj.metadata.name}`;
      keys.add(k);
      const canonical = canonicalJson(obj);
      if (applied.get(k) === canonical) continue;
      try {
        await this.#o.client.apply(obj as ObjectLike);
        applied.set(k, canonical);
        writes++;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        this.#o.warn(service, 'ObjectRefused', `${k} could not be applied: ${message}${obj.kind === 'ScaledObject' ? ' (is KEDA installed? policy keda-queue needs its ScaledObject CRD)' : ''}`);
      }
    }
    // An autoscaler the policy no longer has: one this process applied, or (after a start) one found then.
    for (const type of AUTOSCALER_TYPES) {
      const k = `${type.kind}/${service.metadata.name}`;
      const found = first && this.#found!.has(`${type.kind}/${service.metadata.namespace}/${service.metadata.name}`);
      if (keys.has(k) || (!found && !applied.has(k))) continue;
      applied.delete(k);
      try {
        if (await this.#o.client.delete(type, service.metadata.namespace, service.metadata.name)) writes++;
      } catch {
        // No such API (KEDA not installed) or nothing to delete: nothing of karb's is left there.
      }
    }
    return writes;
  }

  async #listAutoscalers(): Promise<Set<string>> {
    const found = new Set<string>();
    for (const type of AUTOSCALER_TYPES) {
      try {
        const list = await this.#o.client.list(type, this.#o.namespace, selectorText(MANAGED_BY));
        for (const item of list.items) found.add(`${type.kind}/${item.metadata?.namespace}/${item.metadata?.name}`);
      } catch {
        // No such API (KEDA not installed): none of karb's there.
      }
    }
    return found;
  }
}
