/**
 * Memory of `karb up` under rounds of many connections: is what it keeps
 * afterwards retained by karb (a map or cache that grows with connections, keys
 * or paths) or pages the allocator holds on to?
 *
 * A real `karb up` (its own process, started with `--expose-gc` and an
 * inspector on loopback so this script can force a full GC in it and read its
 * memory) serves one fraud-v1 service on two `karb serve` replicas. Each round
 * opens `--connections` connections at once, one request each (`Connection:
 * close`), mixed over both ports of the process:
 *
 *   gateway :8080   50% infer with a valid key · 10% a well-formed key with an
 *                   unknown id (a new id every time) · 10% a malformed or missing
 *                   key · 10% an unknown path · 5% an unknown model · 5% GET /v1/models
 *   control :8081   5% GET /api/v1/services with the admin token · 4% without it ·
 *                   1% the events stream (SSE), closed after its first bytes
 *
 * After each round, and after `--idle` seconds without traffic at the end,
 * it forces two full GCs in karb up and records heap used, heap total,
 * external and RSS, with the anonymous memory split by mapping (glibc's
 * main arena, its thread arenas, and V8's pages) from /proc/<pid>/smaps.
 * Heap used that grows round over round is retained memory; flat heap under a
 * higher RSS is the allocators keeping what they once needed (V8 its young
 * generation's pages, glibc freed memory inside its heap).
 *
 *   node bench/connection-rounds.ts [--rounds 8] [--connections 2000] [--idle 30] [--only KIND,...] [--diff-heap]
 *                                   [--karb-node-flags=--max-semi-space-size=2] [--json]
 *
 * `--only` keeps some kinds of connection (`infer`, `unknown key`, …, as the
 * report names them), to find which one a growth comes with. `--diff-heap`
 * takes a heap snapshot of karb up after the first round and after the last,
 * and prints the object kinds whose count grew most between them: where a
 * retained structure is (taking a snapshot leaves glibc's arena much larger,
 * so the RSS of such a run is not comparable with a plain one). `--karb-node-flags` are Node/V8 flags for karb up's
 * process, to see what a setting changes.
 *
 * 2,000 connections need as many file descriptors in this process and in karb
 * up: check `ulimit -n`.
 */
import { readFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { fraudRequest, startKarbUp, waitFor, workDir } from '../test/helpers.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '8' },
    connections: { type: 'string', default: '2000' },
    idle: { type: 'string', default: '30' },
    only: { type: 'string' },
    'karb-node-flags': { type: 'string', default: '' },
    'diff-heap': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const ONLY = values.only?.split(',').map((k) => k.trim());
const ROUNDS = Number(values.rounds);
const CONNECTIONS = Number(values.connections);
const IDLE_SECONDS = Number(values.idle);
const SERVICE = 'fraud-detector';
const BODY = fraudRequest([[42.5, 14, 0.1, 3.2, 1, 0, 1, 1200]]);

interface Reading {
  label: string;
  rssMB: number;
  rssAnonMB: number;
  /** Resident anonymous memory by mapping (see `anonymousMemory`). */
  mallocMainMB: number;
  mallocThreadsMB: number;
  otherAnonMB: number;
  heapUsedMB: number;
  heapTotalMB: number;
  externalMB: number;
  arrayBuffersMB: number;
  statuses?: Record<string, number>;
  roundSeconds?: number;
}

// ---------------------------------------------------------------- karb up with an inspector
const work = workDir('karb-bench-connections-');
const up = await startKarbUp(work.dir, {}, [], {
  nodeFlags: ['--expose-gc', '--inspect=127.0.0.1:0', ...values['karb-node-flags'].split(' ').filter(Boolean)],
  logLevel: 'warn',
});
const { controlUrl, gatewayUrl, admin, adminToken, apiKey } = up;
const karbPid = up.process.pid!;

try {
  const inspectorUrl = /Debugger listening on (ws:\/\/\S+)/.exec(up.output())?.[1];
  if (!inspectorUrl) throw new Error(`no inspector URL in karb up's output:\n${up.output()}`);
  const inspector = await connectInspector(inspectorUrl);

  const manifest = {
    apiVersion: 'karb.dev/v1alpha1',
    kind: 'InferenceService',
    metadata: { name: SERVICE },
    spec: { model: { uri: 'file://models/fraud-v1.onnx' }, scaling: { minReplicas: 2, maxReplicas: 2 } },
  };
  const put = await fetch(`${controlUrl}/api/v1/services/${SERVICE}`, { method: 'PUT', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify(manifest) });
  if (put.status !== 201) throw new Error(`apply answered ${put.status}: ${await put.text()}`);
  await waitFor('both replicas to serve', async () => {
    const replicas = ((await (await fetch(`${controlUrl}/api/v1/replicas`, { headers: admin })).json()) as { items: Array<{ phase: string }> }).items;
    return replicas.filter((r) => r.phase === 'Ready').length === 2;
  }, 60_000);

  const plan = connectionPlan({ apiKey, adminToken });
  const readings: Reading[] = [{ label: 'started, service ready', ...(await measure(inspector, karbPid)) }];
  let firstHeap: Map<string, { count: number; bytes: number }> | undefined;
  for (let round = 1; round <= ROUNDS; round++) {
    const started = performance.now();
    const statuses = await runRound(plan, round);
    const roundSeconds = Number(((performance.now() - started) / 1000).toFixed(1));
    await new Promise((r) => setTimeout(r, 1000));
    readings.push({ label: `after round ${round}`, ...(await measure(inspector, karbPid)), statuses, roundSeconds });
    if (!values.json) process.stderr.write(`${JSON.stringify(readings.at(-1))}\n`);
    if (values['diff-heap'] && round === 1) firstHeap = await heapCensus(inspector);
  }
  if (firstHeap) printHeapGrowth(firstHeap, await heapCensus(inspector));
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  readings.push({ label: `after ${IDLE_SECONDS} s idle`, ...(await measure(inspector, karbPid)) });
  inspector.close();
  report(readings);
} finally {
  await up.stop();
  work.cleanup();
}

// ---------------------------------------------------------------- the mix of connections
interface Call {
  kind: string;
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
  /** Read the first bytes of an event stream, then hang up. */
  stream?: boolean;
}

function connectionPlan(k: { apiKey: string; adminToken: string }): Array<(i: number, round: number) => Call> {
  const auth = { authorization: `Bearer ${k.apiKey}` };
  const json = { 'content-type': 'application/json' };
  const infer = `${gatewayUrl}/v2/models/${SERVICE}/infer`;
  const hex = (n: number) => n.toString(16).padStart(16, '0');
  const weighted: Array<[number, (i: number, round: number) => Call]> = [
    [50, () => ({ kind: 'infer', url: infer, method: 'POST', headers: { ...auth, ...json }, body: BODY })],
    // A new, well-formed key id on every connection: anything keyed by the presented id would grow.
    [10, (i, round) => ({ kind: 'unknown key', url: infer, method: 'POST', headers: { authorization: `Bearer karb_${hex(round * 1_000_000 + i)}_${'A'.repeat(43)}`, ...json }, body: BODY })],
    [10, (i) => ({ kind: 'bad key', url: infer, method: 'POST', headers: i % 2 === 0 ? { authorization: `Bearer nonsense-${i}`, ...json } : json, body: BODY })],
    [10, (i, round) => ({ kind: 'unknown path', url: `${gatewayUrl}/no/such/path/${round}-${i}`, method: 'GET', headers: auth })],
    [5, (i, round) => ({ kind: 'unknown model', url: `${gatewayUrl}/v2/models/nope-${round}-${i}/infer`, method: 'POST', headers: { ...auth, ...json }, body: BODY })],
    [5, () => ({ kind: 'openai models', url: `${gatewayUrl}/v1/models`, method: 'GET', headers: auth })],
    [5, () => ({ kind: 'control', url: `${controlUrl}/api/v1/services`, method: 'GET', headers: { authorization: `Bearer ${k.adminToken}` } })],
    [4, () => ({ kind: 'control no token', url: `${controlUrl}/api/v1/services`, method: 'GET', headers: {} })],
    [1, () => ({ kind: 'events stream', url: `${controlUrl}/api/v1/events`, method: 'GET', headers: { authorization: `Bearer ${k.adminToken}`, accept: 'text/event-stream' }, stream: true })],
  ];
  const chosen = ONLY === undefined ? weighted : weighted.filter(([, make]) => ONLY.includes(make(0, 0).kind));
  if (chosen.length === 0) throw new Error(`--only ${values.only}: no such kind of connection; the kinds: ${weighted.map(([, make]) => make(0, 0).kind).join(', ')}`);
  return chosen.flatMap(([n, make]) => Array.from({ length: n }, () => make));
}

/** Every connection at once, one request each; resolves with the answers by kind and status. */
async function runRound(plan: Array<(i: number, round: number) => Call>, round: number): Promise<Record<string, number>> {
  const statuses: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, i) => {
      const call = plan[i % plan.length]!(i, round);
      const status = await send(call);
      const key = `${call.kind} ${status}`;
      statuses[key] = (statuses[key] ?? 0) + 1;
    }),
  );
  return Object.fromEntries(Object.entries(statuses).sort());
}

