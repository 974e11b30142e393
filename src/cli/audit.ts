/**
 * `karb audit [--limit N]`: the control plane's audit log, newest first — who changed what, and
 * every refused call (src/control/access/audit-log.ts). Needs a token with role admin.
 */
import { ControlPlaneClient } from './client.ts';
import { outputFormat, renderStructured, renderTable } from './output.ts';
import { UsageError } from '../errors.ts';
import { numberFlag, parseFlags } from '../util/flags.ts';
import { AUDIT_KEEP, type AuditRecord } from '../control/access/audit-log.ts';
import { AUDIT_DEFAULT_LIMIT } from '../control/access/access-api.ts';

const USAGE = `Usage: karb audit [--limit N] [-o table|yaml|json]

  Calls to the control plane that changed something, and refused ones, newest first
  (the newest ${AUDIT_KEEP} are kept). Needs a token with role admin.

  --limit N      records to show, 1 to ${AUDIT_KEEP} (default ${AUDIT_DEFAULT_LIMIT})
  --server URL   control plane (default $KARB_SERVER or http://127.0.0.1:8081)
  --token T      a token with role admin (default $KARB_TOKEN or .karb/admin-token)
`;

export async function auditCommand(args: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseFlags({
    args,
    options: { server: { type: 'string' }, token: { type: 'string' }, limit: { type: 'string' }, output: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    out.write(USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`audit takes flags only, not '${positionals[0]!.slice(0, 40)}'`);
  const limit = numberFlag('--limit', values.limit, AUDIT_DEFAULT_LIMIT, { whole: true, min: 1, max: AUDIT_KEEP });
  const format = outputFormat(values.output);
  const { items } = await new ControlPlaneClient(values.server, values.token).get<{ items: AuditRecord[] }>(`/api/v1/audit?limit=${limit}`);
  if (format !== 'table') {
    out.write(renderStructured({ items }, format));
    return 0;
  }
  out.write(renderTable(['TIME', 'ACTOR', 'ROLE', 'METHOD', 'PATH', 'TARGET', 'OUTCOME'], items.map((r) => [r.time, r.actor, r.role ?? '-', r.method, r.path, r.target ?? '-', String(r.outcome)])));
  return 0;
}
