/**
 * `karb keys create|list|revoke`: gateway API keys, through the control plane's
 * admin API. `create` prints the key alone on stdout (so `KEY=$(karb keys
 * create ...)` works) and the record on stderr; the key is never shown again.
 */
import { KEY_LIFETIME_FORMS, parseKeyLifetime, type KeySummary } from '../gateway/edge/keys.ts';
import { ControlPlaneClient } from './client.ts';
import { age, outputFormat, renderStructured, renderTable } from './output.ts';
import { UsageError } from '../errors.ts';
import { numberFlag, parseFlags } from '../util/flags.ts';

const USAGE = `Usage:
  karb keys create --namespace NS [--services a,b] [--rps N] [--burst N] [--expires 30d] [--name LABEL]
  karb keys list [-o table|yaml|json]
  karb keys revoke ID

  --server URL   control plane (default $KARB_SERVER or http://127.0.0.1:8081)
  --token T      admin token (default $KARB_TOKEN or .karb/admin-token)
`;

const OPTIONS = {
  server: { type: 'string' },
  token: { type: 'string' },
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
  const client = new ControlPlaneClient(values.server, values.token);
  switch (verb) {
    case 'create': {
      if (rest.length > 0) throw new UsageError(`keys create takes flags only, not '${rest[0]}'`);
      if (!values.namespace) throw new UsageError('keys create needs --namespace NS (the namespace whose services the key may call)');
      const body = {
        namespace: values.namespace,
        ...(values.services ? { services: values.services.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
        ...(values.rps !== undefined ? { rps: positive('--rps', values.rps) } : {}),
        ...(values.burst !== undefined ? { burst: positive('--burst', values.burst) } : {}),
        ...(values.expires !== undefined ? { expires: lifetime(values.expires) } : {}),
        ...(values.name !== undefined ? { name: values.name } : {}),
      };
      const { body: created } = await client.request<{ key: string; record: KeySummary }>('POST', '/api/v1/keys', JSON.stringify(body));
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
      const { items } = await client.get<{ items: KeySummary[] }>('/api/v1/keys');
      const format = outputFormat(values.output);
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
      await client.request('DELETE', `/api/v1/keys/${id}`);
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
