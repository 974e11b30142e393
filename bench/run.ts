/**
 * `npm run bench`: every benchmark under bench/, one after another (they
 * measure on the same cores, so never at once), each printing its own report.
 * `--only a,b` picks some by file name without `.ts`. The figures recorded in
 * docs/benchmarks.md come from these reports.
 *
 *   node bench/run.ts [--only model-server,rollback]
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const ALL = ['model-server', 'cold-start', 'gateway', 'gateway-nginx', 'lm', 'rollback', 'step-response', 'peers-gateway', 'controller-api-calls', 'tracing-overhead'];
const { values } = parseArgs({ options: { only: { type: 'string' } } });
const chosen = values.only === undefined ? ALL : values.only.split(',').map((s) => s.trim());
const unknown = chosen.filter((name) => !ALL.includes(name));
if (unknown.length > 0) {
  process.stderr.write(`bench: unknown benchmark ${unknown.join(', ')}; choose from ${ALL.join(', ')}\n`);
  process.exit(2);
}
let failed = 0;
for (const name of chosen) {
  process.stdout.write(`\n== ${name} ==\n`);
  const result = spawnSync(process.execPath, [join(import.meta.dirname, `${name}.ts`)], { stdio: 'inherit' });
  if (result.status !== 0) {
    failed++;
    process.stderr.write(`bench: ${name} exited ${result.status ?? result.signal}\n`);
  }
}
process.exit(failed > 0 ? 1 : 0);
