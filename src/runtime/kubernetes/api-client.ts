/**
 * karb's client of the Kubernetes API: credentials from a kubeconfig (or the pod's service
 * account) through @kubernetes/client-node, requests over one undici connection pool,
 * server-side apply with field manager `karb` on objects and their subresources, and
 * list-then-watch caches (client-node's ListWatch) for everything karb reads repeatedly.
 * Every request is counted by verb, so an idle controller can be shown to write nothing.
 */
import { KubeConfig, ListWatch, Watch, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { Agent, request } from 'undici';
import { KarbError } from '../../errors.ts';
import { FIELD_MANAGER } from './labels.ts';
import { PODS, resourceOf, resourcePath, type ResourceType } from './resources.ts';

/** An answer of the API server other than success, with its reason (NotFound, Conflict, Invalid, Forbidden, …). */
export class KubeApiError extends KarbError {
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(`KUBE_${reason.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase() || 'ERROR'}`, message, { status });
    this.reason = reason;
  }
}

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'apply' | 'delete';
const WRITES: ReadonlySet<Verb> = new Set(['create', 'update', 'patch', 'apply', 'delete']);

export interface ObjectLike {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string } & Record<string, unknown>;
  [key: string]: unknown;
}

export class KubeClient {
  readonly config: KubeConfig;
  readonly #server: string;
  readonly #agent: Agent;
  readonly #calls = new Map<Verb, number>();
  /** The last writes, `VERB path`, for saying which object a write went to. */
  readonly #recentWrites: string[] = [];
  readonly #log: (record: Record<string, unknown>) => void;

  private constructor(config: KubeConfig, server: string, agent: Agent, log: (record: Record<string, unknown>) => void) {
    this.config = config;
    this.#server = server;
    this.#agent = agent;
    this.#log = log;
  }

  /** From a kubeconfig file, or else $KUBECONFIG, ~/.kube/config or the pod's service account. */
  static async connect(kubeconfig?: string, log: (record: Record<string, unknown>) => void = () => {}): Promise<KubeClient> {
    const config = new KubeConfig();
    try {
      if (kubeconfig) config.loadFromFile(kubeconfig);
      else config.loadFromDefault();
    } catch (err) {
      throw new KarbError('KUBECONFIG_UNREADABLE', `cannot read the kubeconfig ${kubeconfig ?? '(default)'}: ${err instanceof Error ? err.message : String(err)}`, { status: 400 });
    }
    const cluster = config.getCurrentCluster();
    if (!cluster) throw new KarbError('KUBECONFIG_NO_CLUSTER', `the kubeconfig${kubeconfig ? ` ${kubeconfig}` : ''} names no current cluster; set current-context or pass --kubeconfig`, { status: 400 });
    const tls: Record<string, unknown> = {};
    await config.applyToHTTPSOptions(tls);
    const connect: Record<string, unknown> = {};
    for (const key of ['ca', 'cert', 'key', 'servername', 'rejectUnauthorized'] as const) if (tls[key] !== undefined) connect[key] = tls[key];
    return new KubeClient(config, cluster.server.replace(/\/$/, ''), new Agent({ connect, keepAliveTimeout: 30_000 }), log);
  }

  /** The API server's URL, as the kubeconfig names it. */
  get server(): string {
    return this.#server;
  }

  /**
   * The `Authorization` header these credentials send (a bearer token: a service account's, or
   * the kubeconfig's); read each time, since a mounted service-account token rotates. Throws
   * when the credentials are no token (a client certificate).
   */
  async authorization(): Promise<string> {
    const options: { headers: Record<string, string> } = { headers: {} };
    await this.config.applyToHTTPSOptions(options);
    const header = options.headers.Authorization ?? options.headers.authorization;
    if (header === undefined) throw new KarbError('KUBECONFIG_NO_TOKEN', 'these credentials hold no bearer token; karb controller accepts a service account’s token (use the gateway’s service account)', { status: 400 });
    return header;
  }

