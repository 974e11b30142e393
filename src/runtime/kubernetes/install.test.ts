import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CRD_NAME } from '../../api/index.ts';
import { buildInstallObjects, RBAC_RULES, type PolicyRule } from './install.ts';
import { CONCURRENCY_METRIC } from './autoscaling.ts';
import { CONTROLLER_POD_LABELS, GATEWAY_POD_LABELS } from './labels.ts';
import { DEFAULT_CLUSTER_OPTIONS } from './options.ts';

type Any = Record<string, any>;

const objects = (systemNamespace = 'karb-system', image = DEFAULT_CLUSTER_OPTIONS.image, metricsApiCa?: string): Any[] =>
  buildInstallObjects({ systemNamespace, image, ...(metricsApiCa !== undefined ? { metricsApiCa } : {}) });
const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const find = (list: Any[], kind: string, name: string): Any => {
  const found = list.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found, `${kind}/${name} is installed`);
  return found;
};

/**
 * Why a pod spec falls short of Pod Security "restricted" (the checks this test relies on), or
 * nothing when it meets them: non-root, RuntimeDefault seccomp, every capability dropped, no
 * privilege escalation, in every container and init container.
 */
function restrictedViolations(pod: Any): string[] {
  const problems: string[] = [];
  const podSecurity = pod.securityContext ?? {};
  const containers: Any[] = [...(pod.initContainers ?? []), ...(pod.containers ?? [])];
  for (const c of containers) {
    const s = c.securityContext ?? {};
    const at = `container ${c.name}`;
    if (s.runAsNonRoot !== true && podSecurity.runAsNonRoot !== true) problems.push(`${at}: runAsNonRoot is not true`);
    if (s.runAsUser === 0 || (s.runAsUser === undefined && podSecurity.runAsUser === 0)) problems.push(`${at}: runs as user 0`);
    const seccomp = s.seccompProfile?.type ?? podSecurity.seccompProfile?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') problems.push(`${at}: seccompProfile is ${seccomp ?? 'unset'}, not RuntimeDefault`);
    if (!(s.capabilities?.drop ?? []).includes('ALL')) problems.push(`${at}: capabilities do not drop ALL`);
    const added = (s.capabilities?.add ?? []).filter((c: string) => c !== 'NET_BIND_SERVICE');
    if (added.length > 0) problems.push(`${at}: adds capabilities ${added.join(', ')}`);
    if (s.allowPrivilegeEscalation !== false) problems.push(`${at}: allowPrivilegeEscalation is not false`);
    if (s.privileged === true) problems.push(`${at}: privileged`);
  }
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) problems.push('shares a host namespace');
  for (const v of pod.volumes ?? []) if (v.hostPath) problems.push(`volume ${v.name}: hostPath`);
  return problems;
}

test('the restricted checker itself: a pod missing each piece is refused with the reason', () => {
  const pod = (security: Any, podSecurity: Any = {}) => ({ securityContext: podSecurity, containers: [{ name: 'c', securityContext: security }] });
  const good = { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } };
  assert.deepEqual(restrictedViolations(pod(good)), []);
  assert.match(restrictedViolations(pod({ ...good, runAsNonRoot: undefined }))[0]!, /runAsNonRoot/);
  assert.match(restrictedViolations(pod({ ...good, seccompProfile: undefined }))[0]!, /seccompProfile is unset/);
  assert.match(restrictedViolations(pod({ ...good, capabilities: { drop: ['NET_RAW'] } }))[0]!, /drop ALL/);
  assert.match(restrictedViolations(pod({ ...good, allowPrivilegeEscalation: undefined }))[0]!, /allowPrivilegeEscalation/);
});

