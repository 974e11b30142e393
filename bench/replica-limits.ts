/**
 * Are replicas' CPU limits real? Two measurements on the embedded runtime (LocalRuntime, with the
 * mechanism it detects on this machine, logged to stderr):
 *
 * 1. Cores used vs the limit: a built-in server replica (models/wide-mlp.onnx) with `limits.cpu: 0.5` and one with the
 *    default 2, each driven to saturation by the same closed-loop load (closed-loop-client.ts),
 *    alternating rounds; each replica's CPU time is read from /proc/<pid>/stat as its rounds
 *    start and end. Target: the limited one uses ≤ 0.5 × 1.1 of a core.
 * 2. Noisy neighbour: the throughput of a well-behaved replica (default limits) under the same
 *    load alone, next to a neighbour that spins 4 threads per core but is limited to 0.5 CPU, and
 *    next to the same neighbour with no CPU limit; the phases alternate, `--rounds` times.
 *
 *   node bench/replica-limits.ts [--concurrency 16] [--seconds 4] [--rounds 2] [--json]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LocalRuntime } from '../src/runtime/local/local-runtime.ts';
import { readProcessCpuSeconds } from '../src/runtime/local/proc-stat.ts';
import type { RevisionTemplate } from '../src/runtime/types.ts';
import { waitFor } from '../src/util/wait-for.ts';
import { closedLoop, runClosedLoopClient, type ClosedLoopJob, type TargetResult } from './closed-loop-client.ts';
import { ensureModels, REPO } from './support.ts';

const self = fileURLToPath(import.meta.url);
/** wide-mlp (256 → 2048 → 2048 → 16): a few MFLOP a request, so the replica, not the load client, is what saturates. */
const BODY = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 256], datatype: 'FP32', data: Array.from({ length: 256 }, (_, i) => ((i * 37) % 101) / 101) }] });
/**
 * Spins 4 worker threads per core and answers readiness on $PORT: a neighbour that wants far more
 * than its fair share (the scheduler is fair per thread), as a server with a big thread pool does.
 */
const BURNER = `const { Worker } = require('node:worker_threads');
for (let i = 0; i < 4 * require('node:os').availableParallelism(); i++) new Worker('for (;;) {}', { eval: true });
require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');`;

/** Every built-in server replica serves the model under one name, so one request path fits them all. */
const INFER_PATH = '/v2/models/wide/infer';

