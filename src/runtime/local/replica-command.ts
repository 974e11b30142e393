/**
 * What process a replica is: a pure builder from a process spec to an argv
 * and environment. The built-in ONNX server runs as `karb serve`; any other
 * server runs from the spec's `command`, with `$PORT` filled in. Either
 * gets a minimal environment, never karb's whole one.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../api/revision.ts';
import { InvalidRequestError } from '../../errors.ts';
import type { LocalProcessSpec } from './process-spec.ts';
import { fillPort } from '../port.ts';
import { httpUrlWithoutUserinfo } from '../../util/safe-url.ts';

export interface ReplicaCommand {
  command: string;
  args: string[];
  env: Record<string, string>;
}

export interface ReplicaCommandContext {
  replica: string;
  port: number;
  host: string;
  /** Node binary that runs the karb entry. */
  execPath: string;
  /** Absolute path of the karb CLI entry (`src/cli/main.ts`). */
  karbEntry: string;
  /** karb's own environment; only `INHERITED_ENV` of it reaches the replica (see `inheritedEnv`). */
  baseEnv: Record<string, string | undefined>;
  /** The GPUs (UUIDs) karb assigned this replica; none when unset. */
  visibleDevices?: readonly string[];
}

/**
 * The variables of karb's environment a replica gets, besides the spec's
 * own `env` and karb's `PORT` and `KARB_*` identity: what a process needs to
 * find programs and libraries, run Node, and read text and time (and some of
 * tracing's `OTEL_*`, see `INHERITED_OTEL`). Which NVIDIA GPUs it sees is karb's
 * choice, not inherited: `CUDA_VISIBLE_DEVICES` and `NVIDIA_VISIBLE_DEVICES` are
 * the devices the allocator assigned it, empty for a replica that asked for none.
 * Nothing else passes — karb's environment may hold the admin token
 * (`KARB_TOKEN`), cloud credentials (`AWS_*`) and other secrets that a model
 * server, possibly someone else's code, must not see. A replica that needs
 * more says so in `spec.model.env`.
 */
export const INHERITED_ENV: ReadonlySet<string> = new Set([
  'PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'TMPDIR', 'LANG', 'LANGUAGE', 'TZ',
  'LD_LIBRARY_PATH', 'HIP_VISIBLE_DEVICES', 'ROCR_VISIBLE_DEVICES',
  'NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS', 'NODE_V8_COVERAGE', 'KARB_LOG_LEVEL',
]);

/**
 * Tracing's variables a replica gets, so that its spans join the gateway's: where spans go, the
 * protocol, the sampler, whether tracing is on, and the resource's attributes. A fixed list, not
 * `OTEL_*` less some: the exporter's headers and client certificate and key (`…_HEADERS`,
 * `…_CLIENT_KEY`, for traces, metrics and logs alike) are the receiver's credentials, and a
 * replica may run someone else's `command`. `OTEL_SERVICE_NAME` is the gateway's own (karb serve
 * defaults to karb-serve).
 */
const INHERITED_OTEL: ReadonlySet<string> = new Set([
  'OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_TRACES_SAMPLER', 'OTEL_TRACES_SAMPLER_ARG',
  'OTEL_SDK_DISABLED', 'OTEL_TRACES_EXPORTER', 'OTEL_RESOURCE_ATTRIBUTES',
]);
/** Passed on with any `user:password@` removed; one that is not an http(s) URL is not passed on. */
const INHERITED_OTEL_ENDPOINTS: ReadonlySet<string> = new Set(['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']);

/** The inherited part of a replica's environment: `INHERITED_ENV`, the locale's `LC_*` and tracing's `INHERITED_OTEL` and endpoints. */
export function inheritedEnv(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (INHERITED_ENV.has(k) || k.startsWith('LC_') || INHERITED_OTEL.has(k)) out[k] = v;
    else if (INHERITED_OTEL_ENDPOINTS.has(k)) {
      const endpoint = httpUrlWithoutUserinfo(v);
      if (endpoint !== undefined) out[k] = endpoint;
    }
  }
  return out;
}

/** Throws an InvalidRequestError naming the field to fix when a spec cannot run in embedded mode. */
export function validateProcessSpec(template: LocalProcessSpec): void {
  const where = `revision ${template.namespace}/${template.revision}`;
  if (template.drainSeconds !== undefined && !(template.drainSeconds >= 0)) {
    throw new InvalidRequestError(`${where}: drainSeconds must be 0 or more, got ${template.drainSeconds}`, { code: 'RUNTIME_INVALID_DRAIN' });
  }
  if (template.command !== undefined) {
    if (template.command.length === 0 || template.command[0] === '') {
      throw new InvalidRequestError(`${where}: command is empty; name the program to run, e.g. command: [python, server.py, --port, $PORT]`, {
        code: 'RUNTIME_COMMAND_EMPTY',
      });
    }
    return;
  }
  // The built-in server speaks OIP for ONNX models and the OpenAI API for language models (format openai).
  if (template.model.format === 'oip') {
    throw new InvalidRequestError(
      `${where}: format '${template.model.format}' has no built-in server; set spec.model.command to the server to run (use $PORT for the port it listens on)`,
      { code: 'RUNTIME_COMMAND_REQUIRED' },
    );
  }
  if (!template.model.path) {
    throw new InvalidRequestError(`${where}: the built-in ONNX server needs a model file; set spec.model.uri, e.g. file://models/${template.model.format === 'openai' ? 'tiny-lm' : 'fraud-v1'}.onnx`, {
      code: 'RUNTIME_MODEL_PATH_REQUIRED',
    });
  }
}

export function buildReplicaCommand(template: LocalProcessSpec, ctx: ReplicaCommandContext): ReplicaCommand {
  validateProcessSpec(template);
  const port = String(ctx.port);
  const env = inheritedEnv(ctx.baseEnv);
  // The assigned GPUs win over spec.model.env: two replicas must never pick the same device themselves.
  const devices = (ctx.visibleDevices ?? []).join(',');
  Object.assign(env, template.env, {
    CUDA_VISIBLE_DEVICES: devices,
    NVIDIA_VISIBLE_DEVICES: devices,
    PORT: port,
    KARB_REPLICA: ctx.replica,
    KARB_REVISION: template.revision,
    KARB_SERVICE: template.service,
    KARB_NAMESPACE: template.namespace,
  });

  if (template.command) {
    const [command, ...args] = fillPort(template.command, ctx.port);
    return { command: command!, args, env };
  }

  const args = [ctx.karbEntry, 'serve', '--model', template.model.path!, '--name', template.model.name, '--port', port, '--host', ctx.host];
  if (template.model.format === 'openai') args.push('--openai');
  else if (template.batching) {
    args.push('--max-batch-size', String(template.batching.maxBatchSize), '--max-delay-ms', String(template.batching.maxDelayMs));
  }
  args.push(...(template.serverArgs ?? []));
  return { command: ctx.execPath, args, env };
}

/** Identity of what a replica runs; replicas of one revision with another hash are replaced. */
export function processSpecHash(template: LocalProcessSpec): string {
  return createHash('sha256').update(canonicalJson(template)).digest('hex').slice(0, 16);
}