test('install: namespace first, then the CRD, identities, RBAC, the capacity reservations’ PriorityClass, the gateway and controller Services and both Deployments', () => {
  assert.deepEqual(
    objects().map((o) => `${o.kind}/${o.metadata.name}`),
    [
      'Namespace/karb-system',
      `CustomResourceDefinition/${CRD_NAME}`,
      'ServiceAccount/karb-controller',
      'ServiceAccount/karb-gateway',
      'ClusterRole/karb-controller',
      'ClusterRoleBinding/karb-controller',
      'Role/karb-controller-leader-election',
      'RoleBinding/karb-controller-leader-election',
      'RoleBinding/karb-controller-auth-reader',
      'ClusterRole/karb-gateway',
      'ClusterRoleBinding/karb-gateway',
      'Role/karb-gateway-keys',
      'RoleBinding/karb-gateway-keys',
      'PriorityClass/karb-capacity-reservation',
      'Service/karb-gateway',
      'Service/karb-controller',
      'Deployment/karb-controller',
      'Deployment/karb-gateway',
    ],
  );
});

test('the system namespace enforces, warns and audits Pod Security "restricted"', () => {
  const ns = find(objects(), 'Namespace', 'karb-system');
  for (const mode of ['enforce', 'warn', 'audit']) {
    assert.equal(ns.metadata.labels[`pod-security.kubernetes.io/${mode}`], 'restricted');
    assert.equal(ns.metadata.labels[`pod-security.kubernetes.io/${mode}-version`], 'latest');
  }
});

test('RBAC: no wildcard anywhere, and exactly the permissions the controller and gateway need', () => {
  const all = objects();
  for (const o of all.filter((x) => x.kind === 'ClusterRole' || x.kind === 'Role')) {
    for (const rule of o.rules as Any[]) {
      for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames', 'nonResourceURLs']) {
        for (const value of rule[field] ?? []) assert.ok(!String(value).includes('*'), `${o.kind}/${o.metadata.name} ${field} has a wildcard: ${value}`);
      }
    }
  }
  const grants = (rules: readonly PolicyRule[]) => rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => `${g || 'core'}/${res}: ${[...r.verbs].sort().join(',')}`))).sort();
  assert.deepEqual(grants(RBAC_RULES.controller), [
    'apps/controllerrevisions: create,delete,get,list,patch,watch',
    'apps/deployments: create,delete,get,list,patch,update,watch',
    'authentication.k8s.io/tokenreviews: create',
    'authorization.k8s.io/subjectaccessreviews: create',
    'autoscaling/horizontalpodautoscalers: create,delete,get,list,patch,update,watch',
    'core/events: create,patch',
    'core/nodes: list,watch',
    'core/pods/eviction: create',
    'core/pods: get,list,patch,watch',
    'core/serviceaccounts: create,delete,get,list,patch,update,watch',
    'core/services: create,delete,get,list,patch,update,watch',
    'discovery.k8s.io/endpointslices: get,list,watch',
    'events.k8s.io/events: create,patch',
    'karb.dev/inferenceservices/finalizers: update',
    'karb.dev/inferenceservices/status: get,patch,update',
    'karb.dev/inferenceservices: get,list,patch,update,watch',
    'keda.sh/scaledobjects: create,delete,get,list,patch,update,watch',
    'monitoring.coreos.com/prometheusrules: create,delete,get,list,patch,update,watch',
    'monitoring.coreos.com/servicemonitors: create,delete,get,list,patch,update,watch',
    'networking.k8s.io/networkpolicies: create,delete,get,list,patch,update,watch',
    'policy/poddisruptionbudgets: create,delete,get,list,patch,update,watch',
  ]);
  assert.deepEqual(grants(RBAC_RULES.controllerLeases), ['coordination.k8s.io/leases: create,get,list,patch,update,watch']);
  assert.deepEqual(grants(RBAC_RULES.gateway), ['discovery.k8s.io/endpointslices: get,list,watch', 'karb.dev/inferenceservices: get,list,watch']);
  // The objects carry the same rules as the data.
  assert.deepEqual(find(all, 'ClusterRole', 'karb-controller').rules, JSON.parse(JSON.stringify(RBAC_RULES.controller)));
  assert.deepEqual(find(all, 'Role', 'karb-controller-leader-election').rules, JSON.parse(JSON.stringify(RBAC_RULES.controllerLeases)));
  assert.deepEqual(find(all, 'ClusterRole', 'karb-gateway').rules, JSON.parse(JSON.stringify(RBAC_RULES.gateway)));
  assert.deepEqual(grants(RBAC_RULES.gatewayKeys), ['core/secrets: get'], 'key Secrets are read by name, never listed or watched');
  assert.equal(find(all, 'Role', 'karb-gateway-keys').metadata.namespace, 'karb-system', 'secrets only in the system namespace');
  assert.ok(!RBAC_RULES.gateway.some((r) => r.resources.includes('secrets')));
  // Leases only in the system namespace: a Role, never part of a ClusterRole.
  assert.ok(!RBAC_RULES.controller.some((r) => r.resources.includes('leases')));
  // The API server's front-proxy CA: the built-in Role every aggregated API server is bound to, in kube-system.
  const reader = find(all, 'RoleBinding', 'karb-controller-auth-reader');
  assert.equal(reader.metadata.namespace, 'kube-system');
  assert.deepEqual(reader.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'extension-apiserver-authentication-reader' });
  assert.deepEqual(reader.subjects, [{ kind: 'ServiceAccount', name: 'karb-controller', namespace: 'karb-system' }]);
});

