/**
 * GASCL on what a replica reports of its own load, end to end with a real `karb up`: a service
 * runs a server of its own by `command` (an OpenAI-compatible one: here a stand-in that serves
 * vLLM's /metrics text, since vLLM needs a GPU), the control plane reads that server's KV cache
 * use, and GASCL adds replicas to keep it at 80% — with no request sent at all — and gives them
 * back once the cache empties (at most one step per 30 s).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startKarbUp, waitFor, workDir, type KarbUp } from './helpers.ts';

/**
 * A replica that answers /health and, on /metrics, vLLM's KV-cache gauge with the share written in
 * the file named by its first argument (vLLM v0.10's metric name and labels).
 */
const VLLM_METRICS = `
const fs = require('fs');
require('http').createServer((q, s) => {
  if (q.url === '/metrics') {
    const share = fs.readFileSync(process.argv[1], 'utf8').trim();
    s.setHeader('content-type', 'text/plain; version=0.0.4');
    s.end('# TYPE vllm:kv_cache_usage_perc gauge\\nvllm:kv_cache_usage_perc{engine="0",model_name="chat"} ' + share + '\\n# TYPE vllm:num_requests_waiting gauge\\nvllm:num_requests_waiting{engine="0",model_name="chat"} 0.0\\n');
  } else s.end('ok');
}).listen(Number(process.env.PORT), '127.0.0.1');`;

describe('GASCL on a replica-reported KV cache (karb up)', () => {
  const work = workDir('karb-replica-load-');
  const share = join(work.dir, 'kv-cache-share');
  let up: KarbUp;

  before(async () => {
    up = await startKarbUp(work.dir);
  });
  after(async () => {
    await up?.stop();
    work.cleanup();
  });

  /** The service's scale events, oldest first, as "Reason: message". */
  const scaleEvents = async (): Promise<string[]> => {
    const body = (await (await fetch(`${up.controlUrl}/api/v1/events`, { headers: up.admin })).json()) as
      | Array<{ reason: string; message: string; service: string }>
      | { items: Array<{ reason: string; message: string; service: string }> };
    const list = Array.isArray(body) ? body : body.items;
    return list.filter((e) => e.service === 'chat' && /→/.test(e.message)).map((e) => `${e.reason}: ${e.message}`);
  };

  it('adds replicas while the cache is fuller than 80%, with no request sent, and lets them go once it empties', async () => {
    writeFileSync(share, '0.95');
    const res = await fetch(`${up.controlUrl}/api/v1/services/chat`, {
      method: 'PUT',
      headers: { ...up.admin, 'content-type': 'application/json' },
      body: JSON.stringify({
        apiVersion: 'karb.dev/v1alpha1',
        kind: 'InferenceService',
        metadata: { name: 'chat' },
        spec: {
          model: { format: 'openai', command: [process.execPath, '-e', VLLM_METRICS, share], readinessPath: '/health' },
          scaling: { policy: 'gascl', minReplicas: 1, maxReplicas: 2, stabilization: { upSeconds: 0, downSeconds: 5 } },
        },
      }),
    });
    assert.equal(res.status, 201, await res.text());
    // One ready replica at 95%: 1 × 0.95 ÷ 0.8 → 2.
    const events = await waitFor('GASCL to ask for a second replica for the KV cache', async () => {
      const e = await scaleEvents();
      return e.length > 0 ? e : undefined;
    });
    assert.match(events[0]!, /^KvCache: 1→2: KV cache 95% used across 1 ready replica, kept at 80%/);

    // The cache empties: the count goes back down, at most one step per 30 s after the last.
    writeFileSync(share, '0.1');
    const down = await waitFor('the extra replica to go', async () => (await scaleEvents()).find((e) => /: 2→1: /.test(e)), 120_000);
    assert.match(down, /^KvCache: 2→1: KV cache 10% used across 2 ready replicas, kept at 80%/);
  });
});
