/**
 * The OTLP receiver karb's tracing test sends spans to: an OpenTelemetry Collector
 * (test/tracing/cmd/karb-otelcol: the OTLP receiver and the file exporter, at the versions
 * go.mod pins), built once per machine into a cache keyed by go.mod, go.sum, the source and
 * `go version` (../go-build.ts), like the test cluster:
 *
 *   <cache>/<key>/bin/karb-otelcol      cache = $KARB_OTELCOL_CACHE, else ~/.cache/karb-otelcol
 *
 * A cold build takes about two minutes on two cores (modules downloaded from the Go module
 * proxy); callers that start at once share one build through `<key>/build.lock`.
 * `startCollector` runs it on a free port, writing every span it receives to a file as OTLP JSON
 * lines, which `readSpans` flattens for assertions.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureGoBinary, type GoProgram } from '../go-build.ts';
import { freePort } from '../../src/util/free-port.ts';
import { waitFor } from '../../src/util/wait-for.ts';

const MODULE_DIR = import.meta.dirname;

export class CollectorError extends Error {}

const COLLECTOR: GoProgram = {
  name: 'karb-otelcol',
  what: 'the OpenTelemetry Collector for the tracing test',
  moduleDir: MODULE_DIR,
  sources: ['go.mod', 'go.sum', 'cmd/karb-otelcol/main.go'],
  pkg: './cmd/karb-otelcol',
  cacheEnv: 'KARB_OTELCOL_CACHE',
  cacheName: 'karb-otelcol',
  firstBuild: 'about two minutes on two cores',
  fail: (message, log) => new CollectorError(log === undefined ? message : `${message} (log: ${log})`),
};

/** The collector's binary: built now if the cache lacks it, or awaited if another process builds it. */
export function ensureCollector(log: (line: string) => void = () => {}): Promise<string> {
  return ensureGoBinary(COLLECTOR, log);
}

export interface Collector {
  /** `http://127.0.0.1:<port>`: what OTEL_EXPORTER_OTLP_ENDPOINT names. */
  readonly endpoint: string;
  /** Every span received so far. */
  spans(): ReceivedSpan[];
  stop(): Promise<void>;
}

/** One received span, flattened: attribute values as plain JS values. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** OTLP's numbers: 1 internal, 2 server, 3 client. */
  kind: number;
  service: string;
  attributes: Record<string, unknown>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  status: number;
  startNanos: bigint;
  endNanos: bigint;
}

/** Runs the collector in `dir` (its config, spans and log go there) on a free port. */
export async function startCollector(binary: string, dir: string): Promise<Collector> {
  const port = await freePort();
  const spansFile = path.join(dir, 'spans.jsonl');
  const config = path.join(dir, 'otelcol.yaml');
  writeFileSync(
    config,
    [
      'receivers:',
      '  otlp:',
      '    protocols:',
      '      http:',
      `        endpoint: 127.0.0.1:${port}`,
      'exporters:',
      '  file:',
      `    path: ${spansFile}`,
      '    flush_interval: 50ms',
      'service:',
      '  telemetry:',
      '    metrics:',
      '      level: none',
      '  pipelines:',
      '    traces:',
      '      receivers: [otlp]',
      '      exporters: [file]',
      '',
    ].join('\n'),
  );
  const logFd = openSync(path.join(dir, 'otelcol.log'), 'w');
  const child: ChildProcess = spawn(binary, ['--config', config], { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  let exited = false;
  child.once('exit', () => (exited = true));
  const endpoint = `http://127.0.0.1:${port}`;
  await waitFor('the OpenTelemetry Collector to listen', async () => {
    if (exited) throw new CollectorError(`the collector exited at start; see ${path.join(dir, 'otelcol.log')}`);
    // An empty export is a valid request: any answer means the receiver is up.
    const r = await fetch(`${endpoint}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    return r.status === 200;
  });
  return {
    endpoint,
    spans: () => (existsSync(spansFile) ? parseSpans(readFileSync(spansFile, 'utf8')) : []),
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}

function plain(v: OtlpValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  return undefined;
}

function attributes(list: OtlpAttribute[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of list ?? []) out[a.key] = plain(a.value);
  return out;
}

/** The file exporter's lines (one OTLP JSON export each) as flat spans; a line still being written is skipped. */
export function parseSpans(text: string): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let doc: { resourceSpans?: Array<{ resource?: { attributes?: OtlpAttribute[] }; scopeSpans?: Array<{ spans?: Array<Record<string, unknown>> }> }> };
    try {
      doc = JSON.parse(line);
    } catch {
      continue;
    }
    for (const rs of doc.resourceSpans ?? []) {
      const service = String(attributes(rs.resource?.attributes)['service.name'] ?? '');
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          spans.push({
            traceId: String(s.traceId ?? ''),
            spanId: String(s.spanId ?? ''),
            parentSpanId: String(s.parentSpanId ?? ''),
            name: String(s.name ?? ''),
            kind: Number(s.kind ?? 0),
            service,
            attributes: attributes(s.attributes as OtlpAttribute[] | undefined),
            status: Number((s.status as { code?: number } | undefined)?.code ?? 0),
            startNanos: BigInt(String(s.startTimeUnixNano ?? '0')),
            endNanos: BigInt(String(s.endTimeUnixNano ?? '0')),
          });
        }
      }
    }
  }
  return spans;
}
