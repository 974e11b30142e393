/** `karb install`: prints the manifests that install karb on a cluster (`karb install | kubectl apply -f -`). */
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.ts';
import { buildInstallObjects, CONTROLLER_NAME, METRICS_API_SECRET } from '../runtime/kubernetes/install.ts';
import { DEFAULT_CLUSTER_OPTIONS } from '../runtime/kubernetes/options.ts';
import { flagError, namespaceFlag, parseFlags } from '../util/flags.ts';
import { manifestYaml } from './render-plan.ts';
import { loadGovernance } from '../governance/config.ts';
import { withGovernance } from '../governance/kubernetes.ts';

export const INSTALL_USAGE = `Usage: karb install [--namespace NS] [--image IMAGE] [--metrics-api-ca FILE] [--governance FILE] [--team NAME]...

Prints, as YAML, what installs karb on a cluster: the namespace (Pod Security "restricted"), the
InferenceService CRD, the controller and gateway with their least-privilege RBAC, and the roles
for people (karb-viewer, karb-deployer, karb-admin: bind them in a team's namespace).
  karb install | kubectl apply -f -

  -n, --namespace NS     namespace of karb's controller and gateway (default ${DEFAULT_CLUSTER_OPTIONS.systemNamespace})
  --image IMAGE          karb's image (default ${DEFAULT_CLUSTER_OPTIONS.image})
  --metrics-api-ca FILE  also register the controller's custom metrics API, which the HPA of the
                         hpa-service policy reads: FILE is the PEM CA that signed the certificate in
                         Secret ${METRICS_API_SECRET} (type kubernetes.io/tls, for the name
                         ${CONTROLLER_NAME}.<namespace>.svc), which you create; the APIService
                         verifies the controller against it
  --governance FILE      the governance file's policies (required labels, requests and limits, GPU
                         namespaces, allowed registries, model digests, no privileged pods, your
                         own CEL) as ValidatingAdmissionPolicies; karb up --governance enforces the same
  --team NAME            a team's namespace: Pod Security "restricted", label karb.dev/team=NAME,
                         NetworkPolicies that deny what karb's traffic does not need (repeatable)
`;

export function installCommand(args: string[], out: NodeJS.WritableStream): number {
  const { values, positionals } = parseFlags({
    args,
    options: {
      namespace: { type: 'string', short: 'n' },
      image: { type: 'string' },
      'metrics-api-ca': { type: 'string' },
      governance: { type: 'string' },
      team: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    out.write(INSTALL_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`install takes no arguments, got '${positionals[0]}' (try: karb install --namespace ${positionals[0]})`);
  const systemNamespace = namespaceFlag('--namespace', values.namespace, DEFAULT_CLUSTER_OPTIONS.systemNamespace);
  const image = values.image ?? DEFAULT_CLUSTER_OPTIONS.image;
  if (image.trim() === '' || /\s/.test(image)) throw flagError('--image', 'an image reference such as ghcr.io/karb-dev/karb:0.1.0', image);
  const metricsApiCa = values['metrics-api-ca'] === undefined ? undefined : readCa(values['metrics-api-ca']);
  const governance = values.governance === undefined ? undefined : loadGovernance(values.governance);
  const teams = (values.team ?? []).map((t) => namespaceFlag('--team', t, ''));
  if (teams.includes(systemNamespace)) throw new UsageError(`--team ${systemNamespace} is karb's own namespace; name a team's namespace`);
  const install = buildInstallObjects({ systemNamespace, image, ...(metricsApiCa !== undefined ? { metricsApiCa } : {}) });
  out.write(manifestYaml(withGovernance(install, { teams, ...(governance !== undefined ? { governance } : {}) })));
  return 0;
}

function readCa(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--metrics-api-ca: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`--metrics-api-ca must be a PEM certificate file (-----BEGIN CERTIFICATE-----), got ${file}`);
  return pem;
}