test('without --metrics-api-ca no custom metrics API: no APIService, no port for it, no Secret mounted', () => {
  const all = objects();
  assert.ok(!all.some((o) => o.kind === 'APIService'));
  assert.deepEqual(find(all, 'Service', 'karb-controller').spec.ports.map((p: Any) => p.name), ['http']);
  const c = find(all, 'Deployment', 'karb-controller').spec.template.spec.containers[0];
  assert.ok(!c.args.some((a: string) => a.startsWith('--metrics-api')));
});

test('with the metrics API CA: the APIService v1beta2.custom.metrics.k8s.io verifies the controller against it, on Service port 443 → the controller’s HTTPS port with the Secret’s certificate', () => {
  const all = objects('karb-system', DEFAULT_CLUSTER_OPTIONS.image, CA);
  assert.equal(all.at(-1)!.kind, 'APIService', 'registered last, once what it points at exists');
  const api = find(all, 'APIService', 'v1beta2.custom.metrics.k8s.io');
  assert.deepEqual(api.spec, {
    group: 'custom.metrics.k8s.io',
    version: 'v1beta2',
    service: { namespace: 'karb-system', name: 'karb-controller', port: 443 },
    caBundle: Buffer.from(CA).toString('base64'),
    groupPriorityMinimum: 100,
    versionPriority: 200,
  }, 'the API server verifies the controller: no insecureSkipTLSVerify');
  const svc = find(all, 'Service', 'karb-controller');
  assert.deepEqual(svc.spec.ports.map((p: Any) => [p.name, p.port, p.targetPort]), [['http', 8081, 'http'], ['metrics-api', 443, 'metrics-api']]);
  const d = find(all, 'Deployment', 'karb-controller');
  const pod = d.spec.template.spec;
  const c = pod.containers[0];
  assert.deepEqual(c.args.slice(-6), ['--metrics-api-port', '6443', '--metrics-api-cert', '/etc/karb/metrics-api/tls.crt', '--metrics-api-key', '/etc/karb/metrics-api/tls.key']);
  assert.deepEqual(c.ports.map((p: Any) => [p.name, p.containerPort]), [['http', 8081], ['metrics-api', 6443]]);
  assert.deepEqual(c.volumeMounts.at(-1), { name: 'metrics-api-tls', mountPath: '/etc/karb/metrics-api', readOnly: true });
  assert.deepEqual(pod.volumes.at(-1), { name: 'metrics-api-tls', secret: { secretName: 'karb-controller-metrics-api' } });
  assert.deepEqual(restrictedViolations(pod), []);
  // The HPA karb renders for hpa-service names exactly the metrics this API serves.
  assert.equal(CONCURRENCY_METRIC, 'karb_service_concurrency');
});

