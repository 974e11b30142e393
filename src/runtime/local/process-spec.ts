/**
 * What the local runtime runs for a revision: a process spec derived from the
 * runtime-neutral `RevisionTemplate`. Process details (a model file's path on
 * this machine, the built-in server's flags) live here, not in the shared
 * contract. The spec is what a replica record keeps and what its hash
 * (`processSpecHash`) identifies, so its shape is that of the templates older
 * karbs recorded: replicas they left running are adopted, not replaced.
 */
import type { RevisionTemplate } from '../types.ts';
import { resolveModelPath } from './model-path.ts';

export interface LocalProcessSpec {
  /** Revision name, e.g. `fraud-detector-00002`; unique within the namespace. */
  revision: string;
  service: string;
  namespace: string;
  /** Model to serve. `path` is an absolute file path for the built-in ONNX server. */
  model: {
    format: 'onnx' | 'openai' | 'oip';
    path?: string;
    /** Name the model is served under (the service name). */
    name: string;
  };
  /** Custom replica command; `$PORT` in args and the PORT env var carry the port to listen on. */
  command?: string[];
  env?: Record<string, string>;
  batching?: { maxBatchSize: number; maxDelayMs: number };
  /** Extra flags for the built-in server (its drain timeout, fault injection and the like). */
  serverArgs?: string[];
  /** Path answered with 200 when the replica can take traffic. */
  readinessPath?: string;
  /** Seconds a stopping replica gets to finish its work before SIGKILL. */
  drainSeconds?: number;
  /** GPUs each replica needs (`spec.resources.accelerator`); the runtime assigns them (`gpu-allocator.ts`) before it starts one. */
  accelerator?: { kind: string; count: number; sharing: string };
}

/** The built-in server finishes its queue this long before the runtime's SIGKILL. */
const BUILTIN_DRAIN_MARGIN_SECONDS = 5;

/**
 * The process for `template`: a `file://` URI becomes a path under
 * `modelsRoot`; the built-in server (no `command`) gets a drain timeout of the
 * template's drain grace less a margin, so it answers what it queued before
 * SIGKILL. The accelerator is kept (only when asked for, so specs without one hash as older
 * karbs recorded them): it decides which GPUs a replica is given. Image, requests, limits and
 * placement do not change what runs here.
 */
export function localProcessSpec(template: RevisionTemplate, modelsRoot: string): LocalProcessSpec {
  const { model, drainSeconds } = template;
  return {
    revision: template.revision,
    service: template.service,
    namespace: template.namespace,
    model: {
      format: model.format,
      name: model.name,
      ...(model.uri?.startsWith('file://') ? { path: resolveModelPath(model.uri, modelsRoot) } : {}),
    },
    ...(model.command ? { command: model.command } : {}),
    ...(model.env ? { env: model.env } : {}),
    ...(model.readinessPath ? { readinessPath: model.readinessPath } : {}),
    ...(model.batching ? { batching: model.batching } : {}),
    ...(drainSeconds === undefined ? {} : { drainSeconds }),
    ...(model.command ? {} : builtinServerArgs(template, modelsRoot)),
    ...(template.resources.accelerator ? { accelerator: { ...template.resources.accelerator } } : {}),
  };
}

/**
 * The built-in server's flags: its drain timeout, the model's pinned digest and, with
 * `spec.model.drift`, its drift settings. None at all leaves `serverArgs` out, as older karbs recorded it.
 */
function builtinServerArgs(template: RevisionTemplate, modelsRoot: string): { serverArgs?: string[] } {
  const { drainSeconds, model } = template;
  const args: string[] = [];
  if (drainSeconds !== undefined) args.push('--drain-timeout-ms', String(Math.max(0, drainSeconds - BUILTIN_DRAIN_MARGIN_SECONDS) * 1000));
  if (model.digest !== undefined) args.push('--model-digest', model.digest);
  const drift = model.drift;
  if (drift?.reference !== undefined) args.push('--drift-reference', resolveModelPath(drift.reference, modelsRoot));
  if (drift?.learnRows !== undefined) args.push('--drift-learn-rows', String(drift.learnRows));
  if (drift?.windowRows !== undefined) args.push('--drift-window-rows', String(drift.windowRows));
  if (drift?.maxColumns !== undefined) args.push('--drift-max-columns', String(drift.maxColumns));
  return args.length === 0 ? {} : { serverArgs: args };
}
