/**
 * What an OpenAI-compatible replica says about its own load on its Prometheus
 * `/metrics`, in the names vLLM exports (a service runs such a server with
 * `spec.model.command`), which the gateway cannot see from outside:
 *
 * | field | vLLM's metric | meaning |
 * |---|---|---|
 * | `kvCacheUsage` | `vllm:kv_cache_usage_perc` (before v0.10: `vllm:gpu_cache_usage_perc`) | share of the KV cache in use, 0..1; near 1 the server stops admitting sequences and preempts running ones |
 * | `waiting` | `vllm:num_requests_waiting` | requests admitted to the server and not yet running |
 *
 * Samples with several label sets (one per model the server serves) are summed; the cache
 * usage, a share, is averaged. A field whose metric the text lacks is absent. Pure.
 */

export interface ReplicaLoad {
  kvCacheUsage?: number;
  waiting?: number;
}

const FIELDS: ReadonlyMap<string, { field: keyof ReplicaLoad; average: boolean }> = new Map([
  ['vllm:kv_cache_usage_perc', { field: 'kvCacheUsage', average: true }],
  ['vllm:gpu_cache_usage_perc', { field: 'kvCacheUsage', average: true }],
  ['vllm:num_requests_waiting', { field: 'waiting', average: false }],
]);

/** Reads the fields above from Prometheus text exposition format. */
export function parseReplicaLoad(text: string): ReplicaLoad {
  const sums = new Map<keyof ReplicaLoad, { sum: number; n: number; average: boolean }>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const nameEnd = line.search(/[{\s]/);
    if (nameEnd <= 0) continue;
    const spec = FIELDS.get(line.slice(0, nameEnd));
    if (spec === undefined) continue;
    // The value follows the labels (which may hold spaces inside quotes) and may be followed by a timestamp.
    const afterLabels = line[nameEnd] === '{' ? line.slice(closingBrace(line, nameEnd) + 1) : line.slice(nameEnd);
    const value = Number(afterLabels.trim().split(/\s+/)[0]);
    if (!Number.isFinite(value) || value < 0) continue;
    const acc = sums.get(spec.field) ?? { sum: 0, n: 0, average: spec.average };
    acc.sum += value;
    acc.n += 1;
    sums.set(spec.field, acc);
  }
  const load: ReplicaLoad = {};
  for (const [field, acc] of sums) load[field] = acc.average ? acc.sum / acc.n : acc.sum;
  return load;
}

/** Index of the `}` closing the label set that opens at `open`, skipping quoted values. */
function closingBrace(line: string, open: number): number {
  let quoted = false;
  for (let i = open + 1; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '}') return i;
  }
  return line.length - 1;
}
