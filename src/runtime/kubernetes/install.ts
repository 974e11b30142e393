/**
 * What installs karb on a cluster, as pure builders (`karb install` prints them): a namespace that
 * enforces Pod Security "restricted", the InferenceService CRD, one identity each for the
 * controller and the gateway with least-privilege RBAC (no wildcards), the PriorityClass of
 * capacity reservations' placeholder pods (capacity-reservation.ts), and their Deployments.
 * The RBAC rules are data (`RBAC_RULES`), so tests and docs read the same list the cluster gets.
 *
 * With `metricsApiCa` (the CA that signed the controller's serving certificate, which lives in
 * Secret `karb-controller-metrics-api`), also the custom metrics API that hpa-service's HPA reads:
 * the APIService `v1beta2.custom.metrics.k8s.io` (its caBundle that CA, so the API server verifies
 * the controller; never insecureSkipTLSVerify), the controller's HTTPS port for it, and the Secret
 * mounted. A certificate cannot be made at install time without a library, so without the CA
 * there is no APIService, and hpa-service's HPA finds no metrics.
 */
import { inferenceServiceCrd } from '../../api/index.ts';
import { CUSTOM_METRICS_GROUP, CUSTOM_METRICS_VERSION } from './autoscaling.ts';
import { buildCapacityPriorityClass } from './capacity-reservation.ts';
import { CONTROLLER_POD_LABELS, GATEWAY_POD_LABELS } from './labels.ts';
import type { KubernetesObject } from './objects.ts';
import type { ClusterOptions } from './options.ts';
import { restrictedContainerSecurity, restrictedPodSecurity } from './security.ts';

export const CONTROLLER_NAME = 'karb-controller';
export const GATEWAY_NAME = 'karb-gateway';
/** The gateway's Role in the system namespace: reading API key Secrets. */
export const GATEWAY_KEYS_NAME = 'karb-gateway-keys';
/** The Role (and its binding) that lets the controller hold its leader-election Lease. */
export const LEADER_ELECTION_NAME = 'karb-controller-leader-election';
/**
 * The controller's HTTP port (`karb controller --port`): /healthz, /readyz (ready while it
 * leads) and the gateways' signal reports and activations, reached through the Service
 * `karb-controller`, which therefore routes to the leader only.
 */
export const CONTROLLER_PORT = 8081;
/** The controller's custom metrics API (`karb controller --metrics-api-port`), HTTPS, behind Service port 443. */
export const METRICS_API_PORT = 6443;
export const METRICS_API_SERVICE_PORT = 443;
/** The controller's serving certificate for it (a kubernetes.io/tls Secret: tls.crt, tls.key), made by its operator. */
export const METRICS_API_SECRET = 'karb-controller-metrics-api';
const METRICS_API_MOUNT = '/etc/karb/metrics-api';
/** The APIService that registers it with the API server's aggregation layer. */
export const METRICS_API_SERVICE_NAME = `${CUSTOM_METRICS_VERSION}.${CUSTOM_METRICS_GROUP}`;
/** The binding in kube-system that lets the controller read the API server's front-proxy CA. */
export const AUTH_READER_NAME = 'karb-controller-auth-reader';
export const GATEWAY_HTTP_PORT = 8080;
export const GATEWAY_METRICS_PORT = 9464;

export interface PolicyRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
}

const READ = ['get', 'list', 'watch'] as const;
const OWN = ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete'] as const;

/**
 * Every permission karb's components hold, and nothing more. `controller` is cluster-wide
 * (InferenceServices live in any namespace, and so do the objects they become);
 * `controllerLeases` is granted only in the system namespace; `gateway` only reads, and
 * `gatewayKeys` (reading the API key Secrets) holds only in the system namespace.
 */
