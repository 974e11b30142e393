/**
 * `karb simulate`: runs the KARB evaluation plan in the cluster simulator and
 * prints the report (markdown, or JSON with --json); --plots writes one SVG per
 * scenario. Exit codes: 0 done, 1 a scenario file that cannot be used, 2 a usage error.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { stringify } from 'yaml';
import type { ScalingPolicyName } from '../autoscaler/types.ts';
import { isKarbError, KarbError, UsageError } from '../errors.ts';
import { listFlag, numberFlag, parseFlags } from '../util/flags.ts';
import { evaluateScenario, type ScenarioOutcome } from './evaluate.ts';
import { ORACLE_POLICY } from './oracle.ts';
import { evaluateScenarioInWorkers } from './parallel.ts';
import { writePlots } from './plots.ts';
import { renderMarkdown, simulationReport } from './report.ts';
import { renderHtmlReport } from './html-report.ts';
import type { Scenario } from './scenario-schema.ts';
import { BUILT_IN_NAMES, BUILT_IN_SCENARIOS, builtInScenario, loadScenarioFile } from './scenarios.ts';
import { POLICIES } from './treatments.ts';

export const SIMULATE_HELP = `Usage: karb simulate [flags]

Runs the KARB evaluation plan: treatments A–D (hpa-cpu, hpa-service, keda-queue,
gascl) and a clairvoyant oracle through the same seeded traffic on a simulated
cluster, and reports latency, SLO minutes, errors, cold starts, GPU node-hours,
scale events and oscillations per treatment. A scenario that lists several
services or placement policies (the built-in hybrid: three teams, in-order and
on-prem-first placement) also reports, per run, on-prem utilization, cloud
node-hours, cost and SLO minutes side by side.

Built-in scenarios: step, burst and diurnal (the plan's traffic shapes), hybrid
(shared pools), llm (an LLM service: lognormal tokens in and out per request,
minute-scale bursts of arrivals, p95 SLO 8 s) and multiday (four compressed
days that differ a little, with their period declared to the deciders).

Per scenario the report says whether GASCL's targets hold (also under
"targets" in --json): 1 never behind A–C (as many minutes within the SLO as
the best, at most 1.05× the node-hours of the cheapest that keeps as many, and
nothing compared keeping more minutes for fewer node-hours); 2 near the oracle
(scenarios with a seasonal period: from the second period on, ≥ 99% of minutes
at ≤ 1.15× its node-hours); 3 on or beyond the line between the reactive and
standing bounds.

Flags:
  --scenario FILE       scenarios from a YAML file (repeatable); default the built-in ${BUILT_IN_NAMES.join(', ')}
  --only NAMES          only these scenarios, comma-separated (e.g. step,burst)
  --policies NAMES      treatments to run, comma-separated, from ${[...POLICIES, ORACLE_POLICY].join(', ')} (default all)
  --seed N              seed for every scenario (default each scenario's own)
  --jobs N              worker threads for the runs of a scenario (default ${defaultJobs()}; 1 runs in this thread)
  --json                print the report as JSON
  --plots DIR           write DIR/<scenario>.svg: latency, replicas and queue over time
  --html FILE           write FILE: one self-contained page with each scenario's table and plots
  --print-scenario NAME print a built-in scenario as YAML (a start for your own --scenario file)
  -h, --help            this help
`;

function defaultJobs(): number {
  return Math.max(1, Math.min(availableParallelism(), 6));
}

export interface SimulateIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

export async function runSimulateCommand(args: string[], io: SimulateIo = process): Promise<number> {
  try {
    return await run(args, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`karb simulate: ${err.message}\nRun 'karb simulate --help' for the flags.\n`);
      return 2;
    }
    if (isKarbError(err)) {
      io.stderr.write(`karb simulate: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

async function run(args: string[], io: SimulateIo): Promise<number> {
  const parsed = parseFlags({
    args,
    options: {
      scenario: { type: 'string', multiple: true },
      only: { type: 'string' },
      policies: { type: 'string' },
      seed: { type: 'string' },
      jobs: { type: 'string' },
      json: { type: 'boolean' },
      plots: { type: 'string' },
      html: { type: 'string' },
      'print-scenario': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: false,
    strict: true,
  });
  const v = parsed.values;
  if (v.help) {
    io.stdout.write(SIMULATE_HELP);
    return 0;
  }

  const print = v['print-scenario'];
  if (print !== undefined) {
    const input = BUILT_IN_SCENARIOS.find((s) => s.name === print);
    if (!input) throw new UsageError(`--print-scenario: unknown scenario "${print}"; the built-in ones are ${BUILT_IN_NAMES.join(', ')}`);
    const { name, description, duration, ...rest } = input;
    io.stdout.write(stringify({ name, description, duration, ...rest }, { lineWidth: 0 }));
    return 0;
  }

  const seed = v.seed === undefined ? undefined : numberFlag('--seed', v.seed, 0, { whole: true, min: 0, max: 2 ** 31 - 1 });
  const jobs = numberFlag('--jobs', v.jobs, defaultJobs(), { whole: true, min: 1, max: 64 });

  const known = new Set<string>([...POLICIES, ORACLE_POLICY]);
  const asked = listFlag(v.policies) ?? [...known];
  for (const p of asked) if (!known.has(p)) throw new UsageError(`--policies: unknown policy "${p}"; choose from ${[...known].join(', ')}`);
  if (asked.length === 0) throw new UsageError('--policies: name at least one policy');
  const policies = POLICIES.filter((p) => asked.includes(p)) as ScalingPolicyName[];
  const withOracle = asked.includes(ORACLE_POLICY);

  let scenarios: Scenario[];
  const only = listFlag(v.only);
  if (v.scenario && v.scenario.length > 0) {
    scenarios = v.scenario.flatMap((file) => loadScenarioFile(file, seed));
    if (only) {
      const names = new Set(scenarios.map((s) => s.name));
      for (const n of only) if (!names.has(n)) throw new UsageError(`--only: no scenario "${n}" in the files (they hold ${[...names].join(', ')})`);
      scenarios = scenarios.filter((s) => only.includes(s.name));
    }
  } else {
    const names = only ?? BUILT_IN_NAMES;
    for (const n of names) if (!BUILT_IN_NAMES.includes(n)) throw new UsageError(`--only: unknown scenario "${n}"; the built-in ones are ${BUILT_IN_NAMES.join(', ')}`);
    scenarios = names.map((n) => builtInScenario(n, seed));
  }

  const outcomes: ScenarioOutcome[] = [];
  for (const scenario of scenarios) {
    const started = performance.now();
    const options = { policies, oracle: withOracle };
    const outcome = jobs > 1 ? await evaluateScenarioInWorkers(scenario, { ...options, jobs }) : evaluateScenario(scenario, options);
    outcomes.push(outcome);
    const requests = (outcome.runs[0] ?? outcome.oracle)?.arrivals ?? 0;
    const timings = Object.entries(outcome.wallMs)
      .map(([p, ms]) => `${p} ${(ms / 1000).toFixed(1)}s`)
      .join(', ');
    io.stderr.write(`simulated ${scenario.name}: ${requests.toLocaleString('en-US')} requests, ${(scenario.durationMs / 60_000).toFixed(0)} min, in ${((performance.now() - started) / 1000).toFixed(1)} s (${timings})\n`);
  }

  const report = simulationReport(outcomes);
  io.stdout.write(v.json ? `${JSON.stringify(report, null, 2)}\n` : renderMarkdown(report));
  if (v.plots !== undefined) {
    for (const path of writePlots(outcomes, v.plots)) io.stderr.write(`wrote ${path}\n`);
  }
  if (v.html !== undefined) {
    try {
      writeFileSync(v.html, renderHtmlReport(report, outcomes, new Date()));
    } catch (err) {
      throw new KarbError('HTML_NOT_WRITTEN', `--html: cannot write ${v.html}: ${(err as Error).message}; name a file in a directory that exists`, { cause: err });
    }
    io.stderr.write(`wrote ${v.html}\n`);
  }
  return 0;
}
