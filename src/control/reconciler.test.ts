/**
 * The reconciler is level-triggered and idempotent: against the real local
 * runtime (the fixture replica as the model server) and the SQLite store, a
 * pass after the world settled returns no actions and writes nothing, and a
 * change is acted on once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseInferenceService } from '../api/index.ts';
import { ObservableRoutingTable } from '../gateway/discovery/observable-routing-table.ts';
import { RevisionCounters } from '../observability/revision-counters.ts';
import { LocalRuntime } from '../runtime/local/local-runtime.ts';
import { fixturePath, scratch, waitFor } from '../runtime/local/testdata/helpers.ts';
import { ManualClock } from '../util/clock.ts';
import { Reconciler } from './reconciler.ts';
import { RolloutTracker } from './rollout-tracker.ts';
import { SqliteStore } from './sqlite-store.ts';

const echo = (scaling: Record<string, unknown>) =>
  parseInferenceService({
    apiVersion: 'karb.dev/v1alpha1',
    kind: 'InferenceService',
    metadata: { name: 'echo' },
    spec: { model: { format: 'oip', command: [process.execPath, fixturePath] }, scaling },
  });

test('a second pass with nothing changed returns no actions; a change is acted on once', async (t) => {
  const { dir, track } = scratch(t);
  const runtime = track(new LocalRuntime({ stateDir: dir, probe: { readyIntervalMs: 100 } }));
  const clock = new ManualClock(Date.UTC(2030, 0, 1));
  const store = new SqliteStore(':memory:', { clock });
  t.after(() => store.close());
  const routingTable = new ObservableRoutingTable();
  let tableSwaps = 0;
  routingTable.onReplace(() => tableSwaps++);
  const rollouts = new RolloutTracker({ store, counters: new RevisionCounters(), clock });
  const reconciler = new Reconciler({ store, runtime, routingTable, rollouts, clock });
  store.apply(echo({ minReplicas: 2 }));

  const first = await reconciler.reconcile();
  assert.deepEqual(first.filter((a) => a.kind === 'scale'), [{ kind: 'scale', revision: 'echo-00001', from: 0, to: 2 }]);
  assert.ok(first.some((a) => a.kind === 'status'));
  assert.ok(first.some((a) => a.kind === 'routes'));
  await waitFor('2 ready replicas', () => runtime.endpoints({ revision: 'echo-00001' }).length === 2);

  // The replicas became ready: status and routes change once.
  const second = await reconciler.reconcile();
  assert.deepEqual(second.map((a) => a.kind).sort(), ['routes', 'status']);
  const replicas = runtime.replicas().map((r) => r.name).sort();
  const status = store.getService('default', 'echo')!.status;
  const swaps = tableSwaps;
  assert.equal(status.revisions?.[0]?.ready, 2);
  assert.equal(routingTable.lookup('echo')?.revisions[0]?.endpoints.length, 2);

  assert.deepEqual(await reconciler.reconcile(), [], 'nothing changed: no action');
  assert.deepEqual(await reconciler.reconcile(), [], 'and again');
  assert.deepEqual(runtime.replicas().map((r) => r.name).sort(), replicas, 'no replica started or stopped');
  assert.deepEqual(store.getService('default', 'echo')!.status, status, 'status not rewritten');
  assert.equal(tableSwaps, swaps, 'the routing table was not replaced');

  // A spec change that makes no revision (the scaling bounds) bumps the generation: status once, then quiet.
  clock.advance(1_000);
  store.apply(echo({ minReplicas: 2, maxReplicas: 4 }));
  assert.deepEqual(await reconciler.reconcile(), [{ kind: 'status', service: 'echo' }]);
  assert.equal(store.getService('default', 'echo')!.status.observedGeneration, 2);
  assert.deepEqual(await reconciler.reconcile(), []);
});
