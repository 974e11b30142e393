/** Default settings of `karb serve` and `startModelServer`, in one place the CLI can read without loading the runtime. */
export const SERVING_DEFAULTS = {
  host: '127.0.0.1',
  port: 8000,
  maxBatchSize: 32,
  maxDelayMs: 4,
  maxQueueRows: 1024,
  bodyLimitBytes: 8 * 1024 * 1024,
  drainTimeoutMs: 30_000,
  /** `karb serve --model-thread auto`: a full batch that computes within this stays in the HTTP thread (model-thread.ts). */
  inlineBatchBudgetMs: 0.5,
  /** `karb serve` only; `startModelServer` sends none unless asked. */
  warmupRequests: 48,
} as const;
