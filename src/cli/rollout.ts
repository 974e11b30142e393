/**
 * `karb rollout status|promote|abort|pause|resume NAME`: a thin client of
 * `/api/v1/services/{name}/rollout`. `status` prints the phase, the traffic
 * split and the last analysis; the commands print the rollout after the change.
 */
import { parseArgs } from 'node:util';
import type { RolloutStatus } from '../rollout/status.ts';
import { ControlPlaneClient } from './client.ts';
import { outputFormat, renderStructured, renderTable } from './output.ts';
import { UsageError } from './usage.ts';

const USAGE = `Usage: karb rollout status|promote|abort|pause|resume NAME [-n NAMESPACE] [-o table|yaml|json]

  status    the current or last rollout: phase, step, traffic split, last analysis
  promote   skip the remaining steps (or override a failed analysis): the new revision
            scales to full capacity, then takes all traffic
  abort     stop a rollout in progress (all traffic back to the stable revision at once),
            or roll a blue-green switch back while the previous revision is still warm
  pause     hold the current step (a failing analysis still aborts)
  resume    continue a paused rollout, or try a failed or aborted one again from the start
`;

const COMMANDS = ['status', 'promote', 'abort', 'pause', 'resume'] as const;
type Command = (typeof COMMANDS)[number];

interface RolloutView {
  namespace: string;
  service: string;
  stableRevision: string | null;
  latestRevision: string | null;
  revisions: Array<{ name: string; ready: number; desired: number; traffic: number }>;
  rollout: RolloutStatus | null;
}

export async function rolloutCommand(args: string[], out: NodeJS.WritableStream): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { server: { type: 'string' }, token: { type: 'string' }, namespace: { type: 'string', short: 'n' }, output: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const [command, name, ...extra] = positionals;
  if (values.help) {
    out.write(USAGE);
    return 0;
  }
  if (command === undefined) throw new UsageError(`rollout needs a command: ${COMMANDS.join(', ')} (karb rollout --help)`);
  if (!(COMMANDS as readonly string[]).includes(command)) throw new UsageError(`unknown rollout command '${command}': choose ${COMMANDS.join(', ')}`);
  if (name === undefined) throw new UsageError(`rollout ${command} needs the service name: karb rollout ${command} NAME`);
  if (extra.length > 0) throw new UsageError(`rollout ${command} takes one service name, got also: ${extra.join(' ')}`);
  const format = outputFormat(values.output);
  const client = new ControlPlaneClient(values.server, values.token);
  const path = `/api/v1/services/${encodeURIComponent(name)}/rollout`;
  const query = values.namespace ? `?namespace=${encodeURIComponent(values.namespace)}` : '';
  const view =
    (command as Command) === 'status'
      ? await client.get<RolloutView>(`${path}${query}`)
      : (await client.request<RolloutView>('POST', `${path}/${command}${query}`, '{}')).body;
  if (format !== 'table') {
    out.write(renderStructured(view, format));
    return 0;
  }
  out.write(describe(view));
  return 0;
}

/** The rollout in a few lines a person reads at a glance. */
export function describe(view: RolloutView): string {
  const r = view.rollout;
  const lines: string[] = [];
  if (r === null) {
    lines.push(`${view.service}: no rollout; ${view.stableRevision ?? view.latestRevision ?? 'no revision'} serves all traffic`);
  } else {
    const step = r.step !== undefined ? ` step ${r.step}` : '';
    lines.push(`${view.service}: ${r.strategy} rollout of ${r.revision} (replacing ${r.stable}) — ${r.phase}${r.paused ? ' (paused)' : ''}${step}, ${r.weight}% of traffic`);
    if (r.message) lines.push(`  ${r.reason}: ${r.message}`);
    if (r.lastAnalysis) {
      const a = r.lastAnalysis;
      lines.push(`  last analysis (${a.at}): ${a.verdict} — ${a.message}`);
    }
    if (r.lastOutputCheck) {
      const c = r.lastOutputCheck;
      lines.push(`  last output check (${c.at}): ${c.verdict} — ${c.message}`);
    }
  }
  lines.push('');
  lines.push(
    renderTable(
      ['REVISION', 'READY', 'DESIRED', 'TRAFFIC'],
      view.revisions.map((x) => [x.name, String(x.ready), String(x.desired), `${x.traffic}%`]),
    ).trimEnd(),
  );
  return `${lines.join('\n')}\n`;
}
