/**
 * `karb rollout status|promote|abort|pause|resume NAME`: a thin client of
 * `/api/v1/services/{name}/rollout`. `status` prints the phase, the traffic
 * split and the last analysis; the commands print the rollout after the change.
 */
import type { RolloutStatus } from '../rollout/status.ts';
import { ControlPlaneClient } from './client.ts';
import { outputFormat, renderStructured, renderTable } from './output.ts';
import { UsageError } from '../errors.ts';
import { durationFlag, parseFlags } from '../util/flags.ts';

const USAGE = `Usage: karb rollout status|promote|abort|pause|resume NAME [-n NAMESPACE] [-o table|yaml|json]
       karb rollout status NAME --watch [--timeout 10m]

  status    the current or last rollout: phase, step, traffic split, last analysis;
            with --watch, a line per change until it ends: exit 0 once the new revision
            serves all traffic, 1 when it failed, was aborted or rolled back, or --timeout passed
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
  const { values, positionals } = parseFlags({
    args,
    options: {
      server: { type: 'string' },
      token: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      output: { type: 'string', short: 'o' },
      watch: { type: 'boolean', short: 'w' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  const [command, name, ...extra] = positionals;
  if (values.help) {
    out.write(USAGE);
    return 0;
  }
  if (command === undefined) throw new UsageError(`rollout needs a command: ${COMMANDS.join(', ')} (karb rollout --help)`);
  if (!(COMMANDS as readonly string[]).includes(command)) throw new UsageError(`unknown rollout command '${command}': choose ${COMMANDS.join(', ')}`);
  if (name === undefined) throw new UsageError(`rollout ${command} needs the service name: karb rollout ${command} NAME`);
  if (extra.length > 0) throw new UsageError(`rollout ${command} takes one service name, got also: ${extra.join(' ')}`);
  if (values.watch && command !== 'status') throw new UsageError('--watch goes with rollout status: karb rollout status NAME --watch');
  if (values.timeout !== undefined && !values.watch) throw new UsageError('--timeout goes with --watch');
  const format = outputFormat(values.output);
  const client = new ControlPlaneClient(values.server, values.token);
  const path = `/api/v1/services/${encodeURIComponent(name)}/rollout`;
  const query = values.namespace ? `?namespace=${encodeURIComponent(values.namespace)}` : '';
  if (values.watch) {
    const timeoutMs = durationFlag('--timeout', values.timeout, 10 * 60_000, { expected: 'a duration such as 90s or 10m' });
    return watch(() => client.get<RolloutView>(`${path}${query}`), out, timeoutMs);
  }
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

const ENDED_BADLY = new Set(['Failed', 'Aborted', 'RolledBack']);

/**
 * Prints a line whenever the rollout's phase, step, weight or message changes,
 * until it ends: 0 once the new revision serves everything (or there is no
 * rollout), 1 when it failed, was aborted or rolled back, or the time ran out.
 */
async function watch(read: () => Promise<RolloutView>, out: NodeJS.WritableStream, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const view = await read();
    const r = view.rollout;
    if (r === null) {
      out.write(`${view.service}: no rollout; ${view.stableRevision ?? view.latestRevision ?? 'no revision'} serves all traffic\n`);
      return 0;
    }
    const state = `${r.phase}${r.paused ? ' (paused)' : ''}${r.step !== undefined ? ` step ${r.step}` : ''}, ${r.weight}% to ${r.revision}`;
    // A new line for a new state or a new judgement, not for every tick of a pause's countdown.
    const key = `${state}|${r.reason}|${r.lastAnalysis?.at ?? ''}|${r.lastOutputCheck?.at ?? ''}`;
    if (key !== last) out.write(`${new Date().toISOString()} ${state}: ${r.message}\n`);
    last = key;
    if (r.phase === 'Succeeded') return 0;
    if (ENDED_BADLY.has(r.phase)) return 1;
    if (Date.now() >= deadline) {
      out.write(`karb: the rollout of ${r.revision} did not finish within the --timeout; it goes on (karb rollout status ${view.service})\n`);
      return 1;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
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
    if (r.guard) {
      const g = r.guard;
      const e = g.lastEvaluation;
      lines.push(`  guard after promotion: ${g.phase} until ${g.until}${e ? ` — ${e.verdict}: ${e.message}` : ''}`);
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