export const RBAC_RULES: {
  readonly controller: readonly PolicyRule[];
  readonly controllerLeases: readonly PolicyRule[];
  readonly gateway: readonly PolicyRule[];
  readonly gatewayKeys: readonly PolicyRule[];
} = Object.freeze({
  controller: [
    { apiGroups: ['karb.dev'], resources: ['inferenceservices'], verbs: ['get', 'list', 'watch', 'patch', 'update'] },
    { apiGroups: ['karb.dev'], resources: ['inferenceservices/status'], verbs: ['get', 'patch', 'update'] },
    { apiGroups: ['karb.dev'], resources: ['inferenceservices/finalizers'], verbs: ['update'] },
    // Revisions' Deployments, and capacity reservations' (placeholder pods at PriorityClass
    // karb-capacity-reservation, which install renders: naming it in a pod needs no permission on it).
    { apiGroups: ['apps'], resources: ['deployments'], verbs: OWN },
    { apiGroups: ['apps'], resources: ['controllerrevisions'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
    { apiGroups: [''], resources: ['services', 'serviceaccounts'], verbs: OWN },
    // patch: the pod-deletion-cost annotation that names which pods a scale-down stops, and the
    // placement gate's release of a gated pod (its pool's node selector added, the gate removed).
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'patch'] },
    // The placement gate moves an elastic replica back on-prem through the Eviction API (the PDB has its say).
    { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
    // The placement gate counts each pool's room from its Nodes (their labels, Ready, unschedulable).
    { apiGroups: [''], resources: ['nodes'], verbs: ['list', 'watch'] },
    { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: READ },
    { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: OWN },
    { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: OWN },
    { apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'], verbs: OWN },
    { apiGroups: ['keda.sh'], resources: ['scaledobjects'], verbs: OWN },
    // The SLO's rules and the gateways' scrape, where the Prometheus Operator is installed.
    { apiGroups: ['monitoring.coreos.com'], resources: ['prometheusrules', 'servicemonitors'], verbs: OWN },
    { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
    { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
    // Gateways calling its port prove who they are with their service-account token.
    { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
    // Who may read its custom metrics API is the cluster's RBAC's to say.
    { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
  ],
  controllerLeases: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'] }],
  gateway: [
    { apiGroups: ['karb.dev'], resources: ['inferenceservices'], verbs: READ },
    { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: READ },
  ],
  // API key records (Secrets karb-key-<id>), read one by one by name, in the system namespace only.
  gatewayKeys: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }],
});

type Obj = Record<string, unknown>;

export interface InstallOptions extends Pick<ClusterOptions, 'image' | 'systemNamespace'> {
  /** PEM: the CA of the controller's metrics API certificate; given, the custom metrics API is installed. */
  metricsApiCa?: string;
}

/** Everything `karb install` applies, in an order `kubectl apply -f -` can follow (namespace first, workloads last). */
export function buildInstallObjects(options: InstallOptions): KubernetesObject[] {
  const ns = options.systemNamespace;
  const objects: Obj[] = [
    buildSystemNamespace(ns),
    inferenceServiceCrd(),
    serviceAccount(CONTROLLER_NAME, ns, CONTROLLER_POD_LABELS),
    serviceAccount(GATEWAY_NAME, ns, GATEWAY_POD_LABELS),
    clusterRole(CONTROLLER_NAME, RBAC_RULES.controller, CONTROLLER_POD_LABELS),
    clusterRoleBinding(CONTROLLER_NAME, ns, CONTROLLER_POD_LABELS),
    role(LEADER_ELECTION_NAME, ns, RBAC_RULES.controllerLeases, CONTROLLER_POD_LABELS),
    roleBinding(LEADER_ELECTION_NAME, CONTROLLER_NAME, ns, CONTROLLER_POD_LABELS),
    buildAuthReaderBinding(ns),
    clusterRole(GATEWAY_NAME, RBAC_RULES.gateway, GATEWAY_POD_LABELS),
    clusterRoleBinding(GATEWAY_NAME, ns, GATEWAY_POD_LABELS),
    role(GATEWAY_KEYS_NAME, ns, RBAC_RULES.gatewayKeys, GATEWAY_POD_LABELS),
    roleBinding(GATEWAY_KEYS_NAME, GATEWAY_NAME, ns, GATEWAY_POD_LABELS),
    buildCapacityPriorityClass(),
    buildGatewayService(ns),
    buildControllerService(ns, options.metricsApiCa !== undefined),
    buildControllerDeployment(options, options.metricsApiCa !== undefined),
    buildGatewayDeployment(options),
    ...(options.metricsApiCa !== undefined ? [buildMetricsApiService(ns, options.metricsApiCa)] : []),
  ];
  return objects as KubernetesObject[];
}

/**
 * The controller may read ConfigMap kube-system/extension-apiserver-authentication (the API
 * server's front-proxy CA and header names), through the built-in Role every aggregated API
 * server is bound to.
 */
export function buildAuthReaderBinding(namespace: string): Obj {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: AUTH_READER_NAME, namespace: 'kube-system', labels: { ...CONTROLLER_POD_LABELS } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'extension-apiserver-authentication-reader' },
    subjects: [{ kind: 'ServiceAccount', name: CONTROLLER_NAME, namespace }],
  };
}

/**
 * The APIService through which the API server proxies custom.metrics.k8s.io/v1beta2 to the
 * controller that leads (the only ready one behind Service karb-controller), verifying its
 * certificate against `caPem`.
 */
export function buildMetricsApiService(namespace: string, caPem: string): Obj {
  return {
    apiVersion: 'apiregistration.k8s.io/v1',
    kind: 'APIService',
    metadata: { name: METRICS_API_SERVICE_NAME, labels: { ...CONTROLLER_POD_LABELS } },
    spec: {
      group: CUSTOM_METRICS_GROUP,
      version: CUSTOM_METRICS_VERSION,
      service: { namespace, name: CONTROLLER_NAME, port: METRICS_API_SERVICE_PORT },
      caBundle: Buffer.from(caPem).toString('base64'),
      groupPriorityMinimum: 100,
      versionPriority: 200,
    },
  };
}

/** The system namespace: Pod Security "restricted" enforced, and warned and audited at the same level. */
export function buildSystemNamespace(name: string): Obj {
  const labels: Record<string, string> = { 'app.kubernetes.io/name': 'karb' };
  for (const mode of ['enforce', 'warn', 'audit']) {
    labels[`pod-security.kubernetes.io/${mode}`] = 'restricted';
    labels[`pod-security.kubernetes.io/${mode}-version`] = 'latest';
  }
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

function serviceAccount(name: string, namespace: string, labels: Readonly<Record<string, string>>): Obj {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace, labels: { ...labels } } };
}

/** Fresh arrays for every object, so the YAML never shares a node between two documents. */
function rules(list: readonly PolicyRule[]): Obj[] {
  return list.map((r) => ({ apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs] }));
}

