/**
 * `npm run sbom` (scripts/sbom.ts): a CycloneDX SBOM of exactly the packages `npm ci --omit=dev`
 * installs from package-lock.json, made by the real npm; and a clear line when npm cannot make it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCRIPT = path.join(ROOT, 'scripts/sbom.ts');

interface LockPackage {
  version?: string;
  name?: string;
  dev?: boolean;
  link?: boolean;
}
interface Bom {
  bomFormat: string;
  specVersion: string;
  metadata: { component: { 'bom-ref': string; name: string; version: string; type: string } };
  components: Array<{ 'bom-ref': string; name: string; version: string; purl: string }>;
  dependencies: Array<{ ref: string; dependsOn?: string[] }>;
}

function scratch(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'karb-sbom-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function sbom(args: string[], env: Record<string, string | undefined> = process.env) {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { cwd: ROOT, encoding: 'utf8', env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** What `npm ci --omit=dev` installs: every package of the lock not flagged dev, as name@version. */
function productionPackages(): Map<string, string> {
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockPackage> };
  const out = new Map<string, string>();
  for (const [where, p] of Object.entries(lock.packages)) {
    if (where === '' || p.dev === true || p.link === true) continue;
    const name = p.name ?? where.slice(where.lastIndexOf('node_modules/') + 'node_modules/'.length);
    out.set(`${name}@${p.version}`, name);
  }
  return out;
}

function lockVersion(name: string): string {
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockPackage> };
  const version = lock.packages[`node_modules/${name}`]?.version;
  assert.ok(version, `${name} is in package-lock.json`);
  return version;
}

test('the SBOM lists exactly the production packages of package-lock.json, at their locked versions', (t) => {
  const file = path.join(scratch(t), 'karb.cdx.json');
  const r = sbom(['--out', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^sbom: wrote .*karb\.cdx\.json: CycloneDX 1\.\d+, \d+ production packages \(\d+ development-only left out\)\n$/);
  const bom = JSON.parse(readFileSync(file, 'utf8')) as Bom;

  assert.equal(bom.bomFormat, 'CycloneDX');
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
  assert.deepEqual(
    { name: bom.metadata.component.name, version: bom.metadata.component.version, type: bom.metadata.component.type },
    { name: pkg.name, version: pkg.version, type: 'application' },
  );

  const listed = new Map(bom.components.map((c) => [c.name, c.version]));
  for (const name of ['onnxruntime-node', 'zod', 'prom-client']) assert.equal(listed.get(name), lockVersion(name), name);
  assert.equal(bom.components.find((c) => c.name === 'zod')?.purl, `pkg:npm/zod@${lockVersion('zod')}`);
  for (const name of ['playwright-core', 'typescript', 'dependency-cruiser', 'openai']) assert.equal(listed.get(name), undefined, `${name} is a devDependency`);

  assert.deepEqual(new Set(bom.components.map((c) => `${c.name}@${c.version}`)), new Set(productionPackages().keys()), 'every production package of the lock and nothing else');
  const refs = new Set([bom.metadata.component['bom-ref'], ...bom.components.map((c) => c['bom-ref'])]);
  for (const d of bom.dependencies) {
    assert.ok(refs.has(d.ref), `dependency entry ${d.ref} names a listed component`);
    for (const on of d.dependsOn ?? []) assert.ok(refs.has(on), `${d.ref} depends on ${on}, which is listed`);
  }
});

test('an --omit in npm’s environment (npm run passes its flags on) changes nothing', (t) => {
  const file = path.join(scratch(t), 'sbom.json');
  const r = sbom(['--out', file], { ...process.env, npm_config_omit: 'dev' });
  assert.equal(r.code, 0, r.stderr);
  const bom = JSON.parse(readFileSync(file, 'utf8')) as Bom;
  assert.deepEqual(new Set(bom.components.map((c) => `${c.name}@${c.version}`)), new Set(productionPackages().keys()));
});

test('when npm fails or cannot run: exit 1, one line saying why, and no file', (t) => {
  const dir = scratch(t);
  const file = path.join(dir, 'sbom.json');

  const refused = sbom(['--out', file], { ...process.env, npm_config_workspace: 'no-such-workspace' });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^sbom: npm sbom failed \(exit 1\): No workspaces found: --workspace=no-such-workspace\n$/);

  const noNpm = sbom(['--out', file], { ...process.env, PATH: dir });
  assert.equal(noNpm.code, 1);
  assert.match(noNpm.stderr, /^sbom: cannot run npm \(spawnSync npm ENOENT\); npm 11 comes with Node 24: put it on PATH\n$/);
  assert.equal(existsSync(file), false);

  const usage = sbom(['--output', file]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /^sbom: Unknown option '--output'.*\nusage: node scripts\/sbom\.ts \[--out FILE\]\n$/);
});
