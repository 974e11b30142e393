/**
 * `karb tokens create|list|revoke`: people's access tokens for karb up's control plane, each
 * with a role (viewer, deployer, admin), through its API (admin only). `create` prints the token
 * alone on stdout (so `TOKEN=$(karb tokens create ...)` works) and what it made on stderr; the
 * token is never shown again.
 */
import { ControlPlaneClient } from './client.ts';
import { age, outputFormat, renderStructured, renderTable } from './output.ts';
import { UsageError } from '../errors.ts';
import { parseFlags } from '../util/flags.ts';
import { isRole, ROLES } from '../control/access/roles.ts';
import { tokenNameProblem, type TokenSummary } from '../control/access/token-store.ts';

const USAGE = `Usage:
  karb tokens create --role viewer|deployer|admin --name NAME
  karb tokens list [-o table|yaml|json]
  karb tokens revoke NAME

  viewer reads everything but API keys, tokens and the audit log; deployer also applies and
  deletes services and steers rollouts; admin does everything. Managing tokens needs admin.

  --server URL   control plane (default $KARB_SERVER or http://127.0.0.1:8081)
  --token T      a token with role admin (default $KARB_TOKEN or .karb/admin-token)
`;

const OPTIONS = {
  server: { type: 'string' },
  token: { type: 'string' },
  role: { type: 'string' },
  name: { type: 'string' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function tokensCommand(args: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseFlags({ args, options: OPTIONS, allowPositionals: true, strict: true });
  const [verb, ...rest] = positionals;
  if (values.help || verb === undefined) {
    out.write(USAGE);
    return values.help ? 0 : 2;
  }
  const onlyFor = (flag: 'role' | 'name' | 'output', verbs: string[]) => {
    if (values[flag] !== undefined && !verbs.includes(verb)) throw new UsageError(`--${flag} goes with tokens ${verbs.join(' or ')}, not tokens ${verb}`);
  };
  switch (verb) {
    case 'create': {
      onlyFor('output', ['list']);
      if (rest.length > 0) throw new UsageError(`tokens create takes flags only, not '${rest[0]!.slice(0, 40)}'`);
      if (values.role === undefined) throw new UsageError(`tokens create needs --role ${ROLES.join('|')}`);
      if (!isRole(values.role)) throw new UsageError(`--role must be ${ROLES.join(', ')} (got ${values.role.slice(0, 40)})`);
      if (values.name === undefined) throw new UsageError('tokens create needs --name NAME (the name it is listed, revoked and audited by)');
      const problem = tokenNameProblem(values.name);
      if (problem !== undefined) throw new UsageError(`--name: ${problem}`);
      const client = new ControlPlaneClient(values.server, values.token);
      const { body } = await client.request<{ token: string; record: TokenSummary }>('POST', '/api/v1/tokens', JSON.stringify({ name: values.name, role: values.role }));
      out.write(`${body.token}\n`);
      err.write(`created token ${body.record.name} with role ${body.record.role}; this is the only time it is shown (revoke it with karb tokens revoke ${body.record.name})\n`);
      return 0;
    }
    case 'list': {
      onlyFor('role', ['create']);
      onlyFor('name', ['create']);
      if (rest.length > 0) throw new UsageError(`tokens list takes no arguments, not '${rest[0]!.slice(0, 40)}'`);
      const format = outputFormat(values.output);
      const { items } = await new ControlPlaneClient(values.server, values.token).get<{ items: TokenSummary[] }>('/api/v1/tokens');
      if (format !== 'table') {
        out.write(renderStructured({ items }, format));
        return 0;
      }
      out.write(renderTable(['NAME', 'ROLE', 'CREATED', 'LAST-USED'], items.map((t) => [t.name, t.role, age(t.createdAt), t.lastUsedAt ? age(t.lastUsedAt) : '-'])));
      return 0;
    }
    case 'revoke': {
      onlyFor('role', ['create']);
      onlyFor('name', ['create']);
      onlyFor('output', ['list']);
      if (rest.length !== 1) throw new UsageError('tokens revoke takes one token name (karb tokens list shows them)');
      const name = rest[0]!;
      if (tokenNameProblem(name) !== undefined) throw new UsageError(`'${name.slice(0, 40)}' is not a token name; karb tokens list shows them`);
      await new ControlPlaneClient(values.server, values.token).request('DELETE', `/api/v1/tokens/${name}`);
      out.write(`revoked token ${name}\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown tokens command '${verb.slice(0, 40)}'; use create, list or revoke`);
  }
}