function clusterRole(name: string, list: readonly PolicyRule[], labels: Readonly<Record<string, string>>): Obj {
  return { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name, labels: { ...labels } }, rules: rules(list) };
}

function clusterRoleBinding(name: string, namespace: string, labels: Readonly<Record<string, string>>): Obj {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name, labels: { ...labels } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: [{ kind: 'ServiceAccount', name, namespace }],
  };
}

function role(name: string, namespace: string, list: readonly PolicyRule[], labels: Readonly<Record<string, string>>): Obj {
  return { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name, namespace, labels: { ...labels } }, rules: rules(list) };
}

function roleBinding(name: string, account: string, namespace: string, labels: Readonly<Record<string, string>>): Obj {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name, namespace, labels: { ...labels } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name: account, namespace }],
  };
}

/** The gateway's address inside the cluster: port 80 for requests, 9464 for Prometheus. */
export function buildGatewayService(namespace: string): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: GATEWAY_NAME, namespace, labels: { ...GATEWAY_POD_LABELS } },
    spec: {
      type: 'ClusterIP',
      selector: { ...GATEWAY_POD_LABELS },
      ports: [
        { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' },
        { name: 'metrics', port: GATEWAY_METRICS_PORT, targetPort: 'metrics', protocol: 'TCP', appProtocol: 'http' },
      ],
    },
  };
}

/** Where gateways report their signals, and the API server reads custom metrics: the controller that leads (the only ready one). */
export function buildControllerService(namespace: string, metricsApi = false): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: CONTROLLER_NAME, namespace, labels: { ...CONTROLLER_POD_LABELS } },
    spec: {
      type: 'ClusterIP',
      selector: { ...CONTROLLER_POD_LABELS },
      ports: [
        { name: 'http', port: CONTROLLER_PORT, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' },
        ...(metricsApi ? [{ name: 'metrics-api', port: METRICS_API_SERVICE_PORT, targetPort: 'metrics-api', protocol: 'TCP', appProtocol: 'https' }] : []),
      ],
    },
  };
}

