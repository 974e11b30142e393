/**
 * The test node agent's client of the API server: raw HTTPS with the cluster's CA and a client
 * certificate (the agent uses the admin's), JSON in and out, and list-then-watch streams that
 * resume from the last resourceVersion. Test code: small on purpose, no retries beyond the watch's.
 */
import { Agent, request } from 'node:https';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

export interface KubeCredentials {
  /** https://127.0.0.1:<port> */
  server: string;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** The server, CA and client certificate of a kubeconfig's current context (files or inline data). */
export function credentialsFromKubeconfig(file: string): KubeCredentials {
  const config = parse(readFileSync(file, 'utf8')) as {
    'current-context'?: string;
    contexts: { name: string; context: { cluster: string; user: string } }[];
    clusters: { name: string; cluster: Record<string, string> }[];
    users: { name: string; user: Record<string, string> }[];
  };
  const context = config.contexts.find((c) => c.name === config['current-context']) ?? config.contexts[0];
  const cluster = config.clusters.find((c) => c.name === context?.context.cluster)?.cluster;
  const user = config.users.find((u) => u.name === context?.context.user)?.user;
  if (!cluster || !user) throw new Error(`${file}: no current context with a cluster and a user`);
  const read = (fileKey: string, dataKey: string, from: Record<string, string>): Buffer => {
    if (from[dataKey]) return Buffer.from(from[dataKey]!, 'base64');
    if (from[fileKey]) return readFileSync(path.resolve(path.dirname(file), from[fileKey]!));
    throw new Error(`${file}: ${fileKey} is missing (the test node agent authenticates with a client certificate)`);
  };
  return {
    server: cluster.server!.replace(/\/$/, ''),
    ca: read('certificate-authority', 'certificate-authority-data', cluster),
    cert: read('client-certificate', 'client-certificate-data', user),
    key: read('client-key', 'client-key-data', user),
  };
}

/** An answer other than 2xx, with the Status object's reason (NotFound, Conflict, Invalid, …). */
export class KubeHttpError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; [key: string]: unknown };
  [key: string]: unknown;
}

export class KubeHttp {
  readonly #creds: KubeCredentials;
  readonly #agent: Agent;
  #closed = false;
  readonly #open = new Set<{ destroy(): void }>();

  constructor(creds: KubeCredentials) {
    this.#creds = creds;
    this.#agent = new Agent({ keepAlive: true, ca: creds.ca, cert: creds.cert, key: creds.key });
  }

  /** https://127.0.0.1:<port> */
  get server(): string {
    return this.#creds.server;
  }

  /** A request; resolves with the parsed body, throws KubeHttpError for an answer other than 2xx. */
  request<T>(method: string, urlPath: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        this.#creds.server + urlPath,
        {
          method,
          agent: this.#agent,
          headers: { accept: 'application/json', ...(payload === undefined ? {} : { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) }) },
          timeout: 30_000,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              resolve((text ? JSON.parse(text) : undefined) as T);
              return;
            }
            let s: { reason?: string; message?: string } = {};
            try {
              s = JSON.parse(text) as typeof s;
            } catch {
              // not a Status object
            }
            reject(new KubeHttpError(status, s.reason ?? String(status), `${method} ${urlPath.split('?')[0]}: ${status} ${s.message ?? text.slice(0, 300)}`));
          });
          res.on('error', reject);
        },
      );
      req.once('timeout', () => req.destroy(new Error(`${method} ${urlPath}: no answer in 30 s`)));
      req.once('error', reject);
      req.end(payload);
    });
  }

  /** A GET; undefined for 404. */
  async get<T>(urlPath: string): Promise<T | undefined> {
    try {
      return await this.request<T>('GET', urlPath);
    } catch (err) {
      if (err instanceof KubeHttpError && err.status === 404) return undefined;
      throw err;
    }
  }

  /**
   * Lists `collection` (a path such as /api/v1/pods) with `query` (e.g. fieldSelector=...), then
   * watches from the list's resourceVersion, calling `onEvent` for every object (the list's items
   * as ADDED). A watch that ends resumes from the last resourceVersion; one the server has
   * compacted (410 Gone) lists again, reporting objects gone meanwhile as DELETED. Runs until
   * close(); `onError` hears failures that it retries after.
   */
  watch<T extends KubeObject>(collection: string, query: string, onEvent: (type: WatchEventType, obj: T) => void, onError: (err: Error) => void = () => {}): void {
    const known = new Map<string, T>();
    let resourceVersion: string | undefined;
    const key = (o: T) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    const relist = async (): Promise<void> => {
      const list = await this.request<{ metadata: { resourceVersion: string }; items: T[] }>('GET', `${collection}?${query}`);
      const seen = new Set<string>();
      for (const item of list.items) {
        seen.add(key(item));
        known.set(key(item), item);
        onEvent('ADDED', item);
      }
      for (const [k, obj] of known) {
        if (!seen.has(k)) {
          known.delete(k);
          onEvent('DELETED', obj);
        }
      }
      resourceVersion = list.metadata.resourceVersion;
    };
    const loop = async () => {
      let failures = 0;
      while (!this.#closed) {
        try {
          if (resourceVersion === undefined) await relist();
          await this.#stream<T>(`${collection}?${query}&watch=1&allowWatchBookmarks=true&resourceVersion=${resourceVersion}`, (type, obj) => {
            resourceVersion = obj.metadata.resourceVersion ?? resourceVersion;
            if (type === 'BOOKMARK') return;
            if (type === 'ERROR') {
              const status = obj as unknown as { code?: number; message?: string };
              if (status.code === 410) resourceVersion = undefined; // compacted: list again
              else throw new Error(`watch ${collection}: ${status.message ?? 'error event'}`);
              return;
            }
            if (type === 'DELETED') known.delete(key(obj));
            else known.set(key(obj), obj);
            onEvent(type, obj);
          });
          failures = 0;
        } catch (err) {
          if (this.#closed) return;
          if (err instanceof KubeHttpError && err.status === 410) resourceVersion = undefined;
          failures++;
          onError(err as Error);
          await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** failures)));
        }
      }
    };
    void loop();
  }

  /** One watch request: resolves when the server ends it. */
  #stream<T>(urlPath: string, onLine: (type: WatchEventType | 'BOOKMARK' | 'ERROR', obj: T) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#closed) {
        resolve();
        return;
      }
      const req = request(this.#creds.server + urlPath, { method: 'GET', agent: this.#agent, headers: { accept: 'application/json' } }, (res) => {
        if ((res.statusCode ?? 0) !== 200) {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => reject(new KubeHttpError(res.statusCode ?? 0, '', `watch ${urlPath.split('?')[0]}: ${res.statusCode} ${text.slice(0, 300)}`)));
          return;
        }
        let buffered = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (!line) continue;
            try {
              const event = JSON.parse(line) as { type: WatchEventType | 'BOOKMARK' | 'ERROR'; object: T };
              onLine(event.type, event.object);
            } catch (err) {
              req.destroy(err as Error);
              return;
            }
          }
        });
        res.on('end', () => resolve());
        res.on('error', reject);
      });
      const handle = { destroy: () => req.destroy() };
      this.#open.add(handle);
      req.once('close', () => this.#open.delete(handle));
      req.once('error', (err) => (this.#closed ? resolve() : reject(err)));
      req.end();
    });
  }

  close(): void {
    this.#closed = true;
    for (const h of this.#open) h.destroy();
    this.#agent.destroy();
  }
}
