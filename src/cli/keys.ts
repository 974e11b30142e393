/**
 * `karb keys create|list|revoke`: gateway API keys, through the control plane's
 * admin API, or with `--kubernetes` as Secrets in karb's system namespace
 * (src/control/kubernetes/key-secrets.ts) with the caller's kubeconfig. `create`
 * prints the key alone on stdout (so `KEY=$(karb keys create ...)` works) and
 * the record on stderr; the key is never shown again.
 */
import { KEY_LIFETIME_FORMS, parseKeyLifetime, type KeySummary } from '../gateway/edge/keys.ts';
import { ControlPlaneClient } from './client.ts';
import { age, outputFormat, renderStructured, renderTable } from './output.ts';
import { UsageError } from '../errors.ts';
import { namespaceFlag, numberFlag, parseFlags } from '../util/flags.ts';
import { ClusterKeys } from '../control/kubernetes/key-secrets.ts';
import { KubeClient } from '../runtime/kubernetes/api-client.ts';
import { DEFAULT_CLUSTER_OPTIONS } from '../runtime/kubernetes/options.ts';
import { systemClock } from '../util/clock.ts';

const USAGE = `Usage:
  karb keys create --namespace NS [--services a,b] [--rps N] [--burst N] [--expires 30d] [--name LABEL]
  karb keys list [-o table|yaml|json]
  karb keys revoke ID

  --server URL   control plane (default $KARB_SERVER or http://127.0.0.1:8081)
  --token T      admin token (default $KARB_TOKEN or .karb/admin-token)
  --kubernetes   keys of a cluster: Secrets in karb's system namespace, which its gateways read
  --kubeconfig F with --kubernetes: credentials (default $KUBECONFIG or ~/.kube/config)
  --system-namespace NS  with --kubernetes: where karb runs (default karb-system)
`;

