/**
 * The replica-load watch against real HTTP replicas that export vLLM's metrics (vLLM itself needs
 * a GPU; these serve its /metrics text as vLLM v0.10 writes it): what they say reaches the signal
 * windows GASCL reads, services karb's own server runs are not read, and a replica that fails or
 * exports no such metric reports nothing.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { parseInferenceService } from '../api/index.ts';
import { SignalHub } from '../observability/hub.ts';
import type { Endpoint } from '../runtime/types.ts';
import { ManualClock } from '../util/clock.ts';
import { readMetrics, ReplicaLoadWatch, runsOwnServer } from './replica-load-watch.ts';

const service = (name: string, model: Record<string, unknown>) =>
  parseInferenceService({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name }, spec: { model } });

const servers: Server[] = [];
after(() => Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve)))));

/** A replica answering GET /metrics with `text` (or `status`), counting the calls. */
async function replica(text: string, status = 200): Promise<{ url: string; calls: () => number }> {
  let calls = 0;
  const server = createServer((req, res) => {
    if (req.url === '/metrics') calls++;
    res.writeHead(status, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(text);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls: () => calls };
}

const vllm = (kv: number, waiting: number) =>
  `# TYPE vllm:kv_cache_usage_perc gauge\nvllm:kv_cache_usage_perc{engine="0",model_name="chat"} ${kv}\n# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{engine="0",model_name="chat"} ${waiting}.0\n`;

describe('ReplicaLoadWatch', () => {
  it("feeds each replica's KV cache use and waiting requests into its revision's windows", async () => {
    const clock = new ManualClock(1_000_000);
    const hub = new SignalHub({ clock });
    hub.track('chat', ['chat-00001']);
    const a = await replica(vllm(0.9, 3));
    const b = await replica(vllm(0.5, 1));
    const failing = await replica('oops', 500);
    const builtIn = await replica(vllm(1, 50));
    const endpoints: Record<string, Endpoint[]> = {
      chat: [a, b, failing].map((r, i) => ({ replica: `chat-00001-${i}`, revision: 'chat-00001', service: 'chat', namespace: 'default', url: r.url })),
      fraud: [{ replica: 'fraud-00001-0', revision: 'fraud-00001', service: 'fraud', namespace: 'default', url: builtIn.url }],
    };
    const watch = new ReplicaLoadWatch({
      store: { listServices: () => [service('chat', { format: 'openai', command: ['vllm', 'serve', 'chat', '--port', '$PORT'] }), service('fraud', { uri: 'file://models/fraud-v1.onnx' })] },
      runtime: { endpoints: ({ service: name }) => endpoints[name] ?? [] },
      hub,
      clock,
    });
    await watch.tick();
    clock.advance(1_000);
    const w = hub.recorder('chat-00001')!.windows(clock.now());
    assert.ok(Math.abs(w.stable.kvCacheUsage! - 0.7) < 1e-9, `the mean of 0.9 and 0.5: ${w.stable.kvCacheUsage}`);
    assert.equal(w.panic.queueDepth, 4, 'the requests waiting inside both replicas');
    assert.equal(failing.calls(), 1, 'the failing replica was asked, and reports nothing');
    assert.equal(builtIn.calls(), 0, "karb's built-in server is not read: it reports in headers");
    assert.equal(hub.recorder('fraud-00001'), undefined);
    await watch.stop();
  });

  it('reads only servers of the user’s own, and gives up on a replica that does not answer in time', async () => {
    assert.equal(runsOwnServer(service('a', { format: 'openai', command: ['vllm'] }).spec), true);
    assert.equal(runsOwnServer(service('b', { format: 'openai', uri: 'file://models/tiny-lm.onnx' }).spec), false);
    assert.equal(runsOwnServer(service('c', { uri: 'file://models/fraud-v1.onnx' }).spec), false);
    const silent = createServer(() => {}); // accepts, never answers
    servers.push(silent);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    assert.equal(await readMetrics(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`, undefined, 200), undefined);
    silent.closeAllConnections();
  });
});
