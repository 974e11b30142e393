/**
 * The governance file: which of the KARB invariants a platform enforces, and with what values.
 * Declared once and read by both runtimes: `karb up --governance FILE` evaluates the policies in
 * its own admission, `karb install --governance FILE` renders them as ValidatingAdmissionPolicies
 * for the API server (policies.ts builds the one CEL text both use).
 *
 *   apiVersion: karb.dev/v1alpha1
 *   kind: Governance
 *   spec:
 *     action: Deny                       # or Warn: admit, but say what is wrong
 *     requiredLabels: [team, cost-center]
 *     requireResources: true             # requests and limits for CPU and memory
 *     gpuNamespaces: [ml-gpu]            # only these may ask for an accelerator
 *     allowedRegistries: [ghcr.io/acme/] # images only from these prefixes
 *     requireModelDigest: true           # the built-in server's model pinned by spec.model.digest
 *     noPrivilegedPods: true             # on a cluster: in namespaces labelled karb.dev/team
 *     quotas: { risk: { gpus: 4, cpu: "32", memory: 128Gi } } # what a namespace's replicas request in all
 *     policies: []                       # more: { name, expression, message, fieldPath }
 */
import { z } from 'zod';
import { parseConfigDocument, readConfigFile } from '../api/config-file.ts';
import { API_VERSION } from '../api/schema.ts';
import { UsageError } from '../errors.ts';
import { compile } from './cel.ts';

export const GOVERNANCE_KIND = 'Governance';

const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// A registry host (with an optional port), then optional path segments: what an image reference starts with.
const REGISTRY_PREFIX = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?(\/[a-z0-9._-]+)*\/?$/;
const POLICY_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const customPolicy = z.strictObject({
  name: z.string().max(40, 'must be at most 40 characters (it becomes karb-<name>)').regex(POLICY_NAME, 'must be lowercase letters, digits and "-", e.g. max-replicas'),
  /** CEL over `object` (the InferenceService) and `oldObject` (its stored version, or null): true admits. */
  expression: z.string().min(1, 'must be a CEL expression that is true for an admitted InferenceService'),
  message: z.string().min(1, 'must say what is wrong and how to fix it'),
  fieldPath: z.string().regex(/^(metadata|spec)(\.[A-Za-z0-9_-]+)*$/, 'must be a field path such as spec.scaling.maxReplicas').default('spec'),
});

export const GovernanceSpec = z.strictObject({
  action: z.enum(['Deny', 'Warn']).default('Deny'),
  requiredLabels: z.array(z.string().regex(LABEL_KEY, 'must be a label key such as team or karb.dev/cost-center')).max(32).default(['team', 'cost-center']),
  requireResources: z.boolean().default(true),
  gpuNamespaces: z.array(z.string().max(63).regex(NAMESPACE, 'must be a namespace name such as ml-gpu')).max(256).optional(),
  allowedRegistries: z
    .array(z.string().max(253).regex(REGISTRY_PREFIX, 'must be a registry, optionally with a path, such as ghcr.io/acme or registry.local:5000/models'))
    .min(1, 'must name at least one registry (leave the field out to allow any)')
    .max(64)
    .optional(),
  requireModelDigest: z.boolean().default(false),
  noPrivilegedPods: z.boolean().default(true),
  /** Per team namespace, the most its replicas may request in all (a ResourceQuota on a cluster; embedded, the local runtime holds them to it: quotas.ts). */
  quotas: z
    .record(
      z.string().max(63).regex(NAMESPACE, 'must be a namespace name such as risk'),
      z.strictObject({
        gpus: z.int('must be a whole number of GPUs').min(0).max(100_000).optional(),
        cpu: z.string().regex(/^\d+(\.\d+)?m?$/, 'must be a CPU quantity such as "32" or "500m"').optional(),
        memory: z.string().regex(/^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$/, 'must be a memory quantity such as 128Gi').optional(),
      }),
    )
    .default({}),
  policies: z.array(customPolicy).max(32).default([]),
});

export type GovernanceConfig = z.infer<typeof GovernanceSpec>;
export type CustomPolicy = z.infer<typeof customPolicy>;

const GovernanceDocument = z.strictObject({
  apiVersion: z.literal(API_VERSION, `must be ${API_VERSION}`),
  kind: z.literal(GOVERNANCE_KIND, `must be ${GOVERNANCE_KIND}`),
  metadata: z.strictObject({ name: z.string().optional() }).optional(),
  spec: GovernanceSpec.prefault({}),
});

/** Parses a governance document; every error names its field. */
export function parseGovernance(text: string, source: string): GovernanceConfig {
  const spec = parseConfigDocument(text, source, GOVERNANCE_KIND, GovernanceDocument).spec;
  const names = new Set<string>();
  for (const [i, p] of spec.policies.entries()) {
    if (names.has(p.name)) throw new UsageError(`${source}: invalid ${GOVERNANCE_KIND}: spec.policies[${i}].name: ${p.name} is used twice`);
    names.add(p.name);
    try {
      compile(p.expression, `policy karb-${p.name}`);
    } catch (err) {
      throw new UsageError(`${source}: invalid ${GOVERNANCE_KIND}: spec.policies[${i}].expression: ${(err as Error).message}`);
    }
  }
  return spec;
}

/** Reads `--governance FILE`. */
export function loadGovernance(file: string): GovernanceConfig {
  return parseGovernance(readConfigFile('--governance', file), file);
}