function template(revision: string, limits: RevisionTemplate['resources']['limits'], model: Partial<RevisionTemplate['model']> = {}): RevisionTemplate {
  return {
    revision,
    service: revision.replace(/-\d+$/, ''),
    namespace: 'bench',
    model: { format: 'onnx', name: 'wide', uri: 'file://models/wide-mlp.onnx', ...model },
    resources: { requests: { cpu: '100m', memory: '64Mi' }, limits },
    drainSeconds: 2,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { concurrency: { type: 'string', default: '16' }, seconds: { type: 'string', default: '4' }, rounds: { type: 'string', default: '2' }, json: { type: 'boolean', default: false } },
  });
  const concurrency = Number(values.concurrency);
  const measureMs = Number(values.seconds) * 1000;
  const rounds = Number(values.rounds);
  await ensureModels();
  const stateDir = mkdtempSync(join(tmpdir(), 'karb-bench-limits-'));
  let mechanism = '';
  const runtime = new LocalRuntime({
    stateDir,
    modelsRoot: REPO,
    log: (r) => {
      if (typeof r.mechanism === 'string') mechanism = r.mechanism;
      process.stderr.write(`${JSON.stringify(r)}\n`);
    },
  });
  const load = (origins: string[], warmupMs: number, n: number, onMark: (target: number, phase: 'start' | 'end') => void): Promise<TargetResult[]> => {
    const job: ClosedLoopJob = { origins, path: INFER_PATH, body: BODY, concurrency, warmupMs, measureMs, rounds: n };
    return closedLoop(fork(self, ['client'], { stdio: 'inherit' }) as ChildProcess, job, (m) => onMark(m.target, m.phase));
  };
  const ready = async (t: RevisionTemplate) => {
    await runtime.ensureRevision(t, 1);
    return waitFor(`${t.revision} to be ready`, () => runtime.replicas({ revision: t.revision }).find((r) => r.phase === 'Ready' && r.pid !== undefined));
  };
  const stop = async (t: RevisionTemplate) => {
    await runtime.ensureRevision(t, 0);
    await runtime.settled();
  };

  try {
    // 1. Cores used vs the limit, under the same saturating load.
    const limited = template('limited-00001', { cpu: '500m', memory: '2Gi' });
    const standard = template('default-00001', { cpu: '2', memory: '2Gi' });
    const replicas = [await ready(limited), await ready(standard)];
    const cpu = replicas.map(() => ({ seconds: 0, at: 0 }));
    const results = await load(
      replicas.map((r) => r.url!),
      2000,
      rounds,
      (target, phase) => {
        const now = readProcessCpuSeconds(replicas[target]!.pid!)!;
        if (phase === 'start') cpu[target]!.at = now;
        else cpu[target]!.seconds += now - cpu[target]!.at;
      },
    );
    const saturation = replicas.map((r, i) => ({
      replica: r.service,
      limitCores: i === 0 ? 0.5 : 2,
      coresUsed: cpu[i]!.seconds / results[i]!.seconds,
      requestsPerSecond: results[i]!.requests / results[i]!.seconds,
      errors: results[i]!.errors,
      p50: results[i]!.p50,
      p99: results[i]!.p99,
    }));
    await stop(limited);

    // 2. A well-behaved replica's throughput alone, beside a CPU-limited burner, beside an unlimited one.
    const neighbours = {
      none: undefined,
      'limited to 0.5 CPU': template('burner-limited-00001', { cpu: '500m', memory: '2Gi' }, { format: 'oip', command: [process.execPath, '-e', BURNER], readinessPath: '/ready' }),
      'no CPU limit': template('burner-unlimited-00001', { memory: '2Gi' }, { format: 'oip', command: [process.execPath, '-e', BURNER], readinessPath: '/ready' }),
    };
    const phases = Object.entries(neighbours).map(([name]) => ({ name, requests: 0, seconds: 0, errors: 0, p99: [] as number[], neighbourCpu: 0, wellCpu: 0 }));
    const well = replicas[1]!;
    for (let round = 0; round < rounds; round++) {
      for (const [i, neighbour] of Object.values(neighbours).entries()) {
        const burner = neighbour === undefined ? undefined : await ready(neighbour);
        const before = { burner: 0, well: 0 };
        const [r] = await load([well.url!], 1000, 1, (_t, phase) => {
          const b = burner === undefined ? 0 : readProcessCpuSeconds(burner.pid!)!;
          const w = readProcessCpuSeconds(well.pid!)!;
          if (phase === 'start') Object.assign(before, { burner: b, well: w });
          else {
            phases[i]!.neighbourCpu += b - before.burner;
            phases[i]!.wellCpu += w - before.well;
          }
        });
        Object.assign(phases[i]!, { requests: phases[i]!.requests + r!.requests, seconds: phases[i]!.seconds + r!.seconds, errors: phases[i]!.errors + r!.errors });
        phases[i]!.p99.push(r!.p99);
        if (neighbour !== undefined) await stop(neighbour);
      }
    }
    const alone = phases[0]!.requests / phases[0]!.seconds;
    const neighbourhood = phases.map((p) => ({
      neighbour: p.name,
      requestsPerSecond: p.requests / p.seconds,
      vsAlone: p.requests / p.seconds / alone,
      wellCores: p.wellCpu / p.seconds,
      neighbourCores: p.neighbourCpu / p.seconds,
      errors: p.errors,
      p99: Math.max(...p.p99),
    }));

    const machine = { cpus: `${availableParallelism()} × ${cpus()[0]?.model ?? 'unknown'}`, node: process.version, loadavgAtEnd: loadavg().map((l) => l.toFixed(2)).join(' '), mechanism };
    const target = saturation[0]!.coresUsed <= 0.5 * 1.1;
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ machine, concurrency, measureMs, rounds, saturation, neighbourhood, target }, null, 2)}\n`);
      return;
    }
    const f = (n: number, d = 2) => n.toFixed(d);
    const out = [
      `machine: ${machine.cpus}; node ${machine.node}; limits by ${mechanism}; load average at the end ${machine.loadavgAtEnd}`,
      `closed loop: ${concurrency} connections, ${rounds} rounds of ${measureMs / 1000} s per replica`,
      '',
      '| replica | CPU limit | cores used | used / limit | req/s | p50 ms | p99 ms | errors |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...saturation.map((s) => `| ${s.replica} | ${s.limitCores} | ${f(s.coresUsed)} | ${f(s.coresUsed / s.limitCores)} | ${f(s.requestsPerSecond, 0)} | ${f(s.p50, 1)} | ${f(s.p99, 1)} | ${s.errors} |`),
      '',
      '| neighbour (4 spinning threads per core) | well-behaved req/s | vs alone | its cores | neighbour cores | worst p99 ms | errors |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...neighbourhood.map((n) => `| ${n.neighbour} | ${f(n.requestsPerSecond, 0)} | ×${f(n.vsAlone)} | ${f(n.wellCores)} | ${f(n.neighbourCores)} | ${f(n.p99, 1)} | ${n.errors} |`),
      '',
      `target (limited replica ≤ 0.55 cores): ${target ? 'met' : 'MISSED'} (${f(saturation[0]!.coresUsed, 3)} cores)`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await runtime.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'client') runClosedLoopClient();
else await main();
