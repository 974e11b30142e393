/**
 * The KARB invariants as CEL policies, built once from the governance file and read by both
 * runtimes: the API server evaluates them as ValidatingAdmissionPolicies (render.ts), and
 * `karb up` evaluates the very same text in its own admission (admit.ts, through cel.ts).
 *
 * Each policy checks `object` (the InferenceService after defaulting, as the API server sees it).
 * An update that leaves an old violation as it was — `oldObject` failed too, and the field the
 * policy reads did not change (or, for labels, no label went missing that was there) — is admitted, so
 * turning governance on never blocks the controller's writes to services made before it; new
 * services, and changes that introduce a violation, are refused.
 */
import type { CustomPolicy, GovernanceConfig } from './config.ts';

export type PolicyTarget = 'inferenceservices' | 'pods';

export interface GovernancePolicy {
  /** The ValidatingAdmissionPolicy's name: karb-<what>. */
  readonly name: string;
  readonly description: string;
  readonly target: PolicyTarget;
  /** CEL over `object` (and `oldObject`): true admits. */
  readonly expression: string;
  /** CEL giving the refusal's message; `message` is used where it cannot be evaluated. */
  readonly messageExpression?: string;
  readonly message: string;
  /** The field the refusal is about: the path of embedded karb's error; the API server's message starts with it. */
  readonly fieldPath: string;
  readonly reason: 'Invalid' | 'Forbidden';
}

/** A CEL string literal (JSON's escapes are CEL's). */
function str(s: string): string {
  return JSON.stringify(s);
}

function list(xs: readonly string[]): string {
  return `[${xs.map(str).join(', ')}]`;
}

/**
 * `check` over `object`, or an update that leaves a violation `oldObject` already had as it was:
 * `unchanged` (over both) says the field the policy reads did not change, so an old violation
 * never lets a new one through.
 */
function grandfathered(check: (o: string) => string, unchanged: string): string {
  return `(${check('object')}) || (oldObject != null && !(${check('oldObject')}) && ${unchanged})`;
}

