/**
 * `karb serve --openai`: the OpenAI-compatible server's process lifecycle —
 * describe the language model, listen, print the `listening` line the
 * embedded runtime reads, drain on SIGTERM/SIGINT.
 */
import { runUntilStopped, type ServeConfig } from '../cli.ts';
import type { Logger } from '../../util/log.ts';
import type { ModelSession } from '../onnx-model.ts';
import { describeLanguageModel, LanguageModel } from './language-model.ts';
import { startOpenAIServer } from './server.ts';
import { listenFailure } from '../../util/http.ts';

export async function serveOpenAIUntilSignalled(model: ModelSession, config: ServeConfig, logger: Logger): Promise<number> {
  let lm: LanguageModel;
  try {
    lm = new LanguageModel(model, await describeLanguageModel(config.modelPath, model));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    logger.log('error', 'model load failed', { model: config.name, path: config.modelPath, error: message });
    process.stderr.write(`karb serve: ${message}\n`);
    await model.close();
    return 1;
  }
  let server;
  try {
    server = await startOpenAIServer({ lm, name: config.name, host: config.host, port: config.port, bodyLimitBytes: config.bodyLimitBytes, logger });
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
    protocol: 'openai',
    contextLength: lm.info.contextLength,
    vocabSize: lm.info.vocabSize,
  });
  return runUntilStopped(server, model, config.drainTimeoutMs, logger);
}
