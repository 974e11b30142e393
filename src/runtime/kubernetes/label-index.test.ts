import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ListWatch, type KubernetesObject, type Watch } from '@kubernetes/client-node';
import { LabelIndex } from './label-index.ts';

type Pod = KubernetesObject & { metadata: { name: string; namespace: string; resourceVersion: string; labels?: Record<string, string> } };

let version = 0;
const pod = (namespace: string, name: string, revision?: string): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace, resourceVersion: String(++version), ...(revision ? { labels: { 'karb.dev/revision': revision } } : {}) },
});

/**
 * client-node's own ListWatch over a list function and a watch this test drives: `send` delivers
 * a watch event, `expire` ends the watch as the API server does when its resourceVersion is too
 * old (410), which makes the ListWatch list again.
 */
function cache(initial: Pod[]) {
  let items = initial;
  let handler!: (phase: string, obj: Pod) => void;
  let done!: (err: unknown) => void;
  let connected!: () => void;
  let opened = new Promise<void>((r) => (connected = r));
  const watch = {
    watch: async (_path: string, _query: unknown, callback: typeof handler, onDone: typeof done) => {
      handler = callback;
      done = onDone;
      connected();
      return new AbortController();
    },
  } as unknown as Watch;
  const listWatch = new ListWatch<Pod>('/api/v1/pods', watch, async () => ({ apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: String(++version) }, items }), false);
  return {
    listWatch,
    send: (phase: 'ADDED' | 'MODIFIED' | 'DELETED', obj: Pod) => handler(phase, obj),
    async expire(relisted: Pod[]) {
      items = relisted;
      opened = new Promise<void>((r) => (connected = r));
      done({ code: 410 });
      await opened;
    },
  };
}

const names = (pods: Pod[]) => pods.map((p) => p.metadata.name).sort();

test('the index follows the cache: the first list, adds, a label that changes, deletes, and a relist that drops objects', async () => {
  const c = cache([pod('ml', 'a-1', 'a-00001'), pod('ml', 'a-2', 'a-00001'), pod('other', 'a-3', 'a-00001'), pod('ml', 'unlabelled')]);
  const byRevision = new LabelIndex(c.listWatch, 'karb.dev/revision');
  await c.listWatch.start();
  assert.deepEqual(names(byRevision.list('ml', 'a-00001')), ['a-1', 'a-2']);
  assert.deepEqual(names(byRevision.list('other', 'a-00001')), ['a-3'], 'namespaces are apart');
  assert.deepEqual(byRevision.list('ml', 'b-00001'), []);

  c.send('ADDED', pod('ml', 'b-1', 'b-00001'));
  c.send('MODIFIED', pod('ml', 'a-2', 'b-00001'));
  assert.deepEqual(names(byRevision.list('ml', 'a-00001')), ['a-1']);
  assert.deepEqual(names(byRevision.list('ml', 'b-00001')), ['a-2', 'b-1'], 'a changed label moves the object');

  const list = byRevision.list('ml', 'b-00001');
  c.send('DELETED', pod('ml', 'b-1', 'b-00001'));
  assert.deepEqual(names(byRevision.list('ml', 'b-00001')), ['a-2']);
  assert.equal(list.length, 2, 'a list already returned is the caller’s');

  c.send('MODIFIED', pod('ml', 'a-1'));
  assert.deepEqual(byRevision.list('ml', 'a-00001'), [], 'a label removed takes the object out');

  await c.expire([pod('ml', 'a-2', 'b-00001')]);
  assert.deepEqual(names(byRevision.list('ml', 'b-00001')), ['a-2']);
  assert.deepEqual(byRevision.list('other', 'a-00001'), [], 'what the relist no longer has is gone');
  assert.deepEqual(
    names(c.listWatch.list().filter((p) => p.metadata.labels?.['karb.dev/revision'] !== undefined)),
    ['a-2'],
    'and the cache agrees',
  );
  await c.listWatch.stop();
});
