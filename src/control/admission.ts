/**
 * Checks that only the embedded runtime needs, run before a spec is stored so
 * that a spec which cannot run here is refused (422) and nothing already
 * deployed is disturbed.
 */
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpecValidationError, type FieldError, type InferenceService } from '../api/index.ts';
import type { Store } from './store.ts';

/** `file://models/x.onnx` → `<baseDir>/models/x.onnx`; `file:///abs/x.onnx` → `/abs/x.onnx`. */
export function resolveModelPath(uri: string, baseDir: string): string {
  if (uri.startsWith('file:///')) return fileURLToPath(uri);
  const rest = decodeURIComponent(uri.slice('file://'.length));
  return isAbsolute(rest) ? rest : resolve(baseDir, rest);
}

export function admitEmbedded(svc: InferenceService, store: Store, baseDir: string): void {
  const errors: FieldError[] = [];
  const { model } = svc.spec;
  if (model.uri && !model.uri.startsWith('file://')) {
    errors.push({
      path: 'spec.model.uri',
      message: `embedded karb serves file:// models (got ${model.uri.split(':')[0]}://); pvc://, s3:// and oci:// need the kubernetes runtime`,
    });
  } else if (model.uri && (model.format === 'onnx' || model.format === 'openai') && !model.command) {
    const path = resolveModelPath(model.uri, baseDir);
    if (!existsSync(path) || !statSync(path).isFile()) {
      errors.push({ path: 'spec.model.uri', message: `no model file at ${path} (relative URIs resolve against ${baseDir}, where karb up runs)` });
    }
  }
  for (const other of store.findByName(svc.metadata.name)) {
    if (other.metadata.namespace !== svc.metadata.namespace) {
      errors.push({
        path: 'metadata.name',
        message: `a service named ${svc.metadata.name} already exists in namespace ${other.metadata.namespace}; the gateway routes by model name, so names are unique across namespaces`,
      });
    }
  }
  for (const [i, name] of svc.spec.traffic.fallback.entries()) {
    if (name === svc.metadata.name) errors.push({ path: `spec.traffic.fallback[${i}]`, message: 'a service cannot fall back to itself' });
  }
  if (errors.length > 0) throw new SpecValidationError(errors);
}
