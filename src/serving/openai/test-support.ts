/**
 * Shared by this folder's tests: the built-in tiny LM (generated if missing),
 * loaded in the test's own thread.
 */
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadOnnxModel, type ModelSession } from '../onnx-model.ts';
import { MODELS, NODE, REPO_ROOT } from '../test-helpers.ts';
import { describeLanguageModel, LanguageModel } from './language-model.ts';

export async function loadTinyLm(): Promise<{ lm: LanguageModel; session: ModelSession; close(): Promise<void> }> {
  if (!existsSync(MODELS.tinyLm)) {
    await promisify(execFile)(NODE, [path.join(REPO_ROOT, 'scripts/make-models.ts'), '--if-missing'], { cwd: REPO_ROOT });
  }
  const session = await loadOnnxModel(MODELS.tinyLm, { thread: 'main', intraOpThreads: 1 });
  const lm = new LanguageModel(session, await describeLanguageModel(MODELS.tinyLm, session));
  return { lm, session, close: () => session.close() };
}
