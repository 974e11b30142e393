/**
 * `karb controller`: reconciles the InferenceServices of a Kubernetes cluster into Deployments,
 * Services, PDBs, NetworkPolicies and autoscalers (src/control/kubernetes). Serves /healthz,
 * /readyz (ready while leading) and the gateways' API on --port; exits 1 when it loses the Lease,
 * so its pod restarts and rejoins the election.
 */
import { loadPools } from './pools-file.ts';
import { startController } from '../control/kubernetes/controller.ts';
import { UsageError } from '../errors.ts';
import { CONTROLLER_PORT, METRICS_API_PORT } from '../runtime/kubernetes/install.ts';
import { durationFlag, namespaceFlag, parseFlags, podNamespace, portFlag } from '../util/flags.ts';
import { jsonLogger } from '../util/log.ts';

const USAGE = `Usage: karb controller [flags]

  --kubeconfig FILE      credentials (default $KUBECONFIG, ~/.kube/config, or the pod's service account)
  --namespace NS         watch one namespace only (default: all)
  --leader-elect         act only while holding the Lease karb-controller (run several for failover)
  --lease-namespace NS   where the Lease lives (default $KARB_NAMESPACE, the pod's namespace, or karb-system)
  --lease-duration D     a Lease unrenewed this long is taken over (default 15s)
  --image IMAGE          karb's image, which runs the built-in model server (default ghcr.io/karb-dev/karb:<version>)
  --system-namespace NS  where karb's gateway runs: model pods admit traffic from there (default $KARB_NAMESPACE or karb-system)
  --pools FILE           the cluster's node pools (kind: Pools): how each finds its nodes and the
                         taints they carry; spec.placement.pools names them in order of preference
                         (without it, a pool is the nodes labelled karb.dev/pool=<name>); a service
                         naming an on-prem and an elastic pool goes elastic only while its SLO is at risk
  --port N               serve /healthz, /readyz (ready while leading), the gateways' signal
                         reports and activations, and the dashboard (/, for Kubernetes users
                         RBAC lets get InferenceServices) on this port (default 8081)
  --host ADDR            address of that port (default 0.0.0.0, every address of the pod)
  --identity NAME        this controller in the Lease and in Events (default $KARB_POD_NAME, else host name and a random suffix)

  The custom metrics API (custom.metrics.k8s.io/v1beta2), through which the cluster's HPA runs
  the hpa-service policy; served over HTTPS when a certificate is given (karb install
  --metrics-api-ca registers it with the API server):
  --metrics-api-cert FILE  PEM serving certificate, for karb-controller.<system namespace>.svc
  --metrics-api-key FILE   its PEM private key
  --metrics-api-port N     its port (default ${METRICS_API_PORT})
  --metrics-api-host ADDR  its address (default 0.0.0.0)
`;

export async function controllerCommand(args: string[]): Promise<number> {
  const { values } = parseFlags({
    args,
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string' },
      'leader-elect': { type: 'boolean' },
      'lease-namespace': { type: 'string' },
      'lease-duration': { type: 'string' },
      image: { type: 'string' },
      'system-namespace': { type: 'string' },
      pools: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      identity: { type: 'string' },
      'metrics-api-cert': { type: 'string' },
      'metrics-api-key': { type: 'string' },
      'metrics-api-port': { type: 'string' },
      'metrics-api-host': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const namespace = namespaceFlag('--namespace', values.namespace, undefined);
  const leaseDurationMs = durationFlag('--lease-duration', values['lease-duration'], undefined, { min: 2000, minText: '2s' });
  const port = portFlag('--port', values.port, CONTROLLER_PORT);
  // In its pod (karb install), the controller's namespace is the system namespace and its pod name its identity.
  const inPod = podNamespace();
  const systemNamespace = namespaceFlag('--system-namespace', values['system-namespace'], inPod);
  const leaseNamespace = namespaceFlag('--lease-namespace', values['lease-namespace'], inPod);
  const identity = values.identity ?? process.env.KARB_POD_NAME;
  const customMetrics = metricsApiFlags(values);
  const pools = values.pools === undefined ? undefined : loadPools(values.pools);
  const log = jsonLogger();

  const controller = await startController({
    ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
    ...(namespace ? { namespace } : {}),
    ...(identity ? { identity } : {}),
    leaderElect: values['leader-elect'] === true,
    ...(leaseNamespace ? { leaseNamespace } : {}),
    ...(leaseDurationMs ? { leaseDurationMs, renewMs: Math.max(500, Math.floor(leaseDurationMs / 3)) } : {}),
    cluster: { ...(values.image ? { image: values.image } : {}), ...(systemNamespace ? { systemNamespace } : {}), ...(pools ? { pools } : {}) },
    port,
    ...(values.host ? { host: values.host } : {}),
    ...(customMetrics ? { customMetrics } : {}),
    log,
  });
  process.stderr.write(
    `karb controller is up${namespace ? ` in namespace ${namespace}` : ''}${values['leader-elect'] ? ', leading' : ''}, on ${controller.url}${controller.customMetricsUrl ? `; custom metrics API on ${controller.customMetricsUrl}` : ''}\n`,
  );

  const code = await new Promise<number>((resolve) => {
    process.once('SIGINT', () => resolve(0));
    process.once('SIGTERM', () => resolve(0));
    void controller.lost.then(() => resolve(1));
  });
  await controller.close();
  if (code !== 0) process.stderr.write('karb controller: lost the Lease; exiting so a fresh start rejoins the election\n');
  return code;
}

/** The custom metrics API's flags: a certificate and its key turn it on; port and host only go with them. */
function metricsApiFlags(values: Record<string, string | boolean | undefined>): { port: number; host?: string; certFile: string; keyFile: string } | undefined {
  const cert = values['metrics-api-cert'] as string | undefined;
  const key = values['metrics-api-key'] as string | undefined;
  const port = values['metrics-api-port'] as string | undefined;
  const host = values['metrics-api-host'] as string | undefined;
  if (cert === undefined && key === undefined) {
    const stray = port !== undefined ? '--metrics-api-port' : host !== undefined ? '--metrics-api-host' : undefined;
    if (stray) throw new UsageError(`${stray} goes with --metrics-api-cert and --metrics-api-key: the custom metrics API is served over HTTPS only`);
    return undefined;
  }
  if (cert === undefined || key === undefined) throw new UsageError(`the custom metrics API needs both --metrics-api-cert and --metrics-api-key (got only ${cert === undefined ? '--metrics-api-key' : '--metrics-api-cert'})`);
  return { port: portFlag('--metrics-api-port', port, METRICS_API_PORT), certFile: cert, keyFile: key, ...(host ? { host } : {}) };
}
