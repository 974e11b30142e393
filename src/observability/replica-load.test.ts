import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseReplicaLoad } from './replica-load.ts';

// The shape of vLLM's /metrics (v0.10): HELP and TYPE lines, one label set per engine and model.
const VLLM = `# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="Qwen/Qwen3-0.6B"} 12.0
vllm:num_requests_running{engine="1",model_name="Qwen/Qwen3-0.6B"} 9.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="Qwen/Qwen3-0.6B"} 3.0
vllm:num_requests_waiting{engine="1",model_name="Qwen/Qwen3-0.6B"} 1.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="Qwen/Qwen3-0.6B"} 0.9
vllm:kv_cache_usage_perc{engine="1",model_name="Qwen/Qwen3-0.6B"} 0.7
# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{engine="0",model_name="Qwen/Qwen3-0.6B"} 1.234e+06
`;

test('reads the KV cache use (averaged) and the requests waiting (summed) from vLLM\'s metrics, and nothing else', () => {
  const load = parseReplicaLoad(VLLM);
  assert.deepEqual(Object.keys(load).sort(), ['kvCacheUsage', 'waiting']);
  assert.equal(load.waiting, 4);
  assert.ok(Math.abs(load.kvCacheUsage! - 0.8) < 1e-9, String(load.kvCacheUsage));
});

test('reads the older name of the KV cache gauge, unlabelled samples and timestamps', () => {
  assert.deepEqual(parseReplicaLoad('vllm:gpu_cache_usage_perc 0.25 1733600000000\nvllm:num_requests_waiting 0\n'), { kvCacheUsage: 0.25, waiting: 0 });
});

test('labels with spaces and braces in their values do not confuse it; what it cannot read is left out', () => {
  const text = [
    'vllm:num_requests_waiting{model_name="a model {v2}",note="x y"} 7',
    'vllm:kv_cache_usage_perc{model_name="m"} NaN',
    'vllm:num_requests_running{model_name="m"} -1',
    'karb_serving_queue_requests 5',
    'garbage',
  ].join('\n');
  assert.deepEqual(parseReplicaLoad(text), { waiting: 7 });
  assert.deepEqual(parseReplicaLoad(''), {});
});
