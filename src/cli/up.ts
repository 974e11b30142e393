/** `karb up`: runs the embedded platform in the foreground until SIGINT/SIGTERM. */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { startPlatform } from '../control/platform.ts';
import { jsonLogger } from '../util/log.ts';
import { applyCommand } from './commands.ts';
import { UsageError } from '../errors.ts';
import { numberFlag, parseFlags, portFlag } from '../util/flags.ts';
import { EDGE_FLAG_OPTIONS, edgeFlagsFrom } from './edge-flags.ts';
import { loadGovernance } from '../governance/config.ts';
import { EmbeddedGovernance } from '../governance/admit.ts';
import { quotaAmounts } from '../governance/quotas.ts';

const USAGE = `Usage: karb up [flags]

  --port N            control plane API and dashboard port (default 8081)
  --gateway-port N    gateway port (default 8080)
  --host ADDR         address to listen on (default 127.0.0.1)
  --state-dir DIR     database, replica records and logs (default .karb; private to this user)
  --models-root DIR   file:// model URIs must lie under DIR; relative ones resolve against it
                      (default: the directory karb up runs in)
  -f, --filename F    apply these manifests once the platform is up (repeatable)
  --gpu-time-slices N replicas that may share one GPU when they ask for sharing: time-slice
                      (default 4; 1 to 64). GPUs are found with nvidia-smi at start
  --governance FILE   check every apply against the governance file's policies (required labels,
                      requests and limits, GPU namespaces, registries, model digests, your own CEL),
                      the same ones karb install --governance gives a cluster; its spec.quotas
                      cap what each namespace's replicas request in all (a replica past it waits Pending)
  --auth MODE         gateway API keys: required (default; create one with karb keys create) or off
  --redis URL         keep rate-limit buckets and async jobs in Redis (shared with karb gateway processes)
  --redis-failure M   when Redis is unreachable: open (admit, default) or closed (503)
  --tls-cert FILE     serve the gateway over HTTPS with this PEM certificate...
  --tls-key FILE      ...and this PEM private key
  --max-connections N client connections held at most; more are closed on arrival
                      (default: half of the open-file limit past 256)
  --headers-timeout D a client must send its request headers within D (default 10s)
  --request-timeout D ...and its whole request, body included, within D (default 60s)
`;

export async function upCommand(args: string[]): Promise<number> {
  const { values } = parseFlags({
    args,
    options: {
      port: { type: 'string' },
      'gateway-port': { type: 'string' },
      host: { type: 'string' },
      'state-dir': { type: 'string' },
      'models-root': { type: 'string' },
      filename: { type: 'string', short: 'f', multiple: true },
      governance: { type: 'string' },
      'gpu-time-slices': { type: 'string' },
      ...EDGE_FLAG_OPTIONS,
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const { edge, tls, connections } = edgeFlagsFrom(values);
  const controlPort = portFlag('--port', values.port, 8081);
  const gatewayPort = portFlag('--gateway-port', values['gateway-port'], 8080);
  if (controlPort === gatewayPort && controlPort !== 0) {
    throw new UsageError(`--port and --gateway-port must differ: the control plane and the gateway cannot share port ${controlPort}`);
  }
  const modelsRoot = modelsRootFlag(values['models-root']);
  const gpuTimeSlices = numberFlag('--gpu-time-slices', values['gpu-time-slices'], 4, { whole: true, min: 1, max: 64, expected: 'a whole number from 1 to 64 (replicas that may share one GPU)' });
  const governanceConfig = values.governance === undefined ? undefined : loadGovernance(values.governance);
  const governance = governanceConfig === undefined ? undefined : new EmbeddedGovernance(governanceConfig);
  // Everything karb up and its replicas create — SQLite's -wal and -shm files included, which no
  // mode argument reaches — is readable by this user only.
  process.umask(0o077);
  const log = jsonLogger();
  const platform = await startPlatform({
    edge,
    connections,
    ...(tls ? { tls } : {}),
    controlPort,
    gatewayPort,
    ...(values.host ? { host: values.host } : {}),
    ...(values['state-dir'] ? { stateDir: values['state-dir'] } : {}),
    modelsRoot,
    gpuTimeSlices,
    ...(governance ? { governance } : {}),
    ...(governanceConfig ? { quotas: quotaAmounts(governanceConfig) } : {}),
    log,
  });
  process.stderr.write(`karb is up: gateway ${platform.gatewayUrl}, control plane ${platform.controlUrl}, dashboard ${platform.controlUrl}/ (its admin token: ${resolve(values['state-dir'] ?? '.karb', 'admin-token')})\n`);
  if ((edge.auth ?? 'required') === 'required' && platform.keys.activeCount() === 0) {
    process.stderr.write(`the gateway requires API keys and none exists yet; create one: karb keys create --namespace default (or start with --auth off)\n`);
  }

  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log({ level: 'info', msg: 'stopping', signal });
      platform.close().then(resolve, resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });

  if (values.filename?.length) {
    const args = values.filename.flatMap((f) => ['-f', f]);
    const code = await applyCommand([...args, '--server', platform.controlUrl, '--token', platform.adminToken], process.stderr).catch((err: Error) => {
      process.stderr.write(`karb: ${err.message}\n`);
      return 1;
    });
    if (code !== 0) log({ level: 'warn', msg: 'some manifests were not applied; the platform keeps running' });
  }
  await stopped;
  return 0;
}

/** The models root must be a directory that exists: a typo would otherwise refuse every apply. */
function modelsRootFlag(value: string | undefined): string {
  const dir = resolve(value ?? process.cwd());
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    // Reported below.
  }
  if (!isDir) throw new UsageError(`--models-root ${value} is not a directory; name the directory your model files are under`);
  return dir;
}
