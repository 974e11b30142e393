/**
 * Who a request proxied by kube-apiserver's aggregation layer comes from, as an aggregated API
 * server (metrics-server, prometheus-adapter) tells: the connection presents the API server's
 * front-proxy client certificate, signed by the request-header client CA and named in
 * `requestheader-allowed-names`, and the user it proxies for rides in headers (`X-Remote-User`,
 * `X-Remote-Group`, `X-Remote-Extra-*`, as configured). The API server publishes all of that in
 * ConfigMap kube-system/extension-apiserver-authentication, readable through the built-in Role
 * `extension-apiserver-authentication-reader` (karb install binds the controller to it).
 * Without a valid certificate the headers are not believed: anyone can write a header.
 */
import type { PeerCertificate } from 'node:tls';
import { KarbError } from '../../errors.ts';
import { KubeApiError, type KubeClient, type ObjectLike } from '../../runtime/kubernetes/api-client.ts';
import { CONFIG_MAPS } from '../../runtime/kubernetes/resources.ts';

export const AUTHENTICATION_CONFIG_MAP = { namespace: 'kube-system', name: 'extension-apiserver-authentication' } as const;
/** The built-in Role that may read that ConfigMap. */
export const AUTHENTICATION_READER_ROLE = 'extension-apiserver-authentication-reader';

export interface RequestHeaderConfig {
  /** PEM: the CAs whose client certificates may assert a user in headers. */
  clientCa: string;
  /** Common names such a certificate may have; empty: any the CA signed. */
  allowedNames: string[];
  usernameHeaders: string[];
  uidHeaders: string[];
  groupHeaders: string[];
  extraHeaderPrefixes: string[];
}

export interface RemoteUser {
  name: string;
  uid?: string;
  groups: string[];
  extra: Record<string, string[]>;
}

export class RequestHeaderConfigError extends KarbError {
  constructor(message: string, cause?: unknown) {
    super('REQUEST_HEADER_CONFIG', message, { status: 503, ...(cause ? { cause } : {}) });
  }
}

const where = `ConfigMap ${AUTHENTICATION_CONFIG_MAP.namespace}/${AUTHENTICATION_CONFIG_MAP.name}`;

function stringList(data: Record<string, string>, key: string, fallback: string[]): string[] {
  const text = data[key];
  if (text === undefined || text.trim() === '') return fallback;
  try {
    const list = JSON.parse(text) as unknown;
    if (Array.isArray(list) && list.every((v) => typeof v === 'string')) return list;
  } catch {
    // not JSON: reported below
  }
  throw new RequestHeaderConfigError(`${where} key ${key} is not a JSON list of strings: ${text.slice(0, 200)}`);
}

/** The request-header settings in the ConfigMap's data; throws saying what is missing. */
export function parseRequestHeaderConfig(data: Record<string, string> | undefined): RequestHeaderConfig {
  const d = data ?? {};
  const clientCa = d['requestheader-client-ca-file'] ?? '';
  if (!clientCa.includes('-----BEGIN CERTIFICATE-----')) {
    throw new RequestHeaderConfigError(
      `${where} has no requestheader-client-ca-file: the API server proxies to aggregated APIs only when started with --requestheader-client-ca-file, --requestheader-allowed-names, --requestheader-username-headers and --proxy-client-cert-file/--proxy-client-key-file`,
    );
  }
  return {
    clientCa,
    allowedNames: stringList(d, 'requestheader-allowed-names', []),
    usernameHeaders: stringList(d, 'requestheader-username-headers', []),
    uidHeaders: stringList(d, 'requestheader-uid-headers', []),
    groupHeaders: stringList(d, 'requestheader-group-headers', []),
    extraHeaderPrefixes: stringList(d, 'requestheader-extra-headers-prefix', []),
  };
}

/** Reads the API server's request-header settings, saying what to fix when they cannot be read. */
export async function readRequestHeaderConfig(client: KubeClient): Promise<RequestHeaderConfig> {
  let cm: (ObjectLike & { data?: Record<string, string> }) | undefined;
  try {
    cm = await client.get(CONFIG_MAPS, AUTHENTICATION_CONFIG_MAP.namespace, AUTHENTICATION_CONFIG_MAP.name);
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 403) {
      throw new RequestHeaderConfigError(`these credentials may not read ${where} (403): bind them to the Role ${AUTHENTICATION_READER_ROLE} in kube-system (karb install does)`, err);
    }
    throw new RequestHeaderConfigError(`cannot read ${where}: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  if (cm === undefined) throw new RequestHeaderConfigError(`the API server publishes no ${where}; it is not serving the aggregation layer`);
  return parseRequestHeaderConfig(cm.data);
}

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/**
 * Why the connection's client certificate may not assert a user, or undefined when it may.
 * `verified` is the TLS layer's word that it chains to `clientCa` (Node's `socket.authorized`).
 */
export function proxyCertificateProblem(verified: boolean, cert: PeerCertificate | undefined, config: RequestHeaderConfig): string | undefined {
  if (cert === undefined || Object.keys(cert).length === 0) return 'no client certificate: this API is reached through the Kubernetes API server (kubectl get --raw /apis/custom.metrics.k8s.io/…)';
  if (!verified) return 'the client certificate is not signed by the API server’s request-header client CA';
  if (cert.ext_key_usage !== undefined && !cert.ext_key_usage.includes(CLIENT_AUTH)) return 'the client certificate is not for client authentication';
  const cn = cert.subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  if (config.allowedNames.length > 0 && (name === undefined || !config.allowedNames.includes(name))) {
    return `the client certificate's name ${JSON.stringify(name ?? '')} is not one of requestheader-allowed-names (${config.allowedNames.join(', ')})`;
  }
  return undefined;
}

const first = (headers: Record<string, string[] | undefined>, names: string[]): string | undefined => {
  for (const n of names) {
    const v = headers[n.toLowerCase()]?.find((x) => x !== '');
    if (v !== undefined) return v;
  }
  return undefined;
};

/**
 * The user the API server proxies for (undefined when no username header is set), with
 * `system:authenticated` added as the API server's own authenticators add it.
 */
export function remoteUser(headers: Record<string, string[] | undefined>, config: RequestHeaderConfig): RemoteUser | undefined {
  const name = first(headers, config.usernameHeaders);
  if (name === undefined) return undefined;
  const groups = config.groupHeaders.flatMap((h) => headers[h.toLowerCase()] ?? []).filter((g) => g !== '');
  const extra: Record<string, string[]> = {};
  for (const prefix of config.extraHeaderPrefixes) {
    const p = prefix.toLowerCase();
    for (const [header, values] of Object.entries(headers)) {
      if (!header.startsWith(p) || header.length === p.length || values === undefined) continue;
      let key = header.slice(p.length);
      try {
        key = decodeURIComponent(key);
      } catch {
        // not escaped: keep as sent
      }
      (extra[key.toLowerCase()] ??= []).push(...values);
    }
  }
  if (name !== 'system:anonymous' && !groups.includes('system:authenticated') && !groups.includes('system:unauthenticated')) groups.push('system:authenticated');
  const uid = first(headers, config.uidHeaders);
  return { name, groups, extra, ...(uid !== undefined ? { uid } : {}) };
}
