/**
 * The programs karb's tests start for real, checked before `npm test` type-checks anything:
 *   node scripts/test-prerequisites.ts
 * A new machine often lacks `redis-server`; without it the Redis rate-limit and job-store tests
 * fail and the suites around them are cancelled, which reads like a karb bug. So this step either
 * installs what is missing (as root, from Debian's packages with apt-get, as CI does) or prints
 * one line naming what is missing and how to get it, and exits 1. Exit 0 when all is there.
 *
 * Then it builds the Kubernetes control plane the cluster tests start (test/cluster, with Go), so
 * that the build (about ten minutes on two cores, the first time on a machine; cached after) runs
 * before the tests rather than beside them, and once rather than per test file.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { ensureBinary } from '../test/cluster/build.ts';
import { ensureCollector } from '../test/tracing/collector.ts';

/** A program some test spawns, and where a person gets it. */
export interface Prerequisite {
  /** The executable looked up on PATH. */
  command: string;
  /** Which tests need it, so the message says why. */
  neededBy: string;
  /** Debian's package that provides it. */
  debian: string;
  /** Homebrew's formula that provides it. */
  brew: string;
}

export const PREREQUISITES: readonly Prerequisite[] = [
  { command: 'redis-server', neededBy: 'the Redis rate-limit and async-job store tests', debian: 'redis-server', brew: 'redis' },
  { command: 'openssl', neededBy: "the gateway's TLS test and the test cluster's certificates", debian: 'openssl', brew: 'openssl' },
  { command: 'prometheus', neededBy: 'the test that scrapes karb with a real Prometheus and sees its SLO alerts fire', debian: 'prometheus', brew: 'prometheus' },
  { command: 'promtool', neededBy: "the unit tests of karb's generated Prometheus rules", debian: 'prometheus', brew: 'prometheus' },
  { command: 'chromium', neededBy: 'the dashboard tests (a real browser, driven by playwright-core)', debian: 'chromium', brew: 'chromium' },
];

/** What to do about the missing prerequisites; `install` only where apt-get can do it here. */
export type PrerequisitePlan =
  | { action: 'none' }
  | { action: 'install'; packages: string[] }
  | { action: 'explain'; message: string };

/** Is `command` an executable file in one of PATH's folders? (No shell, no `which`.) */
export function onPath(command: string, pathVariable: string | undefined): boolean {
  for (const dir of (pathVariable ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      accessSync(path.join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this folder
    }
  }
  return false;
}

/**
 * Pure: installs only as root with apt-get at hand (a person's machine is theirs to change, so
 * there it explains instead of calling sudo).
 */
export function planPrerequisites(missing: readonly Prerequisite[], canInstall: { root: boolean; aptGet: boolean }): PrerequisitePlan {
  if (missing.length === 0) return { action: 'none' };
  if (canInstall.root && canInstall.aptGet) return { action: 'install', packages: [...new Set(missing.map((p) => p.debian))] };
  return { action: 'explain', message: missingMessage(missing) };
}

/** The one line a person reads when a prerequisite is missing. */
export function missingMessage(missing: readonly Prerequisite[]): string {
  const commands = missing.map((p) => p.command).join(' and ');
  const why = missing.map((p) => p.neededBy).join(' and ');
  const them = missing.length === 1 ? 'it' : 'them';
  const debian = [...new Set(missing.map((p) => p.debian))].join(' ');
  const brew = [...new Set(missing.map((p) => p.brew))].join(' ');
  return (
    `npm test needs ${commands} on PATH (${why} run ${them}): install ${them} with ` +
    `"sudo apt-get install -y ${debian}" (Debian, Ubuntu) or "brew install ${brew}" (macOS), then run npm test again`
  );
}

function aptGetInstall(packages: readonly string[]): number {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const stdio: ['ignore', 'ignore', 'inherit'] = ['ignore', 'ignore', 'inherit'];
  const update = spawnSync('apt-get', ['update', '-qq'], { env, stdio });
  if (update.status !== 0) return update.status ?? 1;
  const install = spawnSync('apt-get', ['install', '-y', '-qq', ...packages], { env, stdio });
  return install.status ?? 1;
}

/**
 * Builds the test cluster's binary, and the OpenTelemetry Collector the tracing test sends spans
 * to (test/tracing, about two minutes the first time), unless the cache has them; 1 with one
 * line on a failure.
 */
async function buildTestPrograms(): Promise<number> {
  try {
    await ensureBinary((line) => console.error(`npm test: ${line}`));
    await ensureCollector((line) => console.error(`npm test: ${line}`));
    return 0;
  } catch (err) {
    console.error(`npm test: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

async function main(): Promise<number> {
  const missingNow = () => PREREQUISITES.filter((p) => !onPath(p.command, process.env.PATH));
  const missing = missingNow();
  const plan = planPrerequisites(missing, { root: process.getuid?.() === 0, aptGet: onPath('apt-get', process.env.PATH) });
  switch (plan.action) {
    case 'none':
      return buildTestPrograms();
    case 'explain':
      console.error(plan.message);
      return 1;
    case 'install': {
      console.error(`npm test: installing ${plan.packages.join(' ')} from Debian's packages, for the tests that run ${plan.packages.length === 1 ? 'it' : 'them'}`);
      const status = aptGetInstall(plan.packages);
      const stillMissing = missingNow();
      if (status === 0 && stillMissing.length === 0) return buildTestPrograms();
      const what = status === 0 ? 'apt-get ran, but they are still not on PATH' : `apt-get failed (exit ${status})`;
      console.error(`${what}. ${missingMessage(stillMissing.length > 0 ? stillMissing : missing)}`);
      return 1;
    }
    default: {
      const unknown: never = plan;
      throw new Error(`unknown plan ${JSON.stringify(unknown)}`);
    }
  }
}

if (import.meta.main) process.exitCode = await main();
