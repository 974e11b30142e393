/**
 * Writes a CycloneDX SBOM of karb's production dependencies, the packages `npm ci --omit=dev`
 * installs, with npm's own `npm sbom` (nothing is downloaded):
 *   node scripts/sbom.ts [--out FILE]
 * Default FILE is sbom.cdx.json at the repository root. Exit codes: 0 written, 1 npm failed or
 * the file could not be written, 2 usage error.
 *
 * npm reads package-lock.json only (`--package-lock-only`), as `npm ci` does, so the SBOM is the
 * same whatever node_modules holds. It is not asked to `--omit dev`: npm 11 then also drops
 * production packages that a devDependency depends on as well (npm/cli#7909; here zod, a peer of
 * openai), so every package is asked for and those npm flags as development-only
 * (`cdx:npm:package:development`) are removed here.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const USAGE = 'usage: node scripts/sbom.ts [--out FILE]';
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEVELOPMENT = 'cdx:npm:package:development';
/** npm prints the whole tree's SBOM on stdout; ample room for it. */
const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;

interface Component {
  'bom-ref': string;
  name: string;
  version: string;
  properties?: Array<{ name: string; value: string }>;
}

interface Bom {
  bomFormat: string;
  specVersion: string;
  metadata: { component: { 'bom-ref': string; name: string; version: string } };
  components: Component[];
  dependencies?: Array<{ ref: string; dependsOn?: string[] }>;
}

function fail(message: string): number {
  process.stderr.write(`sbom: ${message}\n`);
  return 1;
}

/** npm's error lines as one line, without its pointer to the debug log. */
function npmReason(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.replace(/^npm (error|ERR!)\s*/, '').trim())
    .filter((l) => l !== '' && !l.startsWith('A complete log of this run'));
  const reason = lines.join(' ');
  return reason.length <= 500 ? reason : `${reason.slice(0, 500)}…`;
}

/** The BOM less the components npm flags as development-only, and every reference to them. */
function productionOnly(bom: Bom): Bom {
  const isDevelopment = (c: Component) => c.properties?.some((p) => p.name === DEVELOPMENT && p.value === 'true') === true;
  const components = bom.components.filter((c) => !isDevelopment(c));
  const kept = new Set([bom.metadata.component['bom-ref'], ...components.map((c) => c['bom-ref'])]);
  const dependencies = bom.dependencies
    ?.filter((d) => kept.has(d.ref))
    .map((d) => (d.dependsOn === undefined ? d : { ...d, dependsOn: d.dependsOn.filter((ref) => kept.has(ref)) }));
  return { ...bom, components, ...(dependencies === undefined ? {} : { dependencies }) };
}

function main(argv: string[]): number {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`sbom: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.out === '') {
    process.stderr.write(`sbom: --out must name a file\n${USAGE}\n`);
    return 2;
  }
  const out = path.resolve(values.out ?? path.join(REPO_ROOT, 'sbom.cdx.json'));

  // --include overrides an --omit in npm's environment (npm run passes its flags on as npm_config_*).
  const args = ['sbom', '--sbom-format', 'cyclonedx', '--sbom-type', 'application', '--package-lock-only', '--include', 'dev', '--include', 'optional', '--include', 'peer', '--offline', '--no-update-notifier'];
  const npm = spawnSync('npm', args, { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: MAX_OUTPUT_BYTES });
  if (npm.error) return fail(`cannot run npm (${npm.error.message}); npm 11 comes with Node 24: put it on PATH`);
  if (npm.status !== 0) return fail(`npm sbom failed (${npm.status === null ? `killed by ${npm.signal}` : `exit ${npm.status}`}): ${npmReason(npm.stderr) || 'it gave no reason'}`);

  let bom: Bom;
  try {
    bom = JSON.parse(npm.stdout) as Bom;
  } catch (err) {
    return fail(`npm sbom printed something other than JSON: ${(err as Error).message}`);
  }
  if (bom.bomFormat !== 'CycloneDX' || !Array.isArray(bom.components)) return fail(`npm sbom printed no CycloneDX document (bomFormat ${JSON.stringify(bom.bomFormat)})`);

  const production = productionOnly(bom);
  // npm names the root after the folder the checkout is in; the product is the package.
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { name: string };
  production.metadata = { ...production.metadata, component: { ...production.metadata.component, name: pkg.name } };
  try {
    writeFileSync(out, `${JSON.stringify(production, null, 2)}\n`);
  } catch (err) {
    return fail(`cannot write ${out}: ${(err as Error).message}`);
  }
  const shown = path.relative(process.cwd(), out);
  process.stdout.write(`sbom: wrote ${shown.startsWith('..') || path.isAbsolute(shown) ? out : shown}: CycloneDX ${production.specVersion}, ${production.components.length} production packages (${bom.components.length - production.components.length} development-only left out)\n`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
