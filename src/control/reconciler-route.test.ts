// The route the reconciler publishes carries the per-try timeout derived from
// the service's SLO, and a standalone gateway reading /api/v1/routes gets it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseInferenceService } from '../api/index.ts';
import { ControlFeed } from '../gateway/discovery/control-feed.ts';
import { InMemoryRoutingTable } from '../gateway/discovery/routing-table.ts';
import type { Endpoint, Runtime } from '../runtime/types.ts';
import { Reconciler } from './reconciler.ts';
import { SqliteStore } from './sqlite-store.ts';
import { RolloutTracker } from './rollout-tracker.ts';
import { RevisionCounters } from '../observability/revision-counters.ts';
import { systemClock } from '../util/clock.ts';

/** A runtime with one ready endpoint per revision asked for, and nothing else. */
function fakeRuntime(): Runtime {
  const running = new Map<string, Endpoint>();
  return {
    async ensureRevision({ namespace, service, revision }) {
      running.set(revision, { namespace, service, revision, replica: `${revision}-0`, url: `http://127.0.0.1:${9000 + running.size}` });
    },
    async removeRevision() {},
    revisions: () => [],
    replicas: () => [],
    usage: () => [],
    endpoints: (filter = {}) => [...running.values()].filter((e) => (filter.revision ?? e.revision) === e.revision && (filter.service ?? e.service) === e.service),
    onEvent: () => () => {},
    async close() {},
  };
}

const service = (name: string, slo: Record<string, number>) =>
  parseInferenceService({
    apiVersion: 'karb.dev/v1alpha1',
    kind: 'InferenceService',
    metadata: { name },
    spec: { model: { uri: 'file://models/fraud-v1.onnx' }, slo },
  });

test("a route's per-try timeout is 4 × its SLO's p95 target, at least 1 s, and reaches a standalone gateway", async (t) => {
  const store = new SqliteStore(':memory:');
  const table = new InMemoryRoutingTable();
  store.apply(service('default-slo', {}));
  store.apply(service('slow', { latencyP95Ms: 2_000 }));
  store.apply(service('tight', { latencyP95Ms: 50 }));
  const rollouts = new RolloutTracker({ store, counters: new RevisionCounters(), clock: systemClock });
  const reconciler = new Reconciler({ store, runtime: fakeRuntime(), routingTable: table, rollouts, clock: systemClock });
  await reconciler.reconcile();
  assert.equal(table.lookup('default-slo')?.perTryTimeoutMs, 1_000, 'the default p95 target of 250 ms');
  assert.equal(table.lookup('slow')?.perTryTimeoutMs, 8_000);
  assert.equal(table.lookup('tight')?.perTryTimeoutMs, 1_000, 'floored at 1 s');

  // What /api/v1/routes serves, read the way `karb gateway` reads it.
  const api = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ items: table.all() }));
  });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  t.after(() => api.close());
  const feed = new ControlFeed({ controlPlaneUrl: `http://127.0.0.1:${(api.address() as AddressInfo).port}`, authorization: () => 'Bearer t' });
  const standalone = new InMemoryRoutingTable();
  standalone.replace(await feed.routes());
  assert.equal(standalone.lookup('slow')?.perTryTimeoutMs, 8_000);
});
