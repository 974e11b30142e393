/**
 * `karb serve`: load one ONNX model and serve it over OIP v2 until SIGTERM/SIGINT,
 * then drain. Prints one JSON line `{"time":...,"level":"info","msg":"listening","port":...}`
 * to stdout once it takes traffic (the embedded runtime reads the port from it).
 * Exit codes: 0 after a clean drain, 1 on failure (model cannot load or is not the file
 * --model-digest pins, port busy, drain cut short), 2 on a usage error.
 */
import path from 'node:path';
import { existsSync } from 'node:fs';
import { SERVING_DEFAULTS } from './defaults.ts';
import { jsonLogger, type Logger } from '../util/log.ts';
import type { ModelSession } from './onnx-model.ts';
import { UsageError } from '../errors.ts';
import { numberFlag, parseFlags } from '../util/flags.ts';
import { listenFailure } from '../util/http.ts';
import { startTracing } from '../observability/tracing/start.ts';
import { DEFAULT_MIN_ROWS as MIN_DRIFT_ROWS } from '../observability/drift/verdict.ts';
import { DEFAULT_MAX_COLUMNS } from '../observability/drift/monitor.ts';
import { MODEL_DIGEST_FORMAT, MODEL_DIGEST_PATTERN } from '../api/model-digest.ts';
import { verifyModelDigest } from './model-digest.ts';

/** Most columns `--drift-max-columns` may ask for (the same bound as spec.model.drift.maxColumns). */
const MAX_DRIFT_COLUMNS = 65_536;

export const SERVE_USAGE = `usage: karb serve --model FILE [options]

Serves one ONNX model over the Open Inference Protocol v2 (KServe REST) with dynamic batching,
or a causal language model (input_ids → logits, like models/tiny-lm.onnx) over the OpenAI API.

  --model FILE              ONNX model file (required)
  --model-digest DIGEST     the file's pinned SHA-256, sha256:<64 lowercase hex digits> (sha256sum prints the
                            digits); checked before loading: another file exits 1 and serves nothing
  --port N                  port to listen on; 0 picks a free one (default ${SERVING_DEFAULTS.port})
  --host HOST               address to bind (default ${SERVING_DEFAULTS.host})
  --name NAME               model name in /v2/models/{name} (default: the file name without extension)
  --max-batch-size N        most rows per model run (default ${SERVING_DEFAULTS.maxBatchSize})
  --max-delay-ms N          while a batch runs, longest the next one gathers rows (default ${SERVING_DEFAULTS.maxDelayMs});
                            a request to an idle model never waits
  --max-queue N             rows allowed to wait; beyond it requests get 503 + Retry-After (default ${SERVING_DEFAULTS.maxQueueRows})
  --body-limit BYTES        largest request body; larger ones get 413 (default ${SERVING_DEFAULTS.bodyLimitBytes})
  --intra-op-threads N      ONNX Runtime threads per operator (default: all cores)
  --model-thread WHERE      where batches compute: main (the HTTP thread), worker (a thread of their own, so
                            HTTP goes on while one computes) or auto: main when a full batch takes at most
                            ${SERVING_DEFAULTS.inlineBatchBudgetMs} ms, else worker (default auto)
  --drain-timeout-ms N      on SIGTERM, longest wait for queued and in-flight requests (default ${SERVING_DEFAULTS.drainTimeoutMs})
  --warmup-requests N       inference requests the server sends itself before it reports ready, so the first
                            requests it is sent do not pay for its warm-up; 0 for none (default ${SERVING_DEFAULTS.warmupRequests})
  --drift-reference FILE    reference distribution for drift (default: <model>.reference.json beside the
                            model when there is one; else one is learned from the first rows served)
  --drift-learn-rows N      rows to learn the reference from when there is no file (default 1000)
  --drift-window-rows N     recent rows the drift statistics cover at most, at least 400 (default 2000)
  --drift-max-columns N     columns drift watches at most, inputs first, each costing three metric series
                            (default ${DEFAULT_MAX_COLUMNS})
  --openai                  serve the OpenAI API (/v1/completions, /v1/chat/completions, /v1/embeddings);
                            chosen by itself for a model with input 'input_ids' and output 'logits'

Fault injection for resilience tests (off by default; never use in production):
  --inject-latency-ms N     add N ms to every model run, as a slow model would
  --inject-error-rate P     answer this share (0..1) of inference requests with 500
  --inject-while FILE       inject the faults above only while FILE exists (turn them on and off from outside)
`;