const OPTIONS = {
  server: { type: 'string' },
  token: { type: 'string' },
  kubernetes: { type: 'boolean' },
  kubeconfig: { type: 'string' },
  'system-namespace': { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  services: { type: 'string' },
  rps: { type: 'string' },
  burst: { type: 'string' },
  expires: { type: 'string' },
  name: { type: 'string' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function keysCommand(args: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseFlags({ args, options: OPTIONS, allowPositionals: true, strict: true });
  const [verb, ...rest] = positionals;
  if (values.help || verb === undefined) {
    out.write(USAGE);
    return values.help ? 0 : 2;
  }
  if (!['create', 'list', 'revoke'].includes(verb)) throw new UsageError(`unknown keys command '${verb}'; use create, list or revoke`);
  const keys = values.kubernetes ? await clusterKeys(values) : controlPlaneKeys(values);
  try {
    return await keysVerb(keys, verb, rest, values, out, err);
  } finally {
    await keys.close();
  }
}

/** Where keys are kept: the control plane's key store, or a cluster's Secrets. */
interface Keys {
  create(input: { namespace: string; services?: string[]; rps?: number; burst?: number; expires?: string; name?: string }): Promise<{ key: string; record: KeySummary }>;
  list(): Promise<KeySummary[]>;
  revoke(id: string): Promise<void>;
  close(): Promise<void>;
}

function controlPlaneKeys(values: { server?: string | undefined; token?: string | undefined; kubeconfig?: string | undefined; 'system-namespace'?: string | undefined }): Keys {
  for (const flag of ['kubeconfig', 'system-namespace'] as const) if (values[flag] !== undefined) throw new UsageError(`--${flag} goes with --kubernetes`);
  const client = new ControlPlaneClient(values.server, values.token);
  return {
    create: async (body) => (await client.request<{ key: string; record: KeySummary }>('POST', '/api/v1/keys', JSON.stringify(body))).body,
    list: async () => (await client.get<{ items: KeySummary[] }>('/api/v1/keys')).items,
    revoke: async (id) => void (await client.request('DELETE', `/api/v1/keys/${id}`)),
    close: async () => {},
  };
}

async function clusterKeys(values: { server?: string | undefined; token?: string | undefined; kubeconfig?: string | undefined; 'system-namespace'?: string | undefined }): Promise<Keys> {
  for (const flag of ['server', 'token'] as const) if (values[flag] !== undefined) throw new UsageError(`--${flag} names a karb up; with --kubernetes keys are Secrets of the cluster --kubeconfig names`);
  const systemNamespace = namespaceFlag('--system-namespace', values['system-namespace'], DEFAULT_CLUSTER_OPTIONS.systemNamespace);
  const client = await KubeClient.connect(values.kubeconfig);
  const keys = new ClusterKeys(client, systemNamespace, systemClock);
  return {
    create: (body) => keys.create({ ...body, ...(body.expires ? { lifetimeMs: parseKeyLifetime(body.expires)! } : {}) }),
    list: () => keys.list(),
    revoke: async (id) => void (await keys.revoke(id)),
    close: () => client.close(),
  };
}

async function keysVerb(keys: Keys, verb: string, rest: string[], values: Record<string, string | boolean | undefined>, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  switch (verb) {
    case 'create': {
      if (rest.length > 0) throw new UsageError(`keys create takes flags only, not '${rest[0]}'`);
      if (!values.namespace) throw new UsageError('keys create needs --namespace NS (the namespace whose services the key may call)');
      const text = (flag: string) => values[flag] as string | undefined;
      const body = {
        namespace: values.namespace as string,
        ...(text('services') ? { services: text('services')!.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
        ...(text('rps') !== undefined ? { rps: positive('--rps', text('rps')!) } : {}),
        ...(text('burst') !== undefined ? { burst: positive('--burst', text('burst')!) } : {}),
        ...(text('expires') !== undefined ? { expires: lifetime(text('expires')!) } : {}),
        ...(text('name') !== undefined ? { name: text('name')! } : {}),
      };
      const created = await keys.create(body);
      out.write(`${created.key}\n`);
      err.write(
        `created API key ${created.record.id} for namespace ${created.record.namespace}` +
          `${created.record.services ? ` (services ${created.record.services.join(',')})` : ''}` +
          `${created.record.rps !== null ? `, ${created.record.rps} requests/s` : ''}` +
          `${created.record.expiresAt ? `, expires ${created.record.expiresAt}` : ''}; this is the only time the key is shown\n`,
      );
      return 0;
    }
    case 'list': {
      const items = await keys.list();
      const format = outputFormat(values.output as string | undefined);
      if (format !== 'table') {
        out.write(renderStructured({ items }, format));
        return 0;
      }
      out.write(
        renderTable(
          ['ID', 'NAME', 'NAMESPACE', 'SERVICES', 'RPS', 'EXPIRES', 'CREATED', 'LAST-USED', 'STATE'],
          items.map((k) => [
            k.id,
            k.name || '-',
            k.namespace,
            k.services?.join(',') ?? '*',
            k.rps === null ? '-' : `${k.rps}${k.burst !== null ? `/${k.burst}` : ''}`,
            k.expiresAt ?? 'never',
            age(k.createdAt),
            k.lastUsedAt ? age(k.lastUsedAt) : '-',
            k.revokedAt ? 'revoked' : k.expiresAt !== null && Date.parse(k.expiresAt) <= Date.now() ? 'expired' : 'active',
          ]),
        ),
      );
      return 0;
    }
    case 'revoke': {
      if (rest.length !== 1) throw new UsageError('keys revoke takes one key id (karb keys list shows them)');
      const id = rest[0]!;
      if (!/^[0-9a-f]{16}$/.test(id)) throw new UsageError(`'${id.slice(0, 40)}' is not a key id; ids are 16 hex characters (karb keys list shows them)`);
      await keys.revoke(id);
      out.write(`revoked API key ${id}\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown keys command '${verb}'; use create, list or revoke`);
  }
}

function positive(flag: string, value: string): number {
  return numberFlag(flag, value, 0, { above: 0, expected: 'a number greater than 0' });
}

/** Checked here as the control plane will, so a lifetime it refuses is a usage error before any request. */
function lifetime(value: string): string {
  if (parseKeyLifetime(value) === undefined) throw new UsageError(`--expires must be ${KEY_LIFETIME_FORMS} (got ${value.slice(0, 40)})`);
  return value;
}
