/**
 * Checks that only the embedded runtime needs, run before a spec is stored so
 * that a spec which cannot run here is refused (422) and nothing already
 * deployed is disturbed.
 *
 * `file://` URIs are confined to the models root (`karb up --models-root`, by
 * default the directory karb up runs in): the control API is reachable from
 * the network, and without the confinement a spec could name any file on the
 * machine, and the answer to it would tell whether that file exists.
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { SpecValidationError, type FieldError, type InferenceService } from '../api/index.ts';
import type { Store } from './store.ts';
import { resolveModelPath } from '../runtime/local/model-path.ts';
import type { EmbeddedGovernance } from '../governance/admit.ts';

/**
 * Whether `path` lies under `root` once `..` is resolved. Decided from the two
 * paths alone, never from the file system, so the answer for a path outside
 * the root says nothing about whether it exists. The root counts under both its
 * given and its real path (`/srv/models` may be a link to `/data/models`).
 * Links inside the root are followed: linking a model kept elsewhere into the
 * root is how an operator puts it there, and an API caller cannot create one.
 */
export function isUnderModelsRoot(path: string, root: string): boolean {
  const target = resolve(path);
  return modelRootForms(root).some((r) => {
    const rel = relative(r, target);
    return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
  });
}

function modelRootForms(root: string): string[] {
  const given = resolve(root);
  try {
    const real = realpathSync(given);
    return real === given ? [given] : [given, real];
  } catch {
    return [given];
  }
}

/**
 * `baseDir` is the models root: relative URIs resolve against it and every
 * `file://` URI must lie under it, whether or not the service has a command.
 * With `governance` (karb up --governance), its policies are checked too; what
 * a Warn policy admitted is returned.
 */
export function admitEmbedded(svc: InferenceService, store: Store, baseDir: string, governance?: EmbeddedGovernance): string[] {
  const errors: FieldError[] = [];
  const { model } = svc.spec;
  const uriError = model.uri === undefined ? undefined : checkModelUri(model.uri, model.format, model.command !== undefined, baseDir);
  if (uriError) errors.push({ path: 'spec.model.uri', message: uriError });
  // The drift reference is read by the built-in server, under the same root as the model.
  const referenceError = model.drift?.reference === undefined ? undefined : checkModelUri(model.drift.reference, 'onnx', false, baseDir);
  if (referenceError) errors.push({ path: 'spec.model.drift.reference', message: referenceError.replace('no model file at', 'no drift reference file at') });
  for (const other of store.findByName(svc.metadata.name)) {
    if (other.metadata.namespace !== svc.metadata.namespace) {
      errors.push({
        path: 'metadata.name',
        message: `a service named ${svc.metadata.name} already exists in namespace ${other.metadata.namespace}; the gateway routes by model name, so names are unique across namespaces`,
      });
    }
  }
  errors.push(...fallbackErrors(svc));
  const verdict = governance?.check(svc, store.getService(svc.metadata.namespace, svc.metadata.name));
  if (verdict) errors.push(...verdict.errors);
  if (errors.length > 0) throw new SpecValidationError(errors);
  return verdict?.warnings ?? [];
}

/** Checks every runtime makes: a service cannot fall back to itself. */
export function fallbackErrors(svc: InferenceService): FieldError[] {
  const errors: FieldError[] = [];
  for (const [i, name] of svc.spec.traffic.fallback.entries()) {
    if (name === svc.metadata.name) errors.push({ path: `spec.traffic.fallback[${i}]`, message: 'a service cannot fall back to itself' });
  }
  return errors;
}

/** What is wrong with a model URI for embedded karb, or undefined. */
function checkModelUri(uri: string, format: InferenceService['spec']['model']['format'], hasCommand: boolean, baseDir: string): string | undefined {
  if (!uri.startsWith('file://')) {
    return `embedded karb serves file:// models (got ${uri.split(':')[0]}://); pvc://, s3:// and oci:// need the kubernetes runtime`;
  }
  let path: string;
  try {
    path = resolveModelPath(uri, baseDir);
  } catch (err) {
    return `${uri} is not a file path karb can read (${(err as Error).message}); write it as file://models/x.onnx or file:///abs/path/x.onnx`;
  }
  // The URI as given, never the resolved path: the message is the same whether or not the file exists.
  if (!isUnderModelsRoot(path, baseDir)) return `${uri} is outside the models root ${baseDir}; put the model under it or start karb up with --models-root`;
  // A custom server reads its own model; the built-in one needs the file.
  if ((format === 'onnx' || format === 'openai') && !hasCommand && !isFile(path)) {
    return `no model file at ${path} (relative URIs resolve against the models root ${baseDir}, where karb up runs unless --models-root says otherwise)`;
  }
  return undefined;
}

function isFile(path: string): boolean {
  return existsSync(path) && statSync(path).isFile();
}