export function buildPolicies(config: GovernanceConfig): GovernancePolicy[] {
  const policies: GovernancePolicy[] = [];
  if (config.requiredLabels.length > 0) {
    const keys = list(config.requiredLabels);
    const missing = (o: string) => `${keys}.filter(k, !has(${o}.metadata.labels) || !(k in ${o}.metadata.labels) || ${o}.metadata.labels[k] == "")`;
    policies.push({
      name: 'karb-required-labels',
      description: `every InferenceService carries the labels ${config.requiredLabels.join(', ')}`,
      target: 'inferenceservices',
      expression: grandfathered((o) => `size(${missing(o)}) == 0`, `${missing('object')}.all(k, k in ${missing('oldObject')})`),
      messageExpression: `"metadata.labels must include " + ${missing('object')}.join(", ") + " (required of every InferenceService; add them under metadata.labels)"`,
      message: `metadata.labels must include ${config.requiredLabels.join(', ')} (required of every InferenceService; add them under metadata.labels)`,
      fieldPath: 'metadata.labels',
      reason: 'Invalid',
    });
  }
  if (config.requireResources) {
    const has = (o: string) =>
      ['requests', 'limits'].flatMap((k) => ['cpu', 'memory'].map((r) => `has(${o}.spec.resources.${k}) && has(${o}.spec.resources.${k}.${r})`)).join(' && ');
    policies.push({
      name: 'karb-resources-set',
      description: 'every InferenceService states CPU and memory requests and limits',
      target: 'inferenceservices',
      expression: grandfathered(
        (o) => `has(${o}.spec.resources) && ${has(o)}`,
        'has(object.spec.resources) == has(oldObject.spec.resources) && (!has(object.spec.resources) || object.spec.resources == oldObject.spec.resources)',
      ),
      message: 'spec.resources must set requests.cpu, requests.memory, limits.cpu and limits.memory (e.g. requests: {cpu: "1", memory: 1Gi}, limits: {cpu: "2", memory: 2Gi})',
      fieldPath: 'spec.resources',
      reason: 'Invalid',
    });
  }
  if (config.gpuNamespaces !== undefined) {
    const allowed = config.gpuNamespaces.length === 0 ? 'none' : config.gpuNamespaces.join(', ');
    policies.push({
      name: 'karb-gpu-namespaces',
      description: `only the namespaces ${allowed} may ask for accelerators`,
      target: 'inferenceservices',
      // Both failed, so both ask for an accelerator: admitted only if it is the same.
      expression: grandfathered(
        (o) => `!has(${o}.spec.resources) || !has(${o}.spec.resources.accelerator) || ${o}.metadata.namespace in ${list(config.gpuNamespaces!)}`,
        'object.spec.resources.accelerator == oldObject.spec.resources.accelerator',
      ),
      messageExpression: `"spec.resources.accelerator: namespace " + object.metadata.namespace + " may not use accelerators (allowed: ${allowed}); remove the accelerator or deploy to an allowed namespace"`,
      message: `spec.resources.accelerator: this namespace may not use accelerators (allowed: ${allowed}); remove the accelerator or deploy to an allowed namespace`,
      fieldPath: 'spec.resources.accelerator',
      reason: 'Forbidden',
    });
  }
  if (config.allowedRegistries !== undefined) {
    // A prefix ends at a path separator, so ghcr.io/acme does not admit ghcr.io/acme-evil/….
    const prefixes = config.allowedRegistries.map((r) => (r.endsWith('/') ? r : `${r}/`));
    policies.push({
      name: 'karb-allowed-registries',
      description: `images only from ${prefixes.join(', ')}`,
      target: 'inferenceservices',
      expression: grandfathered((o) => `!has(${o}.spec.model.image) || ${list(prefixes)}.exists(r, ${o}.spec.model.image.startsWith(r))`, 'object.spec.model.image == oldObject.spec.model.image'),
      messageExpression: `"spec.model.image: " + object.spec.model.image + " is not from an allowed registry (${prefixes.join(', ')}); push the image there or ask for the registry to be allowed"`,
      message: `spec.model.image is not from an allowed registry (${prefixes.join(', ')}); push the image there or ask for the registry to be allowed`,
      fieldPath: 'spec.model.image',
      reason: 'Forbidden',
    });
  }
  if (config.requireModelDigest) {
    policies.push({
      name: 'karb-model-digest',
      description: "the built-in server's model file is pinned by spec.model.digest",
      target: 'inferenceservices',
      // A custom server (spec.model.command) reads its model itself; the pin is the image's.
      expression: grandfathered((o) => `!has(${o}.spec.model.uri) || has(${o}.spec.model.command) || has(${o}.spec.model.digest)`, 'object.spec.model.uri == oldObject.spec.model.uri'),
      message: 'spec.model.digest must pin the model file (sha256: and the 64 hex digits sha256sum prints for it), so a replica refuses a file that changed',
      fieldPath: 'spec.model.digest',
      reason: 'Invalid',
    });
  }
  for (const p of config.policies) policies.push(customPolicyOf(p));
  return policies;
}

function customPolicyOf(p: CustomPolicy): GovernancePolicy {
  return {
    name: `karb-${p.name}`,
    description: p.message,
    target: 'inferenceservices',
    expression: p.expression,
    message: p.message,
    fieldPath: p.fieldPath,
    reason: 'Invalid',
  };
}

/**
 * The cluster-only invariant: no privileged container in a team's namespace (those labelled
 * `karb.dev/team`). Embedded karb runs no pods, so there it has nothing to check.
 */
export function privilegedPodsPolicy(): GovernancePolicy {
  const unprivileged = (list: string) => `${list}.all(c, !has(c.securityContext) || !has(c.securityContext.privileged) || c.securityContext.privileged == false)`;
  return {
    name: 'karb-no-privileged-pods',
    description: 'no privileged containers in team namespaces',
    target: 'pods',
    expression: `${unprivileged('object.spec.containers')} && (!has(object.spec.initContainers) || ${unprivileged('object.spec.initContainers')})`,
    message: 'securityContext.privileged is not allowed in a team namespace; remove it (karb model pods run unprivileged)',
    fieldPath: 'spec.containers',
    reason: 'Forbidden',
  };
}