export interface ServeConfig {
  modelPath: string;
  /** The model file's pinned digest (`sha256:<hex>`), checked before it loads. */
  modelDigest?: string;
  name: string;
  host: string;
  port: number;
  maxBatchSize: number;
  maxDelayMs: number;
  maxQueueRows: number;
  bodyLimitBytes: number;
  intraOpThreads: number | undefined;
  /** Where batches compute; `auto` times a full batch (model-thread.ts). */
  modelThread: 'auto' | 'worker' | 'main';
  drainTimeoutMs: number;
  warmupRequests: number;
  injectLatencyMs: number;
  injectErrorRate: number;
  /** Inject faults only while this file exists. */
  injectWhile?: string;
  /** Drift flags: an explicit reference file, rows to learn one from, rows of the window, columns watched (absent: none given). */
  drift?: { referencePath?: string; learnRows?: number; windowRows?: number; maxColumns?: number };
  /** Serve the OpenAI API; unset: decide from the model's inputs and outputs. */
  openai?: boolean;
}

/** Parses `karb serve` flags into a config; throws UsageError with a message for the user. */
export function parseServeArgs(args: string[]): ServeConfig | 'help' {
  const { values } = parseFlags({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      model: { type: 'string' },
      'model-digest': { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      name: { type: 'string' },
      'max-batch-size': { type: 'string' },
      'max-delay-ms': { type: 'string' },
      'max-queue': { type: 'string' },
      'body-limit': { type: 'string' },
      'intra-op-threads': { type: 'string' },
      'model-thread': { type: 'string' },
      'drain-timeout-ms': { type: 'string' },
      'warmup-requests': { type: 'string' },
      'inject-latency-ms': { type: 'string' },
      'inject-error-rate': { type: 'string' },
      'inject-while': { type: 'string' },
      'drift-reference': { type: 'string' },
      'drift-learn-rows': { type: 'string' },
      'drift-window-rows': { type: 'string' },
      'drift-max-columns': { type: 'string' },
      openai: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (values.model === undefined || values.model === '') throw new UsageError('--model FILE is required');

  const name = values.name ?? path.basename(values.model).replace(/\.[^.]*$/, '');
  if (name === '' || name.includes('/')) throw new UsageError(`--name must be a non-empty name without '/', got "${name}"`);
  return {
    modelPath: values.model,
    ...(values['model-digest'] === undefined ? {} : { modelDigest: modelDigestFlag(values['model-digest']) }),
    name,
    host: values.host ?? SERVING_DEFAULTS.host,
    port: integer('--port', values.port, SERVING_DEFAULTS.port, 0, 65535),
    maxBatchSize: integer('--max-batch-size', values['max-batch-size'], SERVING_DEFAULTS.maxBatchSize, 1),
    maxDelayMs: number('--max-delay-ms', values['max-delay-ms'], SERVING_DEFAULTS.maxDelayMs, 0),
    maxQueueRows: integer('--max-queue', values['max-queue'], SERVING_DEFAULTS.maxQueueRows, 1),
    bodyLimitBytes: integer('--body-limit', values['body-limit'], SERVING_DEFAULTS.bodyLimitBytes, 1),
    intraOpThreads: values['intra-op-threads'] === undefined ? undefined : integer('--intra-op-threads', values['intra-op-threads'], 0, 1, 1024),
    modelThread: modelThreadFlag(values['model-thread']),
    drainTimeoutMs: integer('--drain-timeout-ms', values['drain-timeout-ms'], SERVING_DEFAULTS.drainTimeoutMs, 0),
    warmupRequests: integer('--warmup-requests', values['warmup-requests'], SERVING_DEFAULTS.warmupRequests, 0, 10_000),
    injectLatencyMs: number('--inject-latency-ms', values['inject-latency-ms'], 0, 0),
    injectErrorRate: number('--inject-error-rate', values['inject-error-rate'], 0, 0, 1),
    ...(values['inject-while'] ? { injectWhile: values['inject-while'] } : {}),
    ...(values['drift-reference'] === undefined && values['drift-learn-rows'] === undefined && values['drift-window-rows'] === undefined && values['drift-max-columns'] === undefined
      ? {}
      : {
          drift: {
            ...(values['drift-reference'] === undefined ? {} : { referencePath: nonEmpty('--drift-reference', values['drift-reference']) }),
            ...(values['drift-learn-rows'] === undefined ? {} : { learnRows: integer('--drift-learn-rows', values['drift-learn-rows'], 0, 10, 1_000_000) }),
            ...(values['drift-window-rows'] === undefined ? {} : { windowRows: windowRowsFlag(values['drift-window-rows']) }),
            ...(values['drift-max-columns'] === undefined ? {} : { maxColumns: integer('--drift-max-columns', values['drift-max-columns'], 0, 1, MAX_DRIFT_COLUMNS) }),
          },
        }),
    ...(values.openai === undefined ? {} : { openai: values.openai }),
  };
}

/** A number flag of `karb serve`, whose messages give the range: "--max-delay-ms must be a number from 0 to any". */
function number(flag: string, raw: string | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER, whole = false): number {
  return numberFlag(flag, raw, fallback, { whole, min, max, expected: `a number from ${min} to ${max === Number.MAX_SAFE_INTEGER ? 'any' : max}` });
}

function modelDigestFlag(raw: string): string {
  if (!MODEL_DIGEST_PATTERN.test(raw)) throw new UsageError(`--model-digest ${MODEL_DIGEST_FORMAT}, got "${raw.length <= 80 ? raw : `${raw.slice(0, 80)}…`}"`);
  return raw;
}

function modelThreadFlag(raw: string | undefined): ServeConfig['modelThread'] {
  if (raw === undefined) return 'auto';
  if (raw === 'auto' || raw === 'worker' || raw === 'main') return raw;
  throw new UsageError(`--model-thread must be auto, worker or main, got "${raw.length <= 40 ? raw : `${raw.slice(0, 40)}…`}"`);
}

function nonEmpty(flag: string, raw: string): string {
  if (raw === '') throw new UsageError(`${flag} must name a file`);
  return raw;
}

function integer(flag: string, raw: string | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  return number(flag, raw, fallback, min, max, true);
}

/** The window keeps as few as half its rows, and drift is judged from MIN_DRIFT_ROWS: a smaller window would never, or only every other half, be judged. */
function windowRowsFlag(raw: string): number {
  const min = 2 * MIN_DRIFT_ROWS;
  return numberFlag('--drift-window-rows', raw, 0, {
    whole: true,
    min,
    max: 10_000_000,
    expected: `a whole number from ${min} to 10000000 (the window keeps as few as half its rows, and drift is judged from ${MIN_DRIFT_ROWS})`,
  });
}

export async function runServeCommand(args: string[]): Promise<number> {
  let config: ServeConfig | 'help';
  try {
    config = parseServeArgs(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`karb serve: ${err.message}\n\n${SERVE_USAGE}`);
    return 2;
  }
  if (config === 'help') {
    process.stdout.write(SERVE_USAGE);
    return 0;
  }

  // Always at info, whatever KARB_LOG_LEVEL says: tools and tests read the port from the `listening` line.
  const logger = jsonLogger({ level: 'info' });
  // Loaded here, not at the top: every `karb` command imports this file, and only
  // `serve` needs ONNX Runtime and the metrics library.
  const { loadOnnxModel } = await import('./onnx-model.ts');
  const { loadWhereCheapest } = await import('./model-thread.ts');
  // The HTTP side loads while the worker thread loads ONNX Runtime and the model.
  const serverModule = import('./server.ts');
  serverModule.catch(() => undefined); // awaited below; this only keeps an early return from leaving it unhandled
  if (config.modelDigest !== undefined) {
    try {
      await verifyModelDigest(config.modelPath, config.modelDigest);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      logger.log('error', 'model digest refused', { model: config.name, path: config.modelPath, pinned: config.modelDigest, error: message });
      process.stderr.write(`karb serve: ${message}\n`);
      return 1;
    }
  }
  let model: ModelSession;
  try {
    const loadOptions = config.intraOpThreads === undefined ? {} : { intraOpThreads: config.intraOpThreads };
    if (config.modelThread === 'auto') {
      const choice = await loadWhereCheapest(config.modelPath, { ...loadOptions, batchRows: config.maxBatchSize });
      model = choice.session;
      logger.log('info', 'model thread chosen', { model: config.name, thread: choice.thread, reason: choice.reason });
    } else {
      model = await loadOnnxModel(config.modelPath, { ...loadOptions, thread: config.modelThread });
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    logger.log('error', 'model load failed', { model: config.name, path: config.modelPath, error: message });
    process.stderr.write(`karb serve: ${message}\n`);
    return 1;
  }

  const { looksLikeLanguageModel } = await import('./openai/language-model.ts');
  if (config.openai ?? looksLikeLanguageModel(model)) {
    const { serveOpenAIUntilSignalled } = await import('./openai/serve.ts');
    return serveOpenAIUntilSignalled(model, config, logger);
  }
  return serveUntilSignalled(model, config, logger, await serverModule);
}

/**
 * Serves until SIGTERM or SIGINT, then drains the server, closes the model and
 * returns the exit code: 0 after a clean drain, 1 when the drain timed out.
 */
export async function runUntilStopped(
  server: { drain(timeoutMs: number): Promise<{ timedOut: boolean }> },
  model: ModelSession,
  drainTimeoutMs: number,
  logger: Logger,
): Promise<number> {
  const release = await waitForStopSignal(logger);
  const { timedOut } = await server.drain(drainTimeoutMs);
  await model.close();
  release();
  logger.log('info', 'stopped', { timedOut });
  return timedOut ? 1 : 0;
}

/** Waits for SIGTERM or SIGINT; a second one exits at once, dropping whatever is still in flight. */
async function waitForStopSignal(logger: Logger): Promise<() => void> {
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve(sig);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  logger.log('info', 'signal received; draining', { signal });
  const cut = (sig: NodeJS.Signals) => {
    logger.log('warn', 'second signal; stopping without finishing the drain', { signal: sig });
    process.exit(1);
  };
  process.once('SIGTERM', cut);
  process.once('SIGINT', cut);
  return () => {
    process.off('SIGTERM', cut);
    process.off('SIGINT', cut);
  };
}

async function serveUntilSignalled(model: ModelSession, config: ServeConfig, logger: Logger, { startModelServer }: typeof import('./server.ts')): Promise<number> {
  let drift;
  try {
    const { createDriftMonitor, referencePathFor } = await import('./drift.ts');
    const referencePath = referencePathFor(config.modelPath, config.drift?.referencePath);
    drift = createDriftMonitor(model, { ...config.drift, ...(referencePath === undefined ? {} : { referencePath }) });
    if (drift !== undefined && drift.unwatchedColumns > 0) {
      const maxColumns = config.drift?.maxColumns ?? DEFAULT_MAX_COLUMNS;
      logger.log('warn', `drift watches the first ${maxColumns} columns and not the other ${drift.unwatchedColumns}; set spec.model.drift.maxColumns (karb serve --drift-max-columns) to watch more, at three metric series each`, {
        model: config.name,
        maxColumns,
        unwatchedColumns: drift.unwatchedColumns,
      });
    }
  } catch (err) {
    process.stderr.write(`karb serve: ${err instanceof Error ? err.message : String(err)}\n`);
    logger.log('error', 'drift reference refused', { model: config.name, error: err instanceof Error ? err.message : String(err) });
    await model.close();
    return 1;
  }
  // OTEL_* variables: spans per inference request, joined to the gateway's by traceparent.
  const tracing = await startTracing({ serviceName: 'karb-serve', warn: (message) => logger.log('warn', message) });
  let server;
  try {
    server = await startModelServer({
      ...(drift ? { drift } : {}),
      ...(tracing ? { tracing } : {}),
      model,
      name: config.name,
      host: config.host,
      port: config.port,
      maxBatchSize: config.maxBatchSize,
      maxDelayMs: config.maxDelayMs,
      maxQueueRows: config.maxQueueRows,
      bodyLimitBytes: config.bodyLimitBytes,
      warmupRequests: config.warmupRequests,
      injectLatencyMs: config.injectLatencyMs,
      injectErrorRate: config.injectErrorRate,
      ...(config.injectWhile !== undefined ? { injectWhile: fileExists(config.injectWhile) } : {}),
      logger,
    });
  } catch (err) {
    process.stderr.write(`karb serve: ${listenFailure(err, config.host, config.port)}\n`);
    await model.close();
    return 1;
  }

  logger.log('info', 'listening', {
    port: server.port,
    host: server.host,
    url: server.url,
    model: config.name,
    path: config.modelPath,
    pid: process.pid,
    inputs: model.inputs,
    outputs: model.outputs,
    maxBatchSize: config.maxBatchSize,
    maxDelayMs: config.maxDelayMs,
    drift: drift === undefined ? 'off (no 2-D float input)' : (drift.reference?.source ?? 'learning from the first rows served'),
    ...(config.injectLatencyMs > 0 || config.injectErrorRate > 0
      ? { faultInjection: { latencyMs: config.injectLatencyMs, errorRate: config.injectErrorRate, ...(config.injectWhile !== undefined ? { while: config.injectWhile } : {}) } }
      : {}),
  });

  const code = await runUntilStopped(server, model, config.drainTimeoutMs, logger);
  // The last spans, those of the drain, go out before the process ends.
  await tracing?.shutdown();
  return code;
}

/** Whether `file` exists, checked on each call (fault injection only: a syscall per request). */
function fileExists(file: string): () => boolean {
  return () => existsSync(file);
}
