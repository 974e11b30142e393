/**
 * Governance on a cluster, as objects `karb install` prints:
 * - the policies of policies.ts as ValidatingAdmissionPolicies (CEL, evaluated by the API
 *   server) with one binding each;
 * - roles for people — karb-viewer, karb-deployer, karb-admin — as ClusterRoles a team binds in
 *   its namespace with a RoleBinding;
 * - a team's namespace (`--team NAME`): Pod Security "restricted" enforced, the label
 *   `karb.dev/team` the privileged-pods policy is bound to, and NetworkPolicies that deny all
 *   traffic but what karb needs (each service's own policy then admits karb's gateway and
 *   controller to its model pods).
 */
import type { GovernanceConfig } from './config.ts';
import { buildPolicies, privilegedPodsPolicy, type GovernancePolicy } from './policies.ts';

type Obj = Record<string, unknown>;

export const TEAM_LABEL = 'karb.dev/team';
const PART_OF = { 'app.kubernetes.io/part-of': 'karb' } as const;
const ADMISSION_API = 'admissionregistration.k8s.io/v1';

export interface PeopleRole {
  readonly name: string;
  readonly description: string;
  readonly rules: ReadonlyArray<{ apiGroups: string[]; resources: string[]; verbs: string[] }>;
}

const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'update', 'patch', 'delete'];
const SEE_WHAT_RUNS = { apiGroups: [''], resources: ['pods', 'pods/log', 'services', 'events'], verbs: READ };

const DEPLOYER_RULES = [
  { apiGroups: ['karb.dev'], resources: ['inferenceservices'], verbs: [...READ, ...WRITE] },
  { apiGroups: ['karb.dev'], resources: ['inferenceservices/status'], verbs: READ },
  { apiGroups: ['apps'], resources: ['deployments'], verbs: READ },
  SEE_WHAT_RUNS,
];

/**
 * Who may do what with InferenceServices, as the embedded control plane's roles say it too:
 * viewers read; deployers also apply, change (rollout commands included) and delete them;
 * admins also manage API keys, which are Secrets in karb's system namespace (bind karb-admin
 * there with a RoleBinding to grant it).
 */
export const PEOPLE_ROLES: readonly PeopleRole[] = [
  {
    name: 'karb-viewer',
    description: 'reads InferenceServices, their status, pods and events',
    rules: [{ apiGroups: ['karb.dev'], resources: ['inferenceservices', 'inferenceservices/status'], verbs: READ }, { apiGroups: ['apps'], resources: ['deployments'], verbs: READ }, SEE_WHAT_RUNS],
  },
  { name: 'karb-deployer', description: 'karb-viewer, and applies, changes and deletes InferenceServices', rules: DEPLOYER_RULES },
  {
    name: 'karb-admin',
    description: "karb-deployer, and manages API keys (Secrets) where it is bound, which is karb's system namespace",
    rules: [...DEPLOYER_RULES, { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'create', 'delete'] }],
  },
];

export function buildPeopleRoles(): Obj[] {
  return PEOPLE_ROLES.map((r) => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: r.name, labels: { ...PART_OF }, annotations: { 'karb.dev/description': r.description } },
    rules: r.rules.map((rule) => ({ apiGroups: [...rule.apiGroups], resources: [...rule.resources], verbs: [...rule.verbs] })),
  }));
}

/** Every policy of the file (and the privileged-pods one when asked), each with its binding. */
export function buildAdmissionPolicies(config: GovernanceConfig): Obj[] {
  const policies = [...buildPolicies(config), ...(config.noPrivilegedPods ? [privilegedPodsPolicy()] : [])];
  return policies.flatMap((p) => [admissionPolicy(p), admissionBinding(p, config.action)]);
}

function admissionPolicy(p: GovernancePolicy): Obj {
  const rule =
    p.target === 'inferenceservices'
      ? { apiGroups: ['karb.dev'], apiVersions: ['*'], operations: ['CREATE', 'UPDATE'], resources: ['inferenceservices'] }
      : { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['pods'] };
  return {
    apiVersion: ADMISSION_API,
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: p.name, labels: { ...PART_OF }, annotations: { 'karb.dev/description': p.description } },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: { resourceRules: [rule] },
      validations: [
        {
          expression: p.expression,
          // A policy's refusal names no field of its own, so the message starts with it.
          message: p.message.startsWith(p.fieldPath) ? p.message : `${p.fieldPath}: ${p.message}`,
          ...(p.messageExpression ? { messageExpression: p.messageExpression } : {}),
          reason: p.reason,
        },
      ],
    },
  };
}

