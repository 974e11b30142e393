/**
 * Prometheus metrics of the OpenAI-compatible server, in its own Registry:
 * requests by route and status, request latency and requests in flight (the
 * families every model server exports, from ../metrics.ts), plus time to first
 * token, time per output token after the first, and token counts.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import { createRequestMetrics, servingRegistry } from '../metrics.ts';

export type OpenAIRoute = 'chat' | 'completions' | 'embeddings' | 'models' | 'health' | 'metrics' | 'other';

export interface OpenAIMetrics {
  readonly registry: Registry;
  countRequest(route: OpenAIRoute, code: number, seconds: number): void;
  observeGeneration(promptTokens: number, completionTokens: number, firstTokenSeconds: number | undefined, perTokenSeconds: number | undefined): void;
}

export function createOpenAIMetrics(model: string, inFlight: () => number): OpenAIMetrics {
  const registry = servingRegistry(model);
  const requests = createRequestMetrics(registry, inFlight);
  const ttft = new Histogram({
    name: 'karb_serving_time_to_first_token_seconds',
    help: 'From arrival to the first generated text.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const tpot = new Histogram({
    name: 'karb_serving_time_per_output_token_seconds',
    help: 'Mean time per generated token after the first, per request.',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25],
    registers: [registry],
  });
  const promptTokens = new Counter({ name: 'karb_serving_prompt_tokens_total', help: 'Prompt tokens read.', registers: [registry] });
  const completionTokens = new Counter({ name: 'karb_serving_generated_tokens_total', help: 'Tokens generated.', registers: [registry] });
  return {
    registry,
    countRequest(route, code, seconds) {
      requests.countRequest(route, code);
      if (route === 'chat' || route === 'completions' || route === 'embeddings') requests.observeRequestSeconds(seconds);
    },
    observeGeneration(prompt, completion, firstTokenSeconds, perTokenSeconds) {
      promptTokens.inc(prompt);
      completionTokens.inc(completion);
      if (firstTokenSeconds !== undefined) ttft.observe(firstTokenSeconds);
      if (perTokenSeconds !== undefined) tpot.observe(perTokenSeconds);
    },
  };
}
