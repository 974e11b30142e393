/**
 * Keeps the objects an InferenceService has once (ServiceAccount, Service, PDB, NetworkPolicy, the
 * HPA or ScaledObject of its policy) as the builders say, by server-side apply, owned by the
 * service so they go with it. An object is applied when what the builders make for it changes
 * (and once after a start); an autoscaler object the policy no longer has is deleted (those there
 * before a start are listed once, so a start deletes only what is there). The
 * revisions' Deployments are the runtime's.
 *
 * Where the Prometheus Operator's CRDs are installed, each service also gets a PrometheusRule
 * (its SLO's recording rules and burn-rate alerts) and the gateways a ServiceMonitor; where they
 * are not, each service gets one Warning event saying so, and the CRDs are looked for again every
 * few minutes (a read, no write), so installing the operator later needs no restart.
 */
import { canonicalJson } from '../../api/index.ts';
import { KubeApiError, type KubeClient, type ObjectLike } from '../../runtime/kubernetes/api-client.ts';
import { buildServiceObjects, ownerReference, type KubernetesObject } from '../../runtime/kubernetes/objects.ts';
import type { ClusterOptions } from '../../runtime/kubernetes/options.ts';
import { HORIZONTAL_POD_AUTOSCALERS, PROMETHEUS_RULES, SCALED_OBJECTS } from '../../runtime/kubernetes/resources.ts';
import { buildGatewayServiceMonitor, buildPrometheusRule } from '../../runtime/kubernetes/monitoring.ts';
import { MANAGED_BY, selectorText } from '../../runtime/kubernetes/labels.ts';
import type { StoredService } from '../store.ts';
import { eachLimited } from '../../util/each-limited.ts';

const REVISION_KINDS = new Set(['Deployment']);
const AUTOSCALER_TYPES = [HORIZONTAL_POD_AUTOSCALERS, SCALED_OBJECTS];
/** Services whose objects are applied at once. */
const SERVICES_IN_FLIGHT = 8;
/** While the Prometheus Operator's CRDs are missing, how often to look for them again. */
const MONITORING_RECHECK_MS = 5 * 60_000;

export interface ServiceObjectsSyncOptions {
  client: KubeClient;
  /** The namespace the controller watches; all by default. */
  namespace?: string;
  cluster: ClusterOptions;
  log?: (record: Record<string, unknown>) => void;
  /** A Warning event on the service (an object the API server refused). */
  warn(service: StoredService, reason: string, message: string): void;
  /** The clock that paces looking for the Prometheus Operator's CRDs again; Date.now by default. */
  now?: () => number;
}

