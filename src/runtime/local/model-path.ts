/**
 * Where a `file://` model URI points on this machine: relative URIs resolve
 * against the models root (`karb up --models-root`). The local runtime derives
 * a replica's model path with it, and admission confines URIs to the root with
 * the same rule, so what is checked is what runs.
 */
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** `file://models/x.onnx` → `<modelsRoot>/models/x.onnx`; `file:///abs/x.onnx` → `/abs/x.onnx`. */
export function resolveModelPath(uri: string, modelsRoot: string): string {
  if (uri.startsWith('file:///')) return fileURLToPath(uri);
  const rest = decodeURIComponent(uri.slice('file://'.length));
  return isAbsolute(rest) ? rest : resolve(modelsRoot, rest);
}