/** One request on its own connection (no agent, `Connection: close`); 0 when no answer came. */
function send(call: Call): Promise<number> {
  return new Promise((resolve) => {
    const req = request(call.url, { method: call.method, headers: { ...call.headers, connection: 'close' }, agent: false, timeout: 60_000 }, (res: IncomingMessage) => {
      if (call.stream) {
        res.once('data', () => {
          req.destroy();
          resolve(res.statusCode ?? 0);
        });
        res.once('end', () => resolve(res.statusCode ?? 0));
        return;
      }
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', () => resolve(res.statusCode ?? 0));
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(0));
    req.end(call.body);
  });
}

// ---------------------------------------------------------------- reading karb up's memory
interface Inspector {
  evaluate(expression: string): Promise<unknown>;
  /** Sends a protocol command; `onEvent` sees the events that arrive until it answers. */
  command(method: string, params?: Record<string, unknown>, onEvent?: (method: string, params: Record<string, unknown>) => void): Promise<unknown>;
  close(): void;
}

/** A minimal Chrome DevTools Protocol client: Runtime.evaluate over the inspector's WebSocket. */
async function connectInspector(url: string): Promise<Inspector> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true });
    ws.addEventListener('error', () => reject(new Error(`cannot reach the inspector at ${url}`)), { once: true });
  });
  let nextId = 1;
  type Reply = { id?: number; method?: string; params?: Record<string, unknown>; result?: unknown; error?: unknown };
  const pending = new Map<number, (message: Reply) => void>();
  let eventListener: ((method: string, params: Record<string, unknown>) => void) | undefined;
  ws.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as Reply;
    if (message.id === undefined) {
      if (message.method) eventListener?.(message.method, message.params ?? {});
      return;
    }
    pending.get(message.id)?.(message);
    pending.delete(message.id);
  });
  const command = (method: string, params: Record<string, unknown> = {}, onEvent?: (method: string, params: Record<string, unknown>) => void): Promise<unknown> => {
    const id = nextId++;
    eventListener = onEvent;
    return new Promise((resolve, reject) => {
      pending.set(id, (m) => {
        eventListener = undefined;
        if (m.error) reject(new Error(JSON.stringify(m.error)));
        else resolve(m.result);
      });
      ws.send(JSON.stringify({ id, method, params }));
    });
  };
  return {
    command,
    async evaluate(expression) {
      const result = (await command('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true })) as { result?: { value?: unknown } };
      return result.result?.value;
    },
    close: () => ws.close(),
  };
}

/** Two full GCs in karb up (the second collects what the first's finalizers freed), then its memory. */
async function measure(inspector: Inspector, pid: number): Promise<Omit<Reading, 'label'>> {
  const usage = JSON.parse(String(await inspector.evaluate('gc(); gc(); JSON.stringify(process.memoryUsage())'))) as NodeJS.MemoryUsage;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  const mb = (bytes: number) => Number((bytes / 1024 / 1024).toFixed(1));
  return {
    rssMB: mb(usage.rss),
    rssAnonMB: Number((kb('RssAnon') / 1024).toFixed(1)),
    ...anonymousMemory(pid),
    heapUsedMB: mb(usage.heapUsed),
    heapTotalMB: mb(usage.heapTotal),
    externalMB: mb(usage.external),
    arrayBuffersMB: mb(usage.arrayBuffers),
  };
}

/** Objects on karb up's heap by kind (`type:constructor name`), after a full GC: how many and their own bytes. */
async function heapCensus(inspector: Inspector): Promise<Map<string, { count: number; bytes: number }>> {
  const chunks: string[] = [];
  await inspector.command('HeapProfiler.takeHeapSnapshot', { reportProgress: false }, (method, params) => {
    if (method === 'HeapProfiler.addHeapSnapshotChunk') chunks.push(String(params.chunk));
  });
  const snapshot = JSON.parse(chunks.join('')) as { snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }; nodes: number[]; strings: string[] };
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = [fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('self_size')];
  const census = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    const type = types[snapshot.nodes[i + typeAt]!]!;
    // Strings and numbers by type alone: their "names" are their contents.
    const name = type === 'object' || type === 'closure' || type === 'native' ? snapshot.strings[snapshot.nodes[i + nameAt]!]! : '';
    const key = `${type}:${name.slice(0, 60)}`;
    const entry = census.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snapshot.nodes[i + sizeAt]!;
    census.set(key, entry);
  }
  return census;
}

