/**
 * `karb load`: send open-loop traffic to a URL or a karb service and report
 * latency (from each request's scheduled time), errors by code and achieved
 * rate; optionally as JSON, an SVG plot, and with replica counts from a karb
 * control plane. Exit codes: 0 the run completed, 1 the target could not be
 * reached, 2 a usage error.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { isKarbError, UsageError } from '../errors.ts';
import { durationFlag, httpUrlFlag, numberFlag, parseFlags } from '../util/flags.ts';
import type { LatencySummary } from '../loadgen/histogram.ts';
import { renderLoadSvg } from '../loadgen/plot.ts';
import type { RunTotals, SecondStats } from '../loadgen/recorder.ts';
import { replicasUrl, startReplicaPoller } from '../loadgen/replicas.ts';
import { resolveAdminToken } from './client.ts';
import { createHttpSender, preciseClock, probeTarget, runOpenLoop, RUNNER_DEFAULTS, type HttpTarget, type Progress, type RunResult } from '../loadgen/runner.ts';
import { formatMs, generatedSchedule, replaySchedule, SHAPES, type ArrivalProcess, type Schedule, type ShapeName, type ShapeSpec } from '../loadgen/schedule.ts';
import { parseArrivalCsv } from '../loadgen/trace.ts';

const DEFAULT_GATEWAY = 'http://127.0.0.1:8080';
const DEFAULTS = { rate: 10, durationMs: 60_000, seed: 1, connections: 256, timeoutMs: 30_000, burstFactor: 5 };

export const LOAD_USAGE = `usage: karb load (--url URL | --model NAME) [--body FILE | --body-json JSON] [options]

Sends requests on a fixed schedule whatever the latency (open loop: a slow target
cannot slow the test down), then reports latency measured from each request's
scheduled time, errors by code, and offered vs achieved rate.

Target:
  --url URL               send to this URL
  --model NAME            send to a karb service: POST {gateway}/v2/models/NAME/infer
  --gateway URL           karb gateway for --model (default $KARB_GATEWAY or ${DEFAULT_GATEWAY})
  --body FILE             request body from a file; {{column}} is filled from replayed CSV columns
  --body-json JSON        request body inline
  --method M              HTTP method (default POST with a body, GET without)
  --header 'K: V'         extra request header; repeat for more (e.g. 'authorization: Bearer KEY')

Schedule:
  --shape S               constant | step | burst | ramp | sine | replay (default constant)
  --rate N                requests per second: the rate, the starting rate, or the sine's mean (default ${DEFAULTS.rate})
  --duration D            how long to send, e.g. 90s, 5m (default ${formatMs(DEFAULTS.durationMs)}; replay: the whole trace)
  --to N                  step, ramp: the rate after the step / at the end of the ramp
  --at D                  step: when the rate changes (default half the duration)
  --over D                ramp: how long the ramp takes (default the duration)
  --factor N              burst: multiply the rate by N during the burst (default ${DEFAULTS.burstFactor})
  --burst-at D            burst: when it starts (default a third of the duration)
  --burst-for D           burst: how long it lasts (default a sixth of the duration)
  --amplitude N           sine: rate ± N requests per second (default half the rate)
  --period D              sine: length of one cycle (default the duration)
  --csv FILE              replay: arrival times in seconds from the start (column "t" or the first);
                          other columns travel with each request (e.g. tokens_in,tokens_out)
  --time-scale F          replay: multiply arrival times by F (0.5 = twice as fast; default 1)
  --arrivals A            poisson | uniform inter-arrival times (default poisson)
  --seed N                random seed; the same seed sends the same schedule (default ${DEFAULTS.seed})

Client:
  --connections N         keep-alive connections at most (default ${DEFAULTS.connections})
  --max-outstanding N     requests in flight at most; arrivals beyond are dropped and counted,
                          never delayed (default ${RUNNER_DEFAULTS.maxOutstanding})
  --timeout D             per-request timeout (default ${formatMs(DEFAULTS.timeoutMs)})

Output:
  --json                  print the final report as JSON on stdout
  --plot FILE.svg         write plots of latency, rate, errors (and replicas) over time
  --replicas-from URL     a karb control plane (e.g. http://127.0.0.1:8081): record Ready replicas
                          per service each second
`;

export interface LoadConfig {
  target: HttpTarget;
  schedule: Schedule;
  scheduleInfo: { shape: ShapeName; arrivals?: ArrivalProcess; seed?: number; timeScale?: number; csv?: string };
  connections: number;
  maxOutstanding: number;
  timeoutMs: number;
  json: boolean;
  plot?: string;
  replicasFrom?: string;
  /** The service named by --model, to watch only its replicas. */
  service?: string;
}