  /**
   * Requests made so far, by verb; `writes` sums create, update, patch, apply and delete;
   * `recentWrites` names the last 20 (`apply /apis/apps/v1/namespaces/ml/deployments/x`).
   */
  calls(): { byVerb: Record<string, number>; writes: number; total: number; recentWrites: string[] } {
    let writes = 0;
    let total = 0;
    for (const [verb, n] of this.#calls) {
      total += n;
      if (WRITES.has(verb)) writes += n;
    }
    return { byVerb: Object.fromEntries(this.#calls), writes, total, recentWrites: [...this.#recentWrites] };
  }

  /** Server-side apply of a whole object (or of one subresource, e.g. `status`), as field manager `karb`. */
  async apply<T extends ObjectLike>(obj: T, options: { subresource?: string; force?: boolean } = {}): Promise<T> {
    const path = resourcePath(resourceOf(obj), obj.metadata.namespace, obj.metadata.name, options.subresource);
    const query = `?fieldManager=${FIELD_MANAGER}${options.force === false ? '' : '&force=true'}`;
    return this.#request<T>('apply', 'PATCH', path + query, obj, 'application/apply-patch+yaml');
  }

  async get<T extends ObjectLike>(r: ResourceType, namespace: string | undefined, name: string): Promise<T | undefined> {
    try {
      return await this.#request<T>('get', 'GET', resourcePath(r, namespace, name));
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  async list<T extends ObjectLike>(r: ResourceType, namespace?: string, labelSelector?: string): Promise<KubernetesListObject<T & KubernetesObject>> {
    const query = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : '';
    return this.#request('list', 'GET', resourcePath(r, namespace) + query);
  }

  async create<T extends ObjectLike>(obj: T): Promise<T> {
    return this.#request<T>('create', 'POST', `${resourcePath(resourceOf(obj), obj.metadata.namespace)}?fieldManager=${FIELD_MANAGER}`, obj);
  }

  /** A replace that fails with reason Conflict when `metadata.resourceVersion` is stale. */
  async update<T extends ObjectLike>(obj: T): Promise<T> {
    return this.#request<T>('update', 'PUT', `${resourcePath(resourceOf(obj), obj.metadata.namespace, obj.metadata.name)}?fieldManager=${FIELD_MANAGER}`, obj);
  }

  /** A JSON merge patch (RFC 7386), e.g. to take a finalizer off. */
  async mergePatch<T extends ObjectLike>(r: ResourceType, namespace: string | undefined, name: string, patch: unknown, subresource?: string): Promise<T> {
    return this.#request<T>('patch', 'PATCH', `${resourcePath(r, namespace, name, subresource)}?fieldManager=${FIELD_MANAGER}`, patch, 'application/merge-patch+json');
  }

  /** Deletes; true when something was deleted, false when it was already gone. */
  async delete(r: ResourceType, namespace: string | undefined, name: string, propagationPolicy: 'Background' | 'Foreground' | 'Orphan' = 'Background'): Promise<boolean> {
    try {
      await this.#request('delete', 'DELETE', resourcePath(r, namespace, name), { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy });
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return false;
      throw err;
    }
  }

  /**
   * Evicts a pod through the Eviction API, so its PodDisruptionBudget decides whether it may go
   * now (refused, status 429, while the budget allows no disruption); false when it was already gone.
   */
  async evict(namespace: string, name: string): Promise<boolean> {
    try {
      await this.#request('create', 'POST', resourcePath(PODS, namespace, name, 'eviction'), { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace } });
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return false;
      throw err;
    }
  }

  /**
   * A cache of one resource (in one namespace or all), filled by a list and kept by a watch that
   * resumes from the last resourceVersion; reads from it cost no request.
   */
  informer<T extends ObjectLike>(r: ResourceType, options: { namespace?: string; labelSelector?: string } = {}): ListWatch<T & KubernetesObject> {
    const path = resourcePath(r, options.namespace);
    const watch = new Watch(this.config);
    const counted: Watch = Object.assign(Object.create(watch) as Watch, {
      watch: (...args: Parameters<Watch['watch']>) => {
        this.#count('watch');
        return watch.watch(...args);
      },
    });
    const informer = new ListWatch<T & KubernetesObject>(path, counted, () => this.list<T>(r, options.namespace, options.labelSelector), false, options.labelSelector);
    // A list or watch that fails stops the informer (client-node leaves restarting to its user):
    // start it again, backing off while the failures go on, so the cache never silently freezes.
    let failures = 0;
    let stopped = false;
    informer.on('add', () => (failures = 0));
    informer.on('update', () => (failures = 0));
    informer.on('error', (err: unknown) => {
      if (stopped) return;
      failures++;
      this.#log({ level: 'warn', msg: 'watch failed; restarting it', path, error: err instanceof Error ? err.message : String(err) });
      setTimeout(() => void (stopped ? undefined : informer.start()), Math.min(30_000, 250 * 2 ** Math.min(failures, 7))).unref();
    });
    const stop = informer.stop.bind(informer);
    informer.stop = async () => {
      stopped = true;
      await stop();
    };
    return informer;
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }

  #count(verb: Verb): void {
    this.#calls.set(verb, (this.#calls.get(verb) ?? 0) + 1);
  }

  async #request<T>(verb: Verb, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    this.#count(verb);
    if (WRITES.has(verb)) {
      this.#recentWrites.push(`${verb} ${path.split('?')[0]}`);
      if (this.#recentWrites.length > 20) this.#recentWrites.shift();
    }
    const auth: { headers: Record<string, string> } = { headers: {} };
    await this.config.applyToHTTPSOptions(auth);
    const res = await request(this.#server + path, {
      method: method as 'GET',
      dispatcher: this.#agent,
      headers: { ...auth.headers, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': contentType }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.body.text();
    if (res.statusCode >= 200 && res.statusCode < 300) return (text ? JSON.parse(text) : undefined) as T;
    let status: { reason?: string; message?: string } = {};
    try {
      status = JSON.parse(text) as typeof status;
    } catch {
      // not a Status object: keep the text
    }
    throw new KubeApiError(res.statusCode, status.reason ?? String(res.statusCode), `${method} ${path.split('?')[0]}: ${status.message ?? text.slice(0, 500)}`);
  }
}
