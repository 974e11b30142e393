/**
 * The contract every `Runtime` keeps (types.ts), as one suite each
 * implementation's test runs (`describeRuntime('local', factory)`):
 * `ensureRevision` is level-triggered and idempotent, `endpoints()` lists
 * ready replicas only and drops a stopping one before it is told to drain,
 * events name their replica and revision, `removeRevision` and `close` drain,
 * a closed runtime refuses work, and `usage()` reports each running replica. A runtime whose
 * nature differs (a cluster's pods outlive it; no metrics to read) declares it in `RuntimeTraits`.
 * What a runtime does beneath (processes, records, logs) is its own test's.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { isKarbError } from '../errors.ts';
import { waitFor } from '../util/wait-for.ts';
import type { RevisionTemplate, Runtime, RuntimeEvent } from './types.ts';

export interface RuntimeFactory {
  /** A fresh runtime with nothing running, cleaned up (every replica stopped) when `t` ends. */
  create(t: TestContext): Promise<{
    runtime: Runtime;
    /** A template of service `echo` in namespace `default` this runtime can run; with `ready: false` its replicas never pass readiness. */
    template(revision: string, options?: { ready?: boolean }): RevisionTemplate;
    /** Resolves once every replica being stopped is gone. */
    settled(): Promise<void>;
  }>;
}

/** Where a runtime's nature differs from the embedded one's, declared rather than skipped. */
export interface RuntimeTraits {
  /** `close()` stops every replica (default); a cluster's runtime leaves its pods to the cluster. */
  closeStopsReplicas?: boolean;
  /** `usage()` measures each running replica (default); false: it reports none ("not measured", never zero). */
  measuresUsage?: boolean;
}

