/**
 * Shared by the model server's tests and benchmark: paths of the example models
 * (generated once by scripts/make-models.ts when missing), a Prometheus sample reader, and a
 * model session whose runs a test wraps.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ModelSession } from './onnx-model.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const NODE = path.join(REPO_ROOT, 'node_modules/.bin/node');
export const CLI = path.join(REPO_ROOT, 'src/cli/main.ts');

export const MODELS = {
  fraudV1: path.join(REPO_ROOT, 'models/fraud-v1.onnx'),
  fraudV2: path.join(REPO_ROOT, 'models/fraud-v2.onnx'),
  wideMlp: path.join(REPO_ROOT, 'models/wide-mlp.onnx'),
  tinyLm: path.join(REPO_ROOT, 'models/tiny-lm.onnx'),
  /** fraud-v1's drift reference, written beside it from its training data. */
  fraudV1Reference: path.join(REPO_ROOT, 'models/fraud-v1.reference.json'),
} as const;

let ensured: Promise<void> | undefined;

/** Generates the example models once if any is missing. */
export function ensureModels(): Promise<void> {
  ensured ??= (async () => {
    if (Object.values(MODELS).every((p) => existsSync(p))) return;
    await promisify(execFile)(NODE, [path.join(REPO_ROOT, 'scripts/make-models.ts'), '--if-missing'], { cwd: REPO_ROOT });
  })();
  return ensured;
}

/** Reads one Prometheus sample value (first match) from exposition text. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    if (!Object.entries(labels).every(([k, v]) => rest.includes(`${k}="${v}"`))) continue;
    return Number(rest.slice(rest.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/** Runs the karb CLI to its end: exit code and output, never a throw for a non-zero exit. */
export async function runKarb(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(NODE, [CLI, ...args], { cwd: REPO_ROOT });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** `model` with its `run` replaced (to count or hold batches); closing it leaves `model` open. */
export function withRun(model: ModelSession, run: ModelSession['run']): ModelSession {
  return {
    inputs: model.inputs,
    outputs: model.outputs,
    batchable: model.batchable,
    get alive() {
      return model.alive;
    },
    run,
    close: () => Promise.resolve(),
  };
}
