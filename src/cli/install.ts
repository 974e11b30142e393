/** `karb install`: prints the manifests that install karb on a cluster (`karb install | kubectl apply -f -`). */
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.ts';
import { buildInstallObjects, CONTROLLER_NAME, METRICS_API_SECRET } from '../runtime/kubernetes/install.ts';
import { DEFAULT_CLUSTER_OPTIONS } from '../runtime/kubernetes/options.ts';
import { flagError, namespaceFlag, parseFlags } from '../util/flags.ts';
import { manifestYaml } from './render-plan.ts';

export const INSTALL_USAGE = `Usage: karb install [--namespace NS] [--image IMAGE] [--metrics-api-ca FILE]

Prints, as YAML, what installs karb on a cluster: the namespace (Pod Security "restricted"), the
InferenceService CRD, the controller and gateway with their least-privilege RBAC.
  karb install | kubectl apply -f -

  -n, --namespace NS     namespace of karb's controller and gateway (default ${DEFAULT_CLUSTER_OPTIONS.systemNamespace})
  --image IMAGE          karb's image (default ${DEFAULT_CLUSTER_OPTIONS.image})
  --metrics-api-ca FILE  also register the controller's custom metrics API, which the HPA of the
                         hpa-service policy reads: FILE is the PEM CA that signed the certificate in
                         Secret ${METRICS_API_SECRET} (type kubernetes.io/tls, for the name
                         ${CONTROLLER_NAME}.<namespace>.svc), which you create; the APIService
                         verifies the controller against it
`;

export function installCommand(args: string[], out: NodeJS.WritableStream): number {
  const { values, positionals } = parseFlags({
    args,
    options: { namespace: { type: 'string', short: 'n' }, image: { type: 'string' }, 'metrics-api-ca': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
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
  out.write(manifestYaml(buildInstallObjects({ systemNamespace, image, ...(metricsApiCa !== undefined ? { metricsApiCa } : {}) })));
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