/**
 * Two replicas: one leads (holds the Lease) and reconciles, the other waits to take over, so a
 * node drain or a crash costs one lease period rather than a reschedule.
 */
export function buildControllerDeployment(options: Pick<ClusterOptions, 'image' | 'systemNamespace'>, metricsApi = false): Obj {
  const probe = (path: string) => ({ httpGet: { path, port: 'http' } });
  const metricsArgs = ['--metrics-api-port', String(METRICS_API_PORT), '--metrics-api-cert', `${METRICS_API_MOUNT}/tls.crt`, '--metrics-api-key', `${METRICS_API_MOUNT}/tls.key`];
  const volumes = metricsApi ? [{ volume: { name: 'metrics-api-tls', secret: { secretName: METRICS_API_SECRET } }, mount: { name: 'metrics-api-tls', mountPath: METRICS_API_MOUNT, readOnly: true } }] : [];
  return deployment(CONTROLLER_NAME, options.systemNamespace, CONTROLLER_POD_LABELS, 2, {
    name: 'controller',
    image: options.image,
    // The model pods it makes run the same image; its namespace and name come from the pod (podIdentityEnv).
    args: ['controller', '--leader-elect', '--host', '0.0.0.0', '--port', String(CONTROLLER_PORT), '--image', options.image, ...(metricsApi ? metricsArgs : [])],
    env: podIdentityEnv(),
    ports: [{ name: 'http', containerPort: CONTROLLER_PORT, protocol: 'TCP' }, ...(metricsApi ? [{ name: 'metrics-api', containerPort: METRICS_API_PORT, protocol: 'TCP' }] : [])],
    // Ready only while leading: the standby stays out of the Service's endpoints, alive.
    readinessProbe: { ...probe('/readyz'), periodSeconds: 2, failureThreshold: 1, timeoutSeconds: 2 },
    livenessProbe: { ...probe('/healthz'), initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 2 },
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
  }, volumes);
}

/** The gateway listens on every address of its pod (a pod's loopback is its own). */
export function buildGatewayDeployment(options: Pick<ClusterOptions, 'image' | 'systemNamespace'>): Obj {
  return deployment(GATEWAY_NAME, options.systemNamespace, GATEWAY_POD_LABELS, 2, {
    name: 'gateway',
    image: options.image,
    args: ['gateway', '--kubernetes', '--host', '0.0.0.0', '--port', String(GATEWAY_HTTP_PORT), '--metrics-port', String(GATEWAY_METRICS_PORT)],
    env: podIdentityEnv(),
    ports: [
      { name: 'http', containerPort: GATEWAY_HTTP_PORT, protocol: 'TCP' },
      { name: 'metrics', containerPort: GATEWAY_METRICS_PORT, protocol: 'TCP' },
    ],
    readinessProbe: { httpGet: { path: '/v2/health/ready', port: 'http' }, periodSeconds: 2, failureThreshold: 2, timeoutSeconds: 2 },
    livenessProbe: { tcpSocket: { port: 'http' }, initialDelaySeconds: 5, periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 2 },
    resources: { requests: { cpu: '500m', memory: '256Mi' }, limits: { cpu: '2', memory: '1Gi' } },
  });
}

/** Where a pod of karb's own runs: its namespace (where its Lease lives) and name (its leader identity). */
function podIdentityEnv(): Obj[] {
  return [
    { name: 'KARB_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'KARB_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  ];
}

function deployment(name: string, namespace: string, podLabels: Readonly<Record<string, string>>, replicas: number, container: Obj, extra: { volume: Obj; mount: Obj }[] = []): Obj {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { ...podLabels } },
    spec: {
      replicas,
      revisionHistoryLimit: 3,
      selector: { matchLabels: { ...podLabels } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: { ...podLabels } },
        spec: {
          serviceAccountName: name,
          automountServiceAccountToken: true,
          enableServiceLinks: false,
          securityContext: restrictedPodSecurity(),
          containers: [{ ...container, volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, ...extra.map((e) => e.mount)], securityContext: restrictedContainerSecurity() }],
          volumes: [{ name: 'tmp', emptyDir: {} }, ...extra.map((e) => e.volume)],
        },
      },
    },
  };
}
