/**
 * A pod's volumes on the test node, as local folders (no mounts: pod-plan.ts rewrites the
 * container paths that name them):
 *
 * | Volume                 | Local folder                                                        |
 * |------------------------|---------------------------------------------------------------------|
 * | persistentVolumeClaim  | the bound PersistentVolume's spec.hostPath.path or spec.local.path  |
 * | hostPath               | its path                                                            |
 * | emptyDir               | <pod folder>/volumes/<name>, removed with the pod                   |
 * | configMap, secret      | the same, holding one file per key (or per listed item)             |
 * | downwardAPI, projected | the same: fieldRef items, configMap/secret keys, and a service-     |
 * |                        | account token from the TokenRequest API                             |
 *
 * A projected volume holding a service-account token and the cluster's CA (the one the
 * ServiceAccount admission plugin adds, mounted at /var/run/secrets/kubernetes.io/serviceaccount)
 * also gets a `kubeconfig` naming the API server, that CA and the token file: with no mount
 * namespace a process cannot find them at the fixed path in-cluster clients read, so pod-plan.ts
 * points KUBECONFIG at it — the stand-in for a kubelet's in-cluster configuration (the
 * KUBERNETES_SERVICE_HOST/PORT variables and that path).
 *
 * Anything else (image, csi, nfs, ephemeral, …) is refused. A claim not yet bound, or a
 * ConfigMap or Secret not there yet, is waited for, as a kubelet waits to mount.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { KubeHttp } from './kube-http.ts';
import { fieldValue, IN_CLUSTER_KUBECONFIG } from './pod-plan.ts';

type Obj = Record<string, any>;

export type VolumesResult =
  | { kind: 'ready'; volumes: Record<string, string> }
  /** Not yet: the reason the pod is still ContainerCreating. */
  | { kind: 'wait'; message: string }
  | { kind: 'refused'; message: string };

const enc = encodeURIComponent;

async function configMapData(api: KubeHttp, namespace: string, name: string): Promise<Record<string, string> | undefined> {
  const cm = await api.get<Obj>(`/api/v1/namespaces/${enc(namespace)}/configmaps/${enc(name)}`);
  if (!cm) return undefined;
  const binary = Object.fromEntries(Object.entries((cm.binaryData ?? {}) as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('latin1')]));
  return { ...(cm.data ?? {}), ...binary };
}

async function secretData(api: KubeHttp, namespace: string, name: string): Promise<Record<string, string> | undefined> {
  const s = await api.get<Obj>(`/api/v1/namespaces/${enc(namespace)}/secrets/${enc(name)}`);
  if (!s) return undefined;
  return Object.fromEntries(Object.entries((s.data ?? {}) as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

/** The ConfigMaps and Secrets the containers' env names, by name; a missing one is left out. */
export async function envSources(api: KubeHttp, pod: Obj): Promise<{ configMaps: Record<string, Record<string, string>>; secrets: Record<string, Record<string, string>> }> {
  const cms = new Set<string>();
  const secrets = new Set<string>();
  for (const c of [...(pod.spec.initContainers ?? []), ...(pod.spec.containers ?? [])] as Obj[]) {
    for (const f of (c.envFrom ?? []) as Obj[]) {
      if (f.configMapRef) cms.add(f.configMapRef.name);
      if (f.secretRef) secrets.add(f.secretRef.name);
    }
    for (const e of (c.env ?? []) as Obj[]) {
      if (e.valueFrom?.configMapKeyRef) cms.add(e.valueFrom.configMapKeyRef.name);
      if (e.valueFrom?.secretKeyRef) secrets.add(e.valueFrom.secretKeyRef.name);
    }
  }
  const ns = pod.metadata.namespace as string;
  const out = { configMaps: {} as Record<string, Record<string, string>>, secrets: {} as Record<string, Record<string, string>> };
  for (const name of cms) {
    const data = await configMapData(api, ns, name);
    if (data) out.configMaps[name] = data;
  }
  for (const name of secrets) {
    const data = await secretData(api, ns, name);
    if (data) out.secrets[name] = data;
  }
  return out;
}

function inClusterKubeconfig(server: string, dir: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'in-cluster', cluster: { server, 'certificate-authority': path.join(dir, 'ca.crt') } }],
    users: [{ name: 'service-account', user: { 'token-file': path.join(dir, 'token') } }],
    contexts: [{ name: 'in-cluster', context: { cluster: 'in-cluster', user: 'service-account' } }],
    'current-context': 'in-cluster',
  });
}

/** Writes `files` (relative path → content) under `dir`. */
function writeFiles(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(dir, rel);
    if (!file.startsWith(dir + path.sep)) continue; // a key may not climb out
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
}

/** Keys as files: all of them, or the listed items under their paths. */
function selectItems(data: Record<string, string>, items: Obj[] | undefined): Record<string, string> | string {
  if (!items) return data;
  const out: Record<string, string> = {};
  for (const item of items) {
    if (!(item.key in data)) return item.key;
    out[item.path] = data[item.key]!;
  }
  return out;
}

export interface VolumeContext {
  podIP: string;
  hostIP: string;
  nodeName: string;
  /** The pod's folder: emptyDirs and written volumes go under its volumes/. */
  podDir: string;
}