function printHeapGrowth(before: Map<string, { count: number; bytes: number }>, after: Map<string, { count: number; bytes: number }>): void {
  const rows = [...after].map(([kind, a]) => ({ kind, count: a.count - (before.get(kind)?.count ?? 0), bytes: a.bytes - (before.get(kind)?.bytes ?? 0) }));
  rows.sort((x, y) => y.bytes - x.bytes);
  process.stderr.write(`heap growth from round 1 to round ${ROUNDS} (after GC), largest first:\n`);
  for (const r of rows.slice(0, 20)) process.stderr.write(`  ${r.kind.padEnd(70)} ${String(r.count).padStart(8)} objects ${String(r.bytes).padStart(10)} bytes\n`);
}

/**
 * Resident anonymous memory by mapping, in MB: glibc malloc's main arena
 * (`[heap]`), its per-thread arenas (anonymous mappings that start on a 64 MiB
 * boundary, glibc's HEAP_MAX_SIZE), and the other anonymous mappings — V8's
 * 256 KiB heap pages (in use or kept for reuse) and mallocs too large for an arena.
 */
function anonymousMemory(pid: number): { mallocMainMB: number; mallocThreadsMB: number; otherAnonMB: number } {
  const kb = { main: 0, threads: 0, other: 0 };
  let region: { start: bigint; name: string } | undefined;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const header = /^([0-9a-f]+)-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      region = { start: BigInt(`0x${header[1]}`), name: header[2]!.trim() };
      continue;
    }
    const anon = /^Anonymous:\s+(\d+) kB/.exec(line);
    if (!anon || !region) continue;
    if (region.name === '[heap]') kb.main += Number(anon[1]);
    else if (region.name !== '') continue; // stacks and the like
    else if (region.start % (64n << 20n) === 0n) kb.threads += Number(anon[1]);
    else kb.other += Number(anon[1]);
  }
  const mb = (n: number) => Number((n / 1024).toFixed(1));
  return { mallocMainMB: mb(kb.main), mallocThreadsMB: mb(kb.threads), otherAnonMB: mb(kb.other) };
}

function report(readings: Reading[]): void {
  const machine = `${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ machine, connections: CONNECTIONS, rounds: ROUNDS, idleSeconds: IDLE_SECONDS, readings }, null, 2)}\n`);
    return;
  }
  process.stdout.write(`connection rounds: ${ROUNDS} × ${CONNECTIONS} connections, one request each, against one karb up; ${machine}\n`);
  process.stdout.write(
    '| reading | RSS | anonymous | V8 pages & large mallocs | malloc main arena | malloc thread arenas | heap used | heap total | external | round s |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n',
  );
  for (const r of readings) {
    const cells = [r.rssMB, r.rssAnonMB, r.otherAnonMB, r.mallocMainMB, r.mallocThreadsMB, r.heapUsedMB, r.heapTotalMB, r.externalMB];
    process.stdout.write(`| ${r.label} | ${cells.join(' | ')} | ${r.roundSeconds ?? ''} |\n`);
  }
  process.stdout.write('(MB; after two forced full GCs in karb up)\n');
  const last = readings.at(-2)!;
  process.stdout.write(`answers in the last round: ${JSON.stringify(last.statuses)}\n`);
}