function admissionBinding(p: GovernancePolicy, action: GovernanceConfig['action']): Obj {
  return {
    apiVersion: ADMISSION_API,
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: p.name, labels: { ...PART_OF } },
    spec: {
      policyName: p.name,
      // Warn admits and tells the client; Audit records it in the API server's audit log too.
      validationActions: action === 'Deny' ? ['Deny'] : ['Warn', 'Audit'],
      ...(p.target === 'pods' ? { matchResources: { namespaceSelector: { matchExpressions: [{ key: TEAM_LABEL, operator: 'Exists' }] } } } : {}),
    },
  };
}

export interface GovernedInstall {
  governance?: GovernanceConfig;
  teams?: readonly string[];
}

/**
 * karb's install objects with governance added where `kubectl apply` needs it: teams'
 * namespaces after the first namespace, the admission policies and roles for people after the
 * CRD (the policies name its resource), the teams' NetworkPolicies after those.
 */
export function withGovernance<T extends { kind?: string }>(install: readonly T[], options: GovernedInstall): T[] {
  const teams = [...(options.teams ?? []).flatMap(buildTeamNamespace), ...(options.governance ? buildQuotas(options.governance) : [])] as unknown as T[];
  const crd = install.findIndex((o) => o.kind === 'CustomResourceDefinition');
  const policies = [...(options.governance ? buildAdmissionPolicies(options.governance) : []), ...buildPeopleRoles()] as unknown as T[];
  return [
    install[0]!,
    ...teams.filter((o) => o.kind === 'Namespace'),
    ...install.slice(1, crd + 1),
    ...policies,
    ...teams.filter((o) => o.kind !== 'Namespace'),
    ...install.slice(crd + 1),
  ];
}

/**
 * The governance file's quotas as ResourceQuotas `karb-quota`: the API server refuses a pod that
 * would take its namespace past them (the Deployment's ReplicaFailure, which karb's status shows
 * as ReplicasRefused). GPUs count as `requests.<type>` of whole devices, `nvidia.com/gpu`.
 */
export function buildQuotas(config: GovernanceConfig): Obj[] {
  return Object.entries(config.quotas).map(([namespace, q]) => ({
    apiVersion: 'v1',
    kind: 'ResourceQuota',
    metadata: { name: 'karb-quota', namespace, labels: { ...PART_OF } },
    spec: {
      hard: {
        ...(q.gpus !== undefined ? { 'requests.nvidia.com/gpu': String(q.gpus) } : {}),
        ...(q.cpu !== undefined ? { 'requests.cpu': q.cpu } : {}),
        ...(q.memory !== undefined ? { 'requests.memory': q.memory } : {}),
      },
    },
  }));
}

/** A team's namespace and the NetworkPolicies every namespace karb serves in should have. */
export function buildTeamNamespace(team: string): Obj[] {
  const labels: Record<string, string> = { ...PART_OF, [TEAM_LABEL]: team };
  for (const mode of ['enforce', 'warn', 'audit']) {
    labels[`pod-security.kubernetes.io/${mode}`] = 'restricted';
    labels[`pod-security.kubernetes.io/${mode}-version`] = 'latest';
  }
  const policy = (name: string, spec: Obj): Obj => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: team, labels: { ...PART_OF } }, spec });
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: team, labels } },
    // Nothing in or out unless another policy admits it; each InferenceService's own policy admits karb's gateway and controller.
    policy('karb-default-deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
    policy('karb-allow-dns', {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] }],
    }),
    // The s3:// fetcher (an init container of the model pod) reaches object storage over HTTPS.
    policy('karb-allow-model-fetch', {
      podSelector: { matchLabels: { 'app.kubernetes.io/managed-by': 'karb' } },
      policyTypes: ['Egress'],
      egress: [{ ports: [{ protocol: 'TCP', port: 443 }] }],
    }),
  ];
}