export class ServiceObjectsSync {
  readonly #o: ServiceObjectsSyncOptions;
  /** By service (namespace/name): each object's key and the canonical form last applied. */
  readonly #applied = new Map<string, Map<string, string>>();
  /**
   * By service: what its objects were last built from (uid, generation, labels, whether the
   * Prometheus Operator is there), once all of them were applied. A pass skips a service whose
   * inputs are the same: building and comparing every service's objects in every pass was most of
   * a pass's cost at a thousand services.
   */
  readonly #inputs = new Map<string, string>();
  /** Autoscaler objects of karb's found in the cluster at start (`Kind/namespace/name`), listed once. */
  #found: Set<string> | undefined;
  /** Whether the Prometheus Operator's CRDs were there when last looked for, and when. */
  #monitoring: { installed: boolean; checkedAt: number; why: string } | undefined;
  /** The gateways' ServiceMonitor as last applied (canonical JSON). */
  #gatewayMonitor: string | undefined;
  /** Services told that the operator is missing (namespace/name), once each. */
  readonly #toldNoMonitoring = new Set<string>();

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
    const monitoring = services.length > 0 && (await this.#monitoringInstalled());
    let writes = monitoring ? await this.#applyGatewayMonitor() : 0;
    // Services side by side (a bring-up of many applies thousands of objects), one service's objects in order.
    await eachLimited(services, SERVICES_IN_FLIGHT, async (service) => {
      writes += await this.#syncService(service, monitoring);
    });
    for (const sk of [...this.#applied.keys()]) if (!seen.has(sk)) this.#applied.delete(sk);
    for (const sk of [...this.#inputs.keys()]) if (!seen.has(sk)) this.#inputs.delete(sk);
    for (const sk of [...this.#toldNoMonitoring]) if (!seen.has(sk)) this.#toldNoMonitoring.delete(sk);
    return writes;
  }

  /** Whether monitoring.coreos.com/v1 PrometheusRules can be listed: the CRD is there and karb may use it. */
  async #monitoringInstalled(): Promise<boolean> {
    const now = this.#o.now?.() ?? Date.now();
    const last = this.#monitoring;
    if (last !== undefined && (last.installed || now - last.checkedAt < MONITORING_RECHECK_MS)) return last.installed;
    let installed = true;
    let why = '';
    try {
      await this.#o.client.list(PROMETHEUS_RULES, this.#o.namespace, selectorText(MANAGED_BY));
    } catch (err) {
      installed = false;
      why =
        err instanceof KubeApiError && err.status === 404
          ? "the Prometheus Operator's CRDs (monitoring.coreos.com/v1 PrometheusRule, ServiceMonitor) are not installed"
          : `PrometheusRules cannot be listed (${err instanceof Error ? err.message : String(err)})`;
    }
    if (installed && last !== undefined && !last.installed) this.#o.log?.({ level: 'info', msg: 'the Prometheus Operator is installed now; applying the services\' SLO rules' });
    // Objects of the operator's kinds applied before are gone with its CRDs: apply them again once it is back.
    if (!installed) this.#gatewayMonitor = undefined;
    this.#monitoring = { installed, checkedAt: now, why };
    return installed;
  }

  /**
   * A PrometheusRule was refused with 404: its resource is not served, so the operator's CRDs were
   * likely removed since they were found. The next pass looks for them again rather than trust
   * "installed" for ever (which would re-apply every service's rule and warn on every pass).
   */
  #monitoringMaybeRemoved(): void {
    if (this.#monitoring?.installed === true) this.#monitoring = undefined;
  }

  async #applyGatewayMonitor(): Promise<number> {
    const monitor = buildGatewayServiceMonitor(this.#o.cluster.systemNamespace);
    const canonical = canonicalJson(monitor);
    if (this.#gatewayMonitor === canonical) return 0;
    try {
      await this.#o.client.apply(monitor as ObjectLike);
      this.#gatewayMonitor = canonical;
      return 1;
    } catch (err) {
      this.#o.log?.({ level: 'warn', msg: 'the gateways\' ServiceMonitor could not be applied; the next pass tries again', error: err instanceof Error ? err.message : String(err) });
      return 0;
    }
  }

  async #syncService(service: StoredService, monitoring: boolean): Promise<number> {
    let writes = 0;
    const sk = `${service.metadata.namespace}/${service.metadata.name}`;
    const inputs = `${service.metadata.uid}@${service.metadata.generation}:${canonicalJson(service.metadata.labels)}:${monitoring}`;
    if (this.#inputs.get(sk) === inputs) return 0;
    this.#inputs.delete(sk);
    let failed = false;
    const first = !this.#applied.has(sk);
    const applied = this.#applied.get(sk) ?? new Map<string, string>();
    this.#applied.set(sk, applied);
    const objects = monitoring ? [...this.objectsFor(service), this.#prometheusRule(service)] : this.objectsFor(service);
    if (!monitoring && !this.#toldNoMonitoring.has(sk)) {
      this.#toldNoMonitoring.add(sk);
      this.#o.warn(
        service,
        'PrometheusRuleSkipped',
        `${this.#monitoring?.why ?? 'the Prometheus Operator is not installed'}: the SLO's recording rules and burn-rate alerts are not applied. Install the Prometheus Operator (karb applies them within minutes), or load the rule files of karb render --prometheus DIR into your Prometheus.`,
      );
    }
    if (monitoring) this.#toldNoMonitoring.delete(sk);
    // Not there without the CRDs: once they are back, the rule is applied again.
    else applied.delete(`${PROMETHEUS_RULES.kind}/${service.metadata.name}`);
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
        failed = true;
        const message = err instanceof Error ? err.message : String(err);
        const ruleNotServed = obj.kind === PROMETHEUS_RULES.kind && err instanceof KubeApiError && err.status === 404;
        if (ruleNotServed) this.#monitoringMaybeRemoved();
        const hint =
          obj.kind === 'ScaledObject'
            ? ' (is KEDA installed? policy keda-queue needs its ScaledObject CRD)'
            : ruleNotServed
              ? " (is the Prometheus Operator still installed? karb looks for its CRDs again on the next pass)"
              : '';
        this.#o.warn(service, 'ObjectRefused', `${k} could not be applied: ${message}${hint}`);
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
    // A refused object is tried again (and warned about again) on the next pass.
    if (!failed) this.#inputs.set(sk, inputs);
    return writes;
  }

  #prometheusRule(service: StoredService): KubernetesObject {
    const { name, namespace, labels, uid } = service.metadata;
    const rule = buildPrometheusRule({ name, namespace, labels }, service.spec) as unknown as KubernetesObject;
    return { ...rule, metadata: { ...rule.metadata, ownerReferences: [ownerReference(name, uid)] } };
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