test('every pod karb installs meets Pod Security "restricted" and runs as its own service account', () => {
  const deployments = objects().filter((o) => o.kind === 'Deployment');
  assert.equal(deployments.length, 2);
  for (const d of deployments) {
    assert.deepEqual(restrictedViolations(d.spec.template.spec), [], d.metadata.name);
    assert.equal(d.spec.template.spec.serviceAccountName, d.metadata.name);
    for (const c of d.spec.template.spec.containers) {
      assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.cpu && c.resources.limits.memory, `${d.metadata.name}: requests and limits`);
      assert.ok(c.readinessProbe && c.livenessProbe, `${d.metadata.name}: probed`);
    }
  }
});

test('controller: two replicas with leader election, image from the options, probes on :8081 (ready on /readyz while leading, alive on /healthz)', () => {
  const d = find(objects('karb-system', 'registry.example/karb:dev'), 'Deployment', 'karb-controller');
  const c = d.spec.template.spec.containers[0];
  assert.equal(d.spec.replicas, 2);
  assert.equal(c.image, 'registry.example/karb:dev');
  assert.deepEqual(c.args, ['controller', '--leader-elect', '--host', '0.0.0.0', '--port', '8081', '--image', 'registry.example/karb:dev'], 'the model pods it makes run the same image');
  assert.deepEqual(c.ports, [{ name: 'http', containerPort: 8081, protocol: 'TCP' }]);
  assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'http' }, 'ready while leading, so the Service karb-controller reaches the leader');
  assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'http' });
  assert.deepEqual(d.spec.template.metadata.labels, { ...CONTROLLER_POD_LABELS });
  assert.deepEqual(d.spec.selector.matchLabels, { ...CONTROLLER_POD_LABELS });
});

test('gateway: two replicas, http and metrics ports, ready on /v2/health/ready, a ClusterIP Service 80→http and 9464→metrics', () => {
  const all = objects();
  const d = find(all, 'Deployment', 'karb-gateway');
  const c = d.spec.template.spec.containers[0];
  assert.equal(d.spec.replicas, 2);
  assert.deepEqual(c.args.slice(0, 2), ['gateway', '--kubernetes']);
  assert.deepEqual(c.ports.map((p: Any) => [p.name, p.containerPort]), [['http', 8080], ['metrics', 9464]]);
  assert.deepEqual(c.readinessProbe.httpGet, { path: '/v2/health/ready', port: 'http' });
  assert.deepEqual(d.spec.template.metadata.labels, { ...GATEWAY_POD_LABELS }, 'the model pods’ NetworkPolicy admits exactly these labels');
  const svc = find(all, 'Service', 'karb-gateway');
  assert.equal(svc.spec.type, 'ClusterIP');
  assert.deepEqual(svc.spec.selector, { ...GATEWAY_POD_LABELS });
  assert.deepEqual(svc.spec.ports.map((p: Any) => [p.name, p.port, p.targetPort]), [['http', 80, 'http'], ['metrics', 9464, 'metrics']]);
});

test('another system namespace moves every namespaced object and every binding’s subjects', () => {
  const all = objects('ml-platform', DEFAULT_CLUSTER_OPTIONS.image, CA);
  const clusterScoped = new Set(['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'APIService', 'PriorityClass']);
  assert.equal(find(all, 'Namespace', 'ml-platform').kind, 'Namespace');
  assert.equal(find(all, 'APIService', 'v1beta2.custom.metrics.k8s.io').spec.service.namespace, 'ml-platform');
  for (const o of all) {
    if (clusterScoped.has(o.kind)) assert.equal(o.metadata.namespace, undefined, `${o.kind}/${o.metadata.name} is cluster-scoped`);
    // The one binding outside it: reading the API server's front-proxy CA, which lives in kube-system.
    else if (o.metadata.name === 'karb-controller-auth-reader') assert.equal(o.metadata.namespace, 'kube-system');
    else assert.equal(o.metadata.namespace, 'ml-platform', `${o.kind}/${o.metadata.name}`);
    for (const s of o.subjects ?? []) assert.equal(s.namespace, 'ml-platform', `${o.kind}/${o.metadata.name} subject ${s.name}`);
  }
  assert.ok(!JSON.stringify(all).includes('karb-system'), 'no object still names the default namespace');
});