export interface LoadReport {
  target: { method: string; url: string };
  schedule: LoadConfig['scheduleInfo'] & { description: string; durationMs: number };
  /** ISO time of the start. */
  startedAt: string;
  durationMs: number;
  elapsedMs: number;
  aborted: boolean;
  totals: RunTotals;
  rates: RunResult['rates'];
  latencyMs: LatencySummary;
  serviceLatencyMs: LatencySummary;
  sendLagMs: LatencySummary;
  series: SecondStats[];
  replicas?: { url: string; samples: Array<{ t: number; ready: Record<string, number> }>; failedPolls: number; lastError?: string };
}

export interface LoadIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** Called with an AbortController the command aborts on; default: SIGINT aborts. */
  onInterrupt?: (abort: () => void) => () => void;
}

export async function runLoadCommand(args: string[], io: Partial<LoadIo> = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  let config: LoadConfig | 'help';
  try {
    config = parseLoadArgs(args, io.env ?? process.env);
  } catch (err) {
    if (isKarbError(err)) {
      stderr.write(`karb load: ${(err as Error).message}\nrun 'karb load --help' for the flags\n`);
      return 2;
    }
    throw err;
  }
  if (config === 'help') {
    stdout.write(LOAD_USAGE);
    return 0;
  }

  const unreachable = await probeTarget(config.target.url);
  if (unreachable !== undefined) {
    const origin = new URL(config.target.url).origin;
    const hint = config.service !== undefined ? `start the platform with 'karb up', or point --gateway at a running gateway` : 'check --url, or start the server first';
    stderr.write(`karb load: cannot reach ${origin} (${unreachable} after 3 attempts); ${hint}\n`);
    return 1;
  }

  const clock = preciseClock;
  const sender = createHttpSender(config.target, { connections: config.connections, timeoutMs: config.timeoutMs, clock });
  const poller =
    config.replicasFrom !== undefined ? startReplicaPoller({ url: replicasUrl(config.replicasFrom, config.service), clock, ...adminTokenOption() }) : undefined;
  const controller = new AbortController();
  const interruptCount = { n: 0 };
  const onInterrupt =
    io.onInterrupt ??
    ((abort: () => void) => {
      const handler = (): void => {
        interruptCount.n++;
        if (interruptCount.n > 1) process.exit(130);
        abort();
      };
      process.on('SIGINT', handler);
      return () => process.off('SIGINT', handler);
    });
  const removeInterrupt = onInterrupt(() => controller.abort());
  const live = stderr.isTTY === true ? progressLine(stderr, config.schedule.durationMs) : undefined;

  let result: RunResult;
  try {
    result = await runOpenLoop({
      schedule: config.schedule,
      send: sender.send,
      clock,
      maxOutstanding: config.maxOutstanding,
      drainTimeoutMs: config.timeoutMs + 1000,
      signal: controller.signal,
      ...(live ? { onProgress: live.update } : {}),
    });
  } finally {
    removeInterrupt();
    live?.clear();
    await sender.close();
    await poller?.stop();
  }

  const report: LoadReport = {
    target: { method: config.target.method, url: config.target.url },
    schedule: { ...config.scheduleInfo, description: config.schedule.description, durationMs: config.schedule.durationMs },
    startedAt: new Date(result.startedAt).toISOString(),
    durationMs: result.durationMs,
    elapsedMs: result.elapsedMs,
    aborted: result.aborted,
    totals: result.totals,
    rates: result.rates,
    latencyMs: result.latencyMs,
    serviceLatencyMs: result.serviceLatencyMs,
    sendLagMs: result.sendLagMs,
    series: result.series,
  };
  if (poller && config.replicasFrom !== undefined) {
    report.replicas = {
      url: config.replicasFrom,
      samples: poller.samples.map((s) => ({ t: round((s.at - result.startedAt) / 1000, 3), ready: s.ready })),
      failedPolls: poller.failures.count,
      ...(poller.failures.last !== undefined ? { lastError: poller.failures.last } : {}),
    };
  }

  if (config.plot !== undefined) {
    const svg = renderLoadSvg({
      title: `karb load — ${config.target.method} ${config.target.url}`,
      subtitle: config.schedule.description,
      series: report.series,
      ...(report.replicas ? { replicas: report.replicas.samples } : {}),
    });
    try {
      writeFileSync(config.plot, svg);
    } catch (err) {
      stderr.write(`karb load: cannot write the plot to ${config.plot}: ${(err as Error).message}\n`);
    }
  }

  stdout.write(config.json ? `${JSON.stringify(report, roundNumbers, 2)}\n` : formatReport(report, config.plot));
  if (report.replicas && report.replicas.samples.length === 0) {
    stderr.write(`karb load: no replica counts from ${report.replicas.url}${report.replicas.lastError ? ` (${report.replicas.lastError})` : ''}\n`);
  }

  // Connected at first but never answered: the run says nothing about the target.
  const t = report.totals;
  if (t.completed > 0 && t.ok === 0 && Object.keys(t.errorsByCode).every((code) => !/^\d+$/.test(code))) {
    stderr.write(`karb load: no answer from ${config.target.url}: every request failed (${describeCodes(t.errorsByCode)})\n`);
    return 1;
  }
  return 0;
}

