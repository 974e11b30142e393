/** Shared pieces of the local runtime's tests: the fixture template, waiting, and leaving no process behind. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import type { RevisionTemplate, RuntimeEvent } from '../../types.ts';
import type { LocalRuntime } from '../local-runtime.ts';
import { isProcessAlive, matchProcess, signalReplica } from '../process-identity.ts';
import { ReplicaRecordStore } from '../replica-record.ts';

export { waitFor } from '../../../util/wait-for.ts';

export const fixturePath = fileURLToPath(new URL('./replica.ts', import.meta.url));
export const karbHostPath = fileURLToPath(new URL('./karb-host.ts', import.meta.url));

/** Requests and limits as the schema defaults them; the limits are enforced (resource-limits.ts), the process spec is the same whatever they are. */
export const fixtureResources: RevisionTemplate['resources'] = { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '2', memory: '2Gi' } };

export function fixtureTemplate(revision: string, args: string[] = [], extra: Partial<RevisionTemplate> = {}): RevisionTemplate {
  return {
    revision,
    service: 'echo',
    namespace: 'default',
    model: { format: 'oip', name: 'echo', command: [process.execPath, fixturePath, ...args] },
    resources: fixtureResources,
    ...extra,
  };
}

/** The template with another model command, or none. */
export function withCommand(template: RevisionTemplate, command: string[] | undefined): RevisionTemplate {
  const { command: _old, ...model } = template.model;
  return { ...template, model: command === undefined ? model : { ...model, command } };
}

/**
 * A fresh state directory and a list of runtimes to clean up after the test,
 * pass or fail: each runtime is closed (drained), then any replica still
 * recorded under the directory that is still the process karb started is
 * SIGKILLed, then the directory is removed.
 */
export function scratch(t: TestContext): { dir: string; track: (runtime: LocalRuntime) => LocalRuntime; pids: Set<number> } {
  const dir = mkdtempSync(join(tmpdir(), 'karb-local-runtime-'));
  const runtimes: LocalRuntime[] = [];
  /** Other processes a test starts itself; SIGKILLed (as a group) if still alive. */
  const pids = new Set<number>();
  t.after(async () => {
    const closing = Promise.allSettled(runtimes.map((r) => r.close()));
    await Promise.race([closing, new Promise((r) => setTimeout(r, 5000).unref())]);
    killRecorded(dir);
    for (const pid of pids) if (isProcessAlive(pid)) signalReplica(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    pids,
    track: (runtime) => {
      runtimes.push(runtime);
      return runtime;
    },
  };
}

export function killRecorded(dir: string): void {
  for (const record of new ReplicaRecordStore(join(dir, 'replicas')).readAll().records) {
    if (matchProcess(record).same) signalReplica(record.pid, 'SIGKILL');
  }
}

export function recordEvents(runtime: LocalRuntime): RuntimeEvent[] {
  const events: RuntimeEvent[] = [];
  runtime.onEvent((e) => events.push(e));
  return events;
}

export function reasons(events: RuntimeEvent[], reason: string): RuntimeEvent[] {
  return events.filter((e) => e.reason === reason);
}
