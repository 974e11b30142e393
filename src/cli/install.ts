/** `karb install`: prints the manifests that install karb on a cluster (`karb install | kubectl apply -f -`). */
import { UsageError } from '../errors.ts';
import { buildInstallObjects } from '../runtime/kubernetes/install.ts';
import { DEFAULT_CLUSTER_OPTIONS } from '../runtime/kubernetes/options.ts';
import { flagError, namespaceFlag, parseFlags } from '../util/flags.ts';
import { manifestYaml } from './render-plan.ts';

export const INSTALL_USAGE = `Usage: karb install [--namespace NS] [--image IMAGE]

Prints, as YAML, what installs karb on a cluster: the namespace (Pod Security "restricted"), the
InferenceService CRD, the controller and gateway with their least-privilege RBAC.
  karb install | kubectl apply -f -

  -n, --namespace NS   namespace of karb's controller and gateway (default ${DEFAULT_CLUSTER_OPTIONS.systemNamespace})
  --image IMAGE        karb's image (default ${DEFAULT_CLUSTER_OPTIONS.image})
`;

export function installCommand(args: string[], out: NodeJS.WritableStream): number {
  const { values, positionals } = parseFlags({
    args,
    options: { namespace: { type: 'string', short: 'n' }, image: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
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
  out.write(manifestYaml(buildInstallObjects({ systemNamespace, image })));
  return 0;
}