/** Parses `karb load` flags, reading --body and --csv files; throws UsageError with a fix. */
export function parseLoadArgs(args: string[], env: NodeJS.ProcessEnv = {}): LoadConfig | 'help' {
  const { values } = parseFlags({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      url: { type: 'string' },
      model: { type: 'string' },
      gateway: { type: 'string' },
      body: { type: 'string' },
      'body-json': { type: 'string' },
      method: { type: 'string' },
      header: { type: 'string', multiple: true },
      shape: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      to: { type: 'string' },
      at: { type: 'string' },
      over: { type: 'string' },
      factor: { type: 'string' },
      'burst-at': { type: 'string' },
      'burst-for': { type: 'string' },
      amplitude: { type: 'string' },
      period: { type: 'string' },
      csv: { type: 'string' },
      'time-scale': { type: 'string' },
      arrivals: { type: 'string' },
      seed: { type: 'string' },
      connections: { type: 'string' },
      'max-outstanding': { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      plot: { type: 'string' },
      'replicas-from': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';

  // Target.
  if (values.url !== undefined && values.model !== undefined) throw new UsageError('give either --url or --model, not both');
  if (values.url === undefined && values.model === undefined) throw new UsageError('say where to send: --url URL, or --model NAME for a karb service');
  if (values.gateway !== undefined && values.model === undefined) throw new UsageError('--gateway goes with --model; with --url, put the whole address in --url');
  let url: string;
  if (values.model !== undefined) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(values.model)) throw new UsageError(`--model must be a service name (lowercase letters, digits, '-'), got "${values.model}"`);
    const gateway = httpUrlFlag('--gateway', values.gateway ?? env.KARB_GATEWAY ?? DEFAULT_GATEWAY);
    url = `${gateway.replace(/\/+$/, '')}/v2/models/${values.model}/infer`;
  } else {
    url = httpUrlFlag('--url', values.url!);
  }
  if (values.body !== undefined && values['body-json'] !== undefined) throw new UsageError('give either --body FILE or --body-json JSON, not both');
  let body: string | undefined;
  if (values.body !== undefined) {
    try {
      body = readFileSync(values.body, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read --body ${values.body}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
  } else if (values['body-json'] !== undefined) {
    body = values['body-json'];
    try {
      JSON.parse(body);
    } catch (err) {
      throw new UsageError(`--body-json is not valid JSON: ${(err as Error).message}`);
    }
  }
  if (values.model !== undefined && body === undefined) throw new UsageError('--model needs a request body: --body FILE or --body-json JSON (an OIP v2 inference request)');
  const method = (values.method ?? (body === undefined ? 'GET' : 'POST')).toUpperCase();
  if (!/^[A-Z]+$/.test(method)) throw new UsageError(`--method must be an HTTP method such as GET or POST, got "${values.method}"`);
  const headers: Record<string, string> = {};
  for (const h of values.header ?? []) {
    const colon = h.indexOf(':');
    const name = colon > 0 ? h.slice(0, colon).trim().toLowerCase() : '';
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) throw new UsageError(`--header must look like 'name: value', got "${h}"`);
    headers[name] = h.slice(colon + 1).trim();
  }
  if (body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';

  // Schedule.
  const shape = (values.shape ?? (values.csv !== undefined ? 'replay' : 'constant')) as ShapeName;
  if (!SHAPES.includes(shape)) throw new UsageError(`--shape must be one of ${SHAPES.join(', ')}, got "${values.shape}"`);
  const onlyFor: Array<[string, string | undefined, ShapeName[]]> = [
    ['--to', values.to, ['step', 'ramp']],
    ['--at', values.at, ['step']],
    ['--over', values.over, ['ramp']],
    ['--factor', values.factor, ['burst']],
    ['--burst-at', values['burst-at'], ['burst']],
    ['--burst-for', values['burst-for'], ['burst']],
    ['--amplitude', values.amplitude, ['sine']],
    ['--period', values.period, ['sine']],
    ['--csv', values.csv, ['replay']],
    ['--time-scale', values['time-scale'], ['replay']],
    ['--rate', values.rate, ['constant', 'step', 'burst', 'ramp', 'sine']],
    ['--arrivals', values.arrivals, ['constant', 'step', 'burst', 'ramp', 'sine']],
    ['--seed', values.seed, ['constant', 'step', 'burst', 'ramp', 'sine']],
  ];
  for (const [flag, value, shapes] of onlyFor) {
    if (value !== undefined && !shapes.includes(shape)) {
      throw new UsageError(`${flag} does not apply to --shape ${shape}; it is for --shape ${shapes.join(' or ')}`);
    }
  }

  let schedule: Schedule;
  let scheduleInfo: LoadConfig['scheduleInfo'];
  try {
    if (shape === 'replay') {
      if (values.csv === undefined) throw new UsageError('--shape replay needs --csv FILE with the arrival times');
      let text: string;
      try {
        text = readFileSync(values.csv, 'utf8');
      } catch (err) {
        throw new UsageError(`cannot read --csv ${values.csv}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
      }
      const timeScale = positiveNumber('--time-scale', values['time-scale'], 1);
      const trace = parseArrivalCsv(text, values.csv);
      schedule = replaySchedule(trace, {
        timeScale,
        ...(values.duration !== undefined ? { durationMs: duration('--duration', values.duration) } : {}),
      });
      scheduleInfo = { shape, timeScale, csv: values.csv };
    } else {
      const durationMs = values.duration !== undefined ? duration('--duration', values.duration) : DEFAULTS.durationMs;
      const rate = nonNegativeNumber('--rate', values.rate, DEFAULTS.rate);
      const arrivals = (values.arrivals ?? 'poisson') as ArrivalProcess;
      if (arrivals !== 'poisson' && arrivals !== 'uniform') throw new UsageError(`--arrivals must be poisson or uniform, got "${values.arrivals}"`);
      const seed = values.seed === undefined ? DEFAULTS.seed : Number(values.seed);
      if (!Number.isSafeInteger(seed)) throw new UsageError(`--seed must be a whole number, got "${values.seed}"`);
      const needTo = (): number => {
        if (values.to === undefined) throw new UsageError(`--shape ${shape} needs --to N, the rate ${shape === 'step' ? 'after the step' : 'at the end of the ramp'}`);
        return nonNegativeNumber('--to', values.to, 0);
      };
      let spec: ShapeSpec;
      switch (shape) {
        case 'constant':
          spec = { shape, rate };
          break;
        case 'step':
          spec = { shape, rate, toRate: needTo(), atMs: values.at !== undefined ? duration('--at', values.at, true) : durationMs / 2 };
          break;
        case 'ramp':
          spec = { shape, rate, toRate: needTo(), ...(values.over !== undefined ? { overMs: duration('--over', values.over) } : {}) };
          break;
        case 'burst':
          spec = {
            shape,
            rate,
            factor: nonNegativeNumber('--factor', values.factor, DEFAULTS.burstFactor),
            startMs: values['burst-at'] !== undefined ? duration('--burst-at', values['burst-at'], true) : durationMs / 3,
            forMs: values['burst-for'] !== undefined ? duration('--burst-for', values['burst-for']) : durationMs / 6,
          };
          break;
        case 'sine':
          spec = {
            shape,
            rate,
            amplitude: nonNegativeNumber('--amplitude', values.amplitude, rate / 2),
            periodMs: values.period !== undefined ? duration('--period', values.period) : durationMs,
          };
          break;
      }
      schedule = generatedSchedule(spec, { durationMs, seed, arrivals });
      scheduleInfo = { shape, arrivals, seed };
    }
  } catch (err) {
    // Schedule and trace errors carry their own clear message; they are the caller's input.
    if (isKarbError(err) && !(err instanceof UsageError)) throw new UsageError(err.message, { cause: err });
    throw err;
  }

  const plot = values.plot;
  if (plot !== undefined && !/\.svg$/i.test(plot)) {
    throw new UsageError(`--plot writes SVG; name the file with .svg, got "${plot}" (open it in a browser, or convert it to PNG with a tool such as rsvg-convert)`);
  }
  const replicasFrom = values['replicas-from'] !== undefined ? httpUrlFlag('--replicas-from', values['replicas-from']) : undefined;

  return {
    target: { url, method, headers, ...(body !== undefined ? { body } : {}) },
    schedule,
    scheduleInfo,
    connections: wholeNumber('--connections', values.connections, DEFAULTS.connections),
    maxOutstanding: wholeNumber('--max-outstanding', values['max-outstanding'], RUNNER_DEFAULTS.maxOutstanding),
    timeoutMs: values.timeout !== undefined ? duration('--timeout', values.timeout) : DEFAULTS.timeoutMs,
    json: values.json ?? false,
    ...(plot !== undefined ? { plot } : {}),
    ...(replicasFrom !== undefined ? { replicasFrom } : {}),
    ...(values.model !== undefined ? { service: values.model } : {}),
  };
}

/** A duration flag of `karb load`: a bare number is seconds; zero only where `zeroAllowed` (a start time). */
function duration(flag: string, text: string, zeroAllowed = false): number {
  return durationFlag(flag, text, 0, { bareSeconds: true, positive: !zeroAllowed });
}

function nonNegativeNumber(flag: string, text: string | undefined, fallback: number): number {
  return numberFlag(flag, text, fallback, { min: 0 });
}

function positiveNumber(flag: string, text: string | undefined, fallback: number): number {
  return numberFlag(flag, text, fallback, { above: 0 });
}

function wholeNumber(flag: string, text: string | undefined, fallback: number): number {
  return numberFlag(flag, text, fallback, { whole: true, min: 1 });
}

/** One updating line on a terminal: elapsed, offered/achieved rate, p95, errors, outstanding. */
function progressLine(stream: NodeJS.WritableStream, durationMs: number): { update: (p: Progress) => void; clear: () => void } {
  return {
    update(p) {
      const last = p.lastSecond;
      const line = [
        `${formatMs(Math.floor(p.elapsedMs / 1000) * 1000)}/${formatMs(durationMs)}`,
        `offered ${last?.offered ?? 0}/s`,
        `achieved ${last?.achievedRps ?? 0}/s`,
        `p95 ${last?.p95Ms != null ? formatLatency(last.p95Ms) : '-'}`,
        `errors ${p.totals.errors}`,
        `outstanding ${p.outstanding}`,
        ...(p.totals.dropped > 0 ? [`dropped ${p.totals.dropped}`] : []),
      ].join('  ');
      stream.write(`\r\x1b[2K${line}`);
    },
    clear() {
      stream.write('\r\x1b[2K');
    },
  };
}

/** The human-readable report. */
export function formatReport(report: LoadReport, plot?: string): string {
  const t = report.totals;
  const r = report.rates;
  const latency = (s: LatencySummary): string =>
    s.count === 0 ? 'no successful responses' : `p50 ${formatLatency(s.p50)} · p95 ${formatLatency(s.p95)} · p99 ${formatLatency(s.p99)} · max ${formatLatency(s.max)}`;
  const lines = [
    `target     ${report.target.method} ${report.target.url}`,
    `schedule   ${report.schedule.description}${report.aborted ? ` (stopped after ${formatMs(report.durationMs)})` : ''}`,
    `requests   ${t.offered} offered · ${t.sent} sent · ${t.dropped} dropped · ${t.ok} ok · ${t.errors} errors${t.errors > 0 ? ` (${describeCodes(t.errorsByCode)})` : ''}${t.unfinished > 0 ? ` · ${t.unfinished} unfinished` : ''}`,
    `rate       offered ${r.offeredRps.toFixed(1)}/s · sent ${r.sentRps.toFixed(1)}/s · achieved ${r.achievedRps.toFixed(1)}/s`,
    `latency    ${latency(report.latencyMs)}   (from scheduled time)`,
    `on wire    ${latency(report.serviceLatencyMs)}   (from send)`,
    `send lag   ${report.sendLagMs.count === 0 ? '-' : `p50 ${formatLatency(report.sendLagMs.p50)} · p99 ${formatLatency(report.sendLagMs.p99)} · max ${formatLatency(report.sendLagMs.max)}`}`,
  ];
  if (report.replicas) {
    const services = [...new Set(report.replicas.samples.flatMap((s) => Object.keys(s.ready)))].sort();
    const parts = services.map((name) => {
      const counts = report.replicas!.samples.map((s) => s.ready[name]).filter((n): n is number => n !== undefined);
      return `${name} ${counts[0]}→${counts[counts.length - 1]} (max ${Math.max(...counts)})`;
    });
    lines.push(`replicas   ${parts.length > 0 ? parts.join(' · ') : 'none seen'}`);
  }
  if (plot !== undefined) lines.push(`plot       ${plot}`);
  return `${lines.join('\n')}\n`;
}

function describeCodes(byCode: Record<string, number>): string {
  return Object.entries(byCode)
    .sort((a, b) => b[1] - a[1])
    .map(([code, n]) => `${code} ×${n}`)
    .join(', ');
}

function formatLatency(ms: number): string {
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms)} ms`;
}

/** JSON replacer: times and rates to the microsecond / third decimal, so the report stays readable. */
function roundNumbers(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isInteger(value) ? round(value, 3) : value;
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** The control plane's admin token for --replicas-from: KARB_TOKEN or `.karb/admin-token`, as the CLI finds it. */
function adminTokenOption(): { adminToken?: string } {
  const { token } = resolveAdminToken(undefined);
  return token === undefined ? {} : { adminToken: token };
}