/** Every volume of the pod as a local folder, or why not (yet). */
export async function prepareVolumes(api: KubeHttp, pod: Obj, ctx: VolumeContext): Promise<VolumesResult> {
  const ns = pod.metadata.namespace as string;
  const volumes: Record<string, string> = {};
  for (const v of (pod.spec.volumes ?? []) as Obj[]) {
    const own = path.join(ctx.podDir, 'volumes', v.name);
    if (v.emptyDir) {
      mkdirSync(own, { recursive: true });
      volumes[v.name] = own;
    } else if (v.hostPath) {
      if (v.hostPath.type === 'DirectoryOrCreate') mkdirSync(v.hostPath.path, { recursive: true });
      volumes[v.name] = v.hostPath.path;
    } else if (v.persistentVolumeClaim) {
      const claim = v.persistentVolumeClaim.claimName as string;
      const pvc = await api.get<Obj>(`/api/v1/namespaces/${enc(ns)}/persistentvolumeclaims/${enc(claim)}`);
      if (!pvc) return { kind: 'wait', message: `persistentvolumeclaim "${claim}" not found` };
      if (pvc.status?.phase !== 'Bound' || !pvc.spec.volumeName) return { kind: 'wait', message: `waiting for PersistentVolumeClaim "${claim}" to be bound` };
      const pv = await api.get<Obj>(`/api/v1/persistentvolumes/${enc(pvc.spec.volumeName)}`);
      if (!pv) return { kind: 'wait', message: `persistentvolume "${pvc.spec.volumeName}" not found` };
      const local = pv.spec.hostPath?.path ?? pv.spec.local?.path;
      if (!local) {
        return { kind: 'refused', message: `volume "${v.name}": PersistentVolume "${pv.metadata.name}" is neither hostPath nor local; the test node has no other volume plugins` };
      }
      volumes[v.name] = local;
    } else if (v.configMap || v.secret) {
      const isCm = Boolean(v.configMap);
      const name = (isCm ? v.configMap.name : v.secret.secretName) as string;
      const data = isCm ? await configMapData(api, ns, name) : await secretData(api, ns, name);
      const optional = Boolean((v.configMap ?? v.secret).optional);
      if (!data && !optional) return { kind: 'wait', message: `${isCm ? 'configmap' : 'secret'} "${name}" not found` };
      const files = selectItems(data ?? {}, (v.configMap ?? v.secret).items);
      if (typeof files === 'string') return { kind: 'wait', message: `${isCm ? 'configmap' : 'secret'} "${name}" has no key "${files}"` };
      writeFiles(own, files);
      volumes[v.name] = own;
    } else if (v.downwardAPI || v.projected) {
      const sources: Obj[] = v.projected ? v.projected.sources ?? [] : [{ downwardAPI: v.downwardAPI }];
      const files: Record<string, string> = {};
      for (const s of sources) {
        if (s.downwardAPI) {
          for (const item of (s.downwardAPI.items ?? []) as Obj[]) {
            const value = item.fieldRef ? fieldValue(pod, item.fieldRef.fieldPath, ctx) : undefined;
            if (value === undefined) return { kind: 'refused', message: `volume "${v.name}": downwardAPI item ${item.path} is not supported by the test node` };
            files[item.path] = value;
          }
        } else if (s.configMap || s.secret) {
          const isCm = Boolean(s.configMap);
          const src = s.configMap ?? s.secret;
          const data = isCm ? await configMapData(api, ns, src.name) : await secretData(api, ns, src.name);
          if (!data && !src.optional) return { kind: 'wait', message: `${isCm ? 'configmap' : 'secret'} "${src.name}" not found` };
          const picked = selectItems(data ?? {}, src.items);
          if (typeof picked === 'string') return { kind: 'wait', message: `${isCm ? 'configmap' : 'secret'} "${src.name}" has no key "${picked}"` };
          Object.assign(files, picked);
        } else if (s.serviceAccountToken) {
          const sa = (pod.spec.serviceAccountName ?? 'default') as string;
          const request = {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenRequest',
            spec: {
              ...(s.serviceAccountToken.audience ? { audiences: [s.serviceAccountToken.audience] } : {}),
              expirationSeconds: s.serviceAccountToken.expirationSeconds ?? 3607,
              boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid },
            },
          };
          const token = await api.request<Obj>('POST', `/api/v1/namespaces/${enc(ns)}/serviceaccounts/${enc(sa)}/token`, request);
          files[s.serviceAccountToken.path] = token.status.token;
        } else {
          return { kind: 'refused', message: `volume "${v.name}": projected source ${Object.keys(s)[0]} is not supported by the test node` };
        }
      }
      if (files.token !== undefined && files['ca.crt'] !== undefined) files[IN_CLUSTER_KUBECONFIG] = inClusterKubeconfig(api.server, own);
      writeFiles(own, files);
      volumes[v.name] = own;
    } else {
      const type = Object.keys(v).find((k) => k !== 'name') ?? 'unknown';
      return { kind: 'refused', message: `volume "${v.name}" of type ${type} is not supported by the test node (emptyDir, hostPath, persistentVolumeClaim on a hostPath or local PersistentVolume, configMap, secret, downwardAPI and projected are)` };
    }
  }
  return { kind: 'ready', volumes };
}
