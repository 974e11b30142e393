/**
 * The test cluster's certificates and keys, made with `openssl` (ECDSA P-256, valid a year):
 * a CA; serving certificates for kube-apiserver, etcd, kube-controller-manager and kube-scheduler; client certificates for the admin
 * (O=system:masters), kube-controller-manager, kube-scheduler and the apiserver's etcd client;
 * the service-account token signing key pair; and the aggregation layer's front proxy: a CA of
 * its own (the request-header client CA) and the client certificate `front-proxy-client` with
 * which kube-apiserver proxies to aggregated API servers.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ClusterError } from './build.ts';

export interface Pki {
  dir: string;
  ca: { cert: string; key: string };
  apiserver: { cert: string; key: string };
  etcd: { cert: string; key: string };
  etcdClient: { cert: string; key: string };
  admin: { cert: string; key: string };
  controllerManager: { cert: string; key: string };
  scheduler: { cert: string; key: string };
  /** Serving certificates for the controller-manager's and the scheduler's ports. */
  controllerManagerServing: { cert: string; key: string };
  schedulerServing: { cert: string; key: string };
  serviceAccount: { key: string; pub: string };
  /** The request-header client CA, and the certificate kube-apiserver proxies to aggregated APIs with. */
  frontProxyCa: { cert: string; key: string };
  frontProxyClient: { cert: string; key: string };
}

/** The name kube-apiserver's front-proxy certificate has (--requestheader-allowed-names). */
export const FRONT_PROXY_CLIENT_NAME = 'front-proxy-client';

/** Kubernetes's own Service's address in --service-cluster-ip-range 10.96.0.0/16. */
export const FIRST_SERVICE_IP = '10.96.0.1';
export const SERVICE_CIDR = '10.96.0.0/16';

const APISERVER_NAMES = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];

const CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[apiserver]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1,IP:${FIRST_SERVICE_IP},${APISERVER_NAMES.map((n) => `DNS:${n}`).join(',')}
[loopback]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1,DNS:localhost
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
[serving]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid
subjectAltName = $ENV::KARB_SANS
`;

function openssl(args: string[], cwd: string, env: Record<string, string> = {}): void {
  // KARB_SANS is read by the [serving] section; set for every run, since openssl expands $ENV in the whole file.
  const run = spawnSync('openssl', args, { cwd, encoding: 'utf8', env: { ...process.env, KARB_SANS: 'DNS:localhost', ...env } });
  if (run.error) {
    throw new ClusterError(`the test cluster's certificates are made with openssl, and it could not run (${run.error.message}): install openssl`);
  }
  if (run.status !== 0) {
    const why = run.stderr.trim().split('\n')[0] ?? '';
    throw new ClusterError(`openssl ${args[0]} failed making the test cluster's certificates: ${why}`);
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

const cfg = ['-config', 'openssl.cnf'];

/** A CA `<name>.crt`/`<name>.key` in `dir` (which holds openssl.cnf). */
function makeCa(dir: string, name: string, cn: string): { cert: string; key: string } {
  openssl(['req', '-x509', ...cfg, ...EC, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '365', '-subj', `/CN=${cn}`, '-extensions', 'ca'], dir);
  return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
}

/** A certificate `<name>.crt`/`<name>.key` signed by the CA named `ca`, with one of CONFIG's extension sections. */
function signLeaf(dir: string, ca: string, name: string, subject: string, extensions: string, env: Record<string, string> = {}): { cert: string; key: string } {
  openssl(['req', '-new', ...cfg, ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir, env);
  openssl(
    ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-set_serial', `0x${randomSerial()}`, '-days', '365',
      '-extfile', 'openssl.cnf', '-extensions', extensions, '-out', `${name}.crt`],
    dir,
    env,
  );
  rmSync(path.join(dir, `${name}.csr`));
  return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
}

/**
 * A serving certificate for a server a test runs (an aggregated API server, say) and the CA that
 * signed it, made in `dir`: `<name>-ca.crt` and `<name>.crt`/`<name>.key`, valid for `dnsNames`.
 */
export function makeServingCertificate(dir: string, name: string, dnsNames: string[]): { ca: string; cert: string; key: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(dir, 'openssl.cnf'), CONFIG);
  const ca = makeCa(dir, `${name}-ca`, `${name}-ca`);
  const leaf = signLeaf(dir, `${name}-ca`, name, `/CN=${dnsNames[0] ?? name}`, 'serving', { KARB_SANS: dnsNames.map((n) => `DNS:${n}`).join(',') });
  return { ca: ca.cert, ...leaf };
}

export function makePki(dir: string): Pki {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(dir, 'openssl.cnf'), CONFIG);
  makeCa(dir, 'ca', 'karb-test-cluster-ca');
  const leaf = (name: string, subject: string, extensions: string) => signLeaf(dir, 'ca', name, subject, extensions);
  const apiserver = leaf('apiserver', '/CN=kube-apiserver', 'apiserver');
  const etcd = leaf('etcd', '/CN=etcd', 'loopback');
  const etcdClient = leaf('apiserver-etcd-client', '/CN=kube-apiserver-etcd-client', 'client');
  const admin = leaf('admin', '/O=system:masters/CN=karb-admin', 'client');
  const controllerManager = leaf('controller-manager', '/CN=system:kube-controller-manager', 'client');
  const scheduler = leaf('scheduler', '/CN=system:kube-scheduler', 'client');
  const controllerManagerServing = leaf('controller-manager-serving', '/CN=kube-controller-manager', 'loopback');
  const schedulerServing = leaf('scheduler-serving', '/CN=kube-scheduler', 'loopback');
  const frontProxyCa = makeCa(dir, 'front-proxy-ca', 'karb-test-front-proxy-ca');
  const frontProxyClient = signLeaf(dir, 'front-proxy-ca', 'front-proxy-client', `/CN=${FRONT_PROXY_CLIENT_NAME}`, 'client');
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', 'sa.key'], dir);
  openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
  return {
    dir,
    ca: { cert: path.join(dir, 'ca.crt'), key: path.join(dir, 'ca.key') },
    apiserver,
    etcd,
    etcdClient,
    admin,
    controllerManager,
    scheduler,
    controllerManagerServing,
    schedulerServing,
    serviceAccount: { key: path.join(dir, 'sa.key'), pub: path.join(dir, 'sa.pub') },
    frontProxyCa,
    frontProxyClient,
  };
}

function randomSerial(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('').replace(/^[89a-f]/, '1');
}
