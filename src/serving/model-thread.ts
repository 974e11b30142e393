/**
 * Which thread a model's session runs in, when `karb serve --model-thread auto`
 * (the default) chooses. A session in a worker thread keeps the HTTP thread free
 * while a batch computes, but every batch then costs two thread hand-offs, each
 * waking a sleeping thread: about 0.3 ms, and on a shared or virtual machine now
 * and then several ms. For a model whose full batch computes in microseconds
 * that hand-off is most of a lone request's time and nearly all of its tail, and
 * the HTTP thread loses almost nothing by computing the batch itself.
 *
 * So `auto` times a full batch in the calling thread and keeps the session there
 * when it is cheap; otherwise (and without a trial where the model is large or its
 * cost depends on what a request carries) the session goes to a worker thread.
 */
import { stat } from 'node:fs/promises';
import { datatypeInfo } from './datatypes.ts';
import { SERVING_DEFAULTS } from './defaults.ts';
import { loadOnnxModel, type LoadOptions, type ModelSession, type TensorMap, type TensorSpec } from './onnx-model.ts';

export type ModelThread = 'worker' | 'main';

/**
 * A model file larger than this goes to a worker thread without a trial: weights of
 * this size cost more than the budget per full batch anyway, and loading the model
 * twice would lengthen every cold start.
 */
export const INLINE_MAX_MODEL_BYTES = 8 * 2 ** 20;
/** Largest trial batch built, in elements per input. */
const MAX_TRIAL_ELEMENTS = 1 << 20;
/** Timed runs after one untimed run (ONNX Runtime's first run allocates). */
const TIMED_RUNS = 5;

export interface ThreadChoice {
  session: ModelSession;
  thread: ModelThread;
  /** Why, in a sentence for the start-up log. */
  reason: string;
}

export interface AutoThreadOptions extends Pick<LoadOptions, 'intraOpThreads'> {
  /** Rows of a full batch (the server's max batch size). */
  batchRows: number;
  /** A full batch that computes within this (median of the timed runs) stays in the HTTP thread. */
  budgetMs?: number;
  maxModelBytes?: number;
  /** Monotonic milliseconds for the trial (default performance.now). */
  stopwatch?: () => number;
}

/**
 * Zero-valued feeds of a full batch, or why the model cannot be judged by one: an
 * input with a dynamic dimension past the first (a sequence, an image size) costs
 * what each request makes it cost, and a trial at size 1 would say nothing.
 */
export function trialFeeds(inputs: readonly TensorSpec[], batchRows: number): TensorMap | string {
  const feeds: TensorMap = {};
  for (const input of inputs) {
    if (input.shape.slice(1).some((d) => d < 0)) return `input '${input.name}' has a dynamic dimension past the batch, so a batch's cost depends on the request`;
    const dims = input.shape.map((d, i) => (i === 0 && d < 0 ? batchRows : d));
    const elements = dims.reduce((a, b) => a * b, 1);
    if (elements > MAX_TRIAL_ELEMENTS) return `input '${input.name}' holds ${elements} elements per batch`;
    const info = datatypeInfo(input.datatype);
    if (info === undefined) return `input '${input.name}' has datatype ${input.datatype}, which a trial cannot build`;
    feeds[input.name] = { data: new info.array(elements), dims };
  }
  return feeds;
}

/** Loads the model where it runs best (see the file comment) and says where and why. */
export async function loadWhereCheapest(path: string, options: AutoThreadOptions): Promise<ThreadChoice> {
  const budgetMs = options.budgetMs ?? SERVING_DEFAULTS.inlineBatchBudgetMs;
  const maxModelBytes = options.maxModelBytes ?? INLINE_MAX_MODEL_BYTES;
  const stopwatch = options.stopwatch ?? (() => performance.now());
  const load = (thread: ModelThread) => loadOnnxModel(path, { thread, ...(options.intraOpThreads === undefined ? {} : { intraOpThreads: options.intraOpThreads }) });
  const inWorker = async (reason: string): Promise<ThreadChoice> => ({ session: await load('worker'), thread: 'worker', reason });

  const bytes = (await stat(path).catch(() => undefined))?.size;
  if (bytes !== undefined && bytes > maxModelBytes) return inWorker(`the model file is ${mib(bytes)} MiB, over ${mib(maxModelBytes)} MiB`);
  const session = await load('main');
  const rows = session.batchable ? options.batchRows : 1;
  const feeds = trialFeeds(session.inputs, rows);
  if (typeof feeds === 'string') {
    await session.close();
    return inWorker(feeds);
  }
  let medianMs: number;
  try {
    medianMs = await timeBatch(session, feeds, stopwatch);
  } catch (err) {
    // A model that cannot run zeros is judged by real requests, in the thread that does not block HTTP.
    await session.close();
    return inWorker(`a trial batch of zeros failed (${err instanceof Error ? err.message : String(err)})`);
  }
  const took = `a batch of ${rows} row${rows === 1 ? '' : 's'} computes in ${medianMs.toFixed(3)} ms`;
  if (medianMs <= budgetMs) return { session, thread: 'main', reason: `${took}, within ${budgetMs} ms` };
  await session.close();
  return inWorker(`${took}, over ${budgetMs} ms`);
}

/** The median time of TIMED_RUNS runs of the feeds, after one untimed run. Runs get copies: a run may take its feeds' buffers. */
async function timeBatch(session: ModelSession, feeds: TensorMap, stopwatch: () => number): Promise<number> {
  const copy = (): TensorMap => Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, { data: t.data.slice(), dims: t.dims }]));
  await session.run(copy());
  const times: number[] = [];
  for (let k = 0; k < TIMED_RUNS; k++) {
    const input = copy();
    const start = stopwatch();
    await session.run(input);
    times.push(stopwatch() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}