export function describeRuntime(name: string, factory: RuntimeFactory, traits: RuntimeTraits = {}): void {
  const closeStopsReplicas = traits.closeStopsReplicas ?? true;
  const measuresUsage = traits.measuresUsage ?? true;
  describe(`Runtime conformance: ${name}`, () => {
    const open = async (t: TestContext) => {
      const made = await factory.create(t);
      const events: RuntimeEvent[] = [];
      made.runtime.onEvent((e) => events.push(e));
      return { ...made, events };
    };
    const names = (runtime: Runtime, filter = {}) => runtime.replicas(filter).map((r) => r.name).sort();

    it('ensureRevision is level-triggered: it starts the difference, a second call changes nothing, and it scales down', async (t) => {
      const { runtime, template, events, settled } = await open(t);
      const echo = template('echo-00001');

      await runtime.ensureRevision(echo, 3);
      await waitFor('3 endpoints', () => runtime.endpoints({ revision: 'echo-00001' }).length === 3);
      assert.deepEqual(runtime.revisions(), [{ namespace: 'default', service: 'echo', revision: 'echo-00001', replicas: 3 }]);
      for (const e of runtime.endpoints()) {
        assert.equal(e.namespace, 'default');
        assert.equal(e.service, 'echo');
        assert.equal(e.revision, 'echo-00001');
        assert.match(e.url, /^https?:\/\//);
      }

      const before = names(runtime);
      const eventCount = events.length;
      await runtime.ensureRevision(echo, 3); // a second pass changes nothing
      assert.deepEqual(names(runtime), before);
      assert.equal(events.length, eventCount, 'no event for a pass that changed nothing');

      await runtime.ensureRevision(echo, 1);
      // The stopped ones leave the endpoints at once, before they are gone.
      assert.equal(runtime.endpoints().length, 1);
      assert.deepEqual(runtime.revisions(), [{ namespace: 'default', service: 'echo', revision: 'echo-00001', replicas: 1 }]);
      await settled();
      assert.equal(runtime.replicas().length, 1);

      await runtime.ensureRevision(echo, 0);
      assert.deepEqual(runtime.endpoints(), []);
      assert.deepEqual(runtime.revisions(), []);
      await settled();
      assert.deepEqual(runtime.replicas(), []);
    });

    it('endpoints are ready replicas only, and filters select by namespace, service and revision', async (t) => {
      const { runtime, template } = await open(t);
      await runtime.ensureRevision(template('echo-00001'), 1);
      await runtime.ensureRevision(template('echo-00002', { ready: false }), 1);
      await waitFor('the ready revision', () => runtime.endpoints().length === 1);
      assert.deepEqual(names(runtime, { revision: 'echo-00002' }).length, 1, 'the unready replica exists');
      assert.notEqual(runtime.replicas({ revision: 'echo-00002' })[0]!.phase, 'Ready');
      assert.deepEqual(runtime.endpoints({ revision: 'echo-00002' }), [], 'but is no endpoint');
      assert.deepEqual(runtime.endpoints().map((e) => e.revision), ['echo-00001']);
      assert.equal(runtime.replicas({ service: 'echo' }).length, 2);
      assert.equal(runtime.replicas({ namespace: 'other' }).length, 0);
      assert.equal(runtime.endpoints({ service: 'other' }).length, 0);
      assert.deepEqual(runtime.revisions().map((r) => r.revision).sort(), ['echo-00001', 'echo-00002']);
    });

    it('events name the replica, its revision and service, with a stable reason and a time', async (t) => {
      const { runtime, template, events } = await open(t);
      await runtime.ensureRevision(template('echo-00001'), 1);
      const replica = await waitFor('a ready replica', () => runtime.replicas().find((r) => r.phase === 'Ready'));
      const ready = events.find((e) => e.reason === 'ReplicaReady');
      assert.ok(ready, `a ReplicaReady event among ${events.map((e) => e.reason).join(', ')}`);
      assert.equal(ready.type, 'Normal');
      assert.equal(ready.replica, replica.name);
      assert.equal(ready.revision, 'echo-00001');
      assert.equal(ready.service, 'echo');
      assert.equal(ready.namespace, 'default');
      assert.ok(Number.isFinite(ready.time));
      assert.ok(ready.message.length > 0);
    });

    it('removeRevision takes the replicas out of the endpoints before they drain, and they go', async (t) => {
      const { runtime, template, events, settled } = await open(t);
      await runtime.ensureRevision(template('echo-00001'), 2);
      await runtime.ensureRevision(template('echo-00002'), 1);
      await waitFor('3 endpoints', () => runtime.endpoints().length === 3);
      const stillEndpointWhenDraining: boolean[] = [];
      runtime.onEvent((e) => {
        if (e.reason === 'ReplicaDraining') stillEndpointWhenDraining.push(runtime.endpoints().some((x) => x.replica === e.replica));
      });

      await runtime.removeRevision('default', 'echo-00001');
      assert.deepEqual(stillEndpointWhenDraining, [false, false], 'each replica is out of the endpoints when its drain is announced');
      assert.deepEqual(runtime.endpoints({ revision: 'echo-00001' }), []);
      assert.deepEqual(runtime.revisions().map((r) => r.revision), ['echo-00002'], 'a revision being stopped is not listed');
      assert.ok(runtime.replicas({ revision: 'echo-00001' }).every((r) => r.phase === 'Draining' || r.phase === 'Stopped'));
      await settled();
      assert.deepEqual(runtime.replicas({ revision: 'echo-00001' }), []);
      assert.equal(events.filter((e) => e.reason === 'ReplicaStopped' && e.revision === 'echo-00001').length, 2);
      assert.equal(runtime.endpoints({ revision: 'echo-00002' }).length, 1, 'the other revision is untouched');
      await runtime.removeRevision('default', 'echo-00001'); // nothing left to remove: no error
    });

    it('refuses a replica count that is not a whole number ≥ 0', async (t) => {
      const { runtime, template } = await open(t);
      const invalid = (err: unknown) => isKarbError(err) && err.code === 'RUNTIME_INVALID_REPLICAS' && err.status === 400;
      await assert.rejects(runtime.ensureRevision(template('echo-00001'), -1), invalid);
      await assert.rejects(runtime.ensureRevision(template('echo-00001'), 1.5), invalid);
      assert.deepEqual(runtime.replicas(), []);
    });

    it(measuresUsage ? 'usage reports each running replica, filtered like replicas' : 'usage reports nothing it has not measured', async (t) => {
      const { runtime, template } = await open(t);
      await runtime.ensureRevision(template('echo-00001'), 2);
      await runtime.ensureRevision(template('echo-00002'), 1);
      await waitFor('3 endpoints', () => runtime.endpoints().length === 3);
      if (!measuresUsage) {
        assert.deepEqual(runtime.usage(), [], 'no figure rather than a zero');
        return;
      }
      const usage = runtime.usage({ revision: 'echo-00001' });
      assert.deepEqual(usage.map((u) => u.replica).sort(), names(runtime, { revision: 'echo-00001' }));
      for (const u of usage) {
        assert.equal(u.revision, 'echo-00001');
        assert.equal(u.service, 'echo');
        assert.equal(u.namespace, 'default');
        if (u.cpuCores !== undefined) assert.ok(u.cpuCores >= 0);
        if (u.gpuUtilization !== undefined) assert.ok(u.gpuUtilization >= 0 && u.gpuUtilization <= 1);
      }
      assert.equal(runtime.usage().length, 3);
      await runtime.removeRevision('default', 'echo-00002');
      assert.deepEqual(runtime.usage({ revision: 'echo-00002' }), [], 'a replica being stopped is not reported');
    });

    it(closeStopsReplicas ? 'close drains every replica, and the closed runtime refuses new work' : 'close leaves the replicas to the cluster, and the closed runtime refuses new work', async (t) => {
      const { runtime, template } = await open(t);
      await runtime.ensureRevision(template('echo-00001'), 1);
      await runtime.ensureRevision(template('echo-00002'), 1);
      await waitFor('2 endpoints', () => runtime.endpoints().length === 2);
      await runtime.close();
      if (closeStopsReplicas) {
        assert.deepEqual(runtime.endpoints(), []);
        assert.deepEqual(runtime.replicas(), []);
      } else {
        assert.equal(runtime.endpoints().length, 2, 'still running, as the runtime last saw them');
      }
      const closed = (err: unknown) => isKarbError(err) && err.code === 'RUNTIME_CLOSED' && err.status === 503;
      await assert.rejects(runtime.ensureRevision(template('echo-00001'), 1), closed);
      await assert.rejects(runtime.removeRevision('default', 'echo-00001'), closed);
    });
  });
}
