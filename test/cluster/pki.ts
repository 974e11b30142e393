/**
 * The test cluster's certificates and keys, made with `openssl` (ECDSA P-256, valid a year):
 * a CA; serving certificates for kube-apiserver, etcd, kube-controller-manager and kube-scheduler; client certificates for the admin
 * (O=system:masters), kube-controller-manager, kube-scheduler and the apiserver's etcd client;
 * and the service-account token signing key pair.
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
}

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
`;

function openssl(args: string[], cwd: string): void {
  const run = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (run.error) {
    throw new ClusterError(`the test cluster's certificates are made with openssl, and it could not run (${run.error.message}): install openssl`);
  }
  if (run.status !== 0) {
    const why = run.stderr.trim().split('\n')[0] ?? '';
    throw new ClusterError(`openssl ${args[0]} failed making the test cluster's certificates: ${why}`);
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export function makePki(dir: string): Pki {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(dir, 'openssl.cnf'), CONFIG);
  const cfg = ['-config', 'openssl.cnf'];
  openssl(['req', '-x509', ...cfg, ...EC, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '365', '-subj', '/CN=karb-test-cluster-ca', '-extensions', 'ca'], dir);
  const leaf = (name: string, subject: string, extensions: string) => {
    openssl(['req', '-new', ...cfg, ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
    openssl(
      ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', `0x${randomSerial()}`, '-days', '365',
        '-extfile', 'openssl.cnf', '-extensions', extensions, '-out', `${name}.crt`],
      dir,
    );
    rmSync(path.join(dir, `${name}.csr`));
    return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  };
  const apiserver = leaf('apiserver', '/CN=kube-apiserver', 'apiserver');
  const etcd = leaf('etcd', '/CN=etcd', 'loopback');
  const etcdClient = leaf('apiserver-etcd-client', '/CN=kube-apiserver-etcd-client', 'client');
  const admin = leaf('admin', '/O=system:masters/CN=karb-admin', 'client');
  const controllerManager = leaf('controller-manager', '/CN=system:kube-controller-manager', 'client');
  const scheduler = leaf('scheduler', '/CN=system:kube-scheduler', 'client');
  const controllerManagerServing = leaf('controller-manager-serving', '/CN=kube-controller-manager', 'loopback');
  const schedulerServing = leaf('scheduler-serving', '/CN=kube-scheduler', 'loopback');
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
  };
}

function randomSerial(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('').replace(/^[89a-f]/, '1');
}
