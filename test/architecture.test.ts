/**
 * Who may import whom: the rules in .dependency-cruiser.mjs (the table in docs/architecture.md),
 * checked over src/ by dependency-cruiser. A back-edge fails here, naming the importing file, the
 * imported file and the rule it breaks.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseOptions, type ICruiseResult, type IViolation } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const CONFIG = path.join(REPO, '.dependency-cruiser.mjs');

async function rules(): Promise<ICruiseOptions> {
  return { ...(await extractDepcruiseOptions(CONFIG)), validate: true };
}

/** Cruises `src` under `baseDir` with karb's rules; returns every violation. */
async function check(baseDir: string, options: ICruiseOptions): Promise<IViolation[]> {
  const tsConfig = extractTSConfig(path.join(REPO, 'tsconfig.json'));
  const { output } = await cruise(['src'], { ...options, baseDir }, undefined, { tsConfig });
  return (output as ICruiseResult).summary.violations;
}

/** The lines a person reads when the check fails: importing file → imported file (rule: why). */
function describe(violations: readonly IViolation[], options: ICruiseOptions): string {
  const why = new Map((options.ruleSet?.forbidden ?? []).map((r) => [r.name, r.comment]));
  return violations.map((v) => `  ${v.from} → ${v.to}  (${v.rule.name}: ${why.get(v.rule.name) ?? ''})`).join('\n');
}

const isError = (v: IViolation) => v.rule.severity === 'error';

test('every import in src/ follows the layer rules of docs/architecture.md', async () => {
  const options = await rules();
  const violations = await check(REPO, options);
  assert.equal(
    violations.length,
    0,
    `imports against the direction of the layers (docs/architecture.md, "Who may import whom"):\n${describe(violations, options)}\n` +
      'Import the other way round, move the shared piece down a layer, or inject it.',
  );
});

test('a back-edge is caught, and the failure names both files and the rule', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'karb-architecture-'));
  const write = (file: string, text: string) => {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  };
  try {
    write('src/control/loop.ts', 'export const period = 2000;\n');
    write('src/api/spec.ts', 'export type Spec = { replicas: number };\n');
    // a decider reaching up into the control plane that acts on it
    write('src/autoscaler/decide.ts', "import { period } from '../control/loop.ts';\nimport type { Spec } from '../api/spec.ts';\nexport const decide = (s: Spec) => s.replicas * period;\n");
    // L1 reaching forward into routing, through a type-only import
    write('src/gateway/router/router.ts', 'export interface Router { place(): void }\n');
    write('src/gateway/edge/auth.ts', "import type { Router } from '../router/router.ts';\nexport const auth = (r: Router) => r;\n");
    const options = await rules();
    const errors = (await check(dir, options)).filter(isError);
    const report = describe(errors, options);
    assert.deepEqual(
      errors.map((v) => [v.from, v.to, v.rule.name]).sort(),
      [
        ['src/autoscaler/decide.ts', 'src/control/loop.ts', 'deciders-are-pure'],
        ['src/gateway/edge/auth.ts', 'src/gateway/router/router.ts', 'gateway-edge-runs-first'],
      ],
      report,
    );
    assert.match(report, /src\/autoscaler\/decide\.ts → src\/control\/loop\.ts {2}\(deciders-are-pure: /);
    assert.match(report, /src\/gateway\/edge\/auth\.ts → src\/gateway\/router\/router\.ts {2}\(gateway-edge-runs-first: /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
