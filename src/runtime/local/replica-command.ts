/**
 * What process a replica is: a pure builder from a revision template to an argv
 * and environment. The built-in ONNX server runs as `karb serve`; any other
 * server runs from the template's `command`, with `$PORT` filled in.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../api/revision.ts';
import { InvalidRequestError } from '../../errors.ts';
import type { RevisionTemplate } from '../types.ts';

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
  /** Environment the replica inherits before the template's own variables. */
  baseEnv: Record<string, string | undefined>;
}

/** Throws an InvalidRequestError naming the field to fix when a template cannot run in embedded mode. */
export function validateTemplate(template: RevisionTemplate): void {
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

export function buildReplicaCommand(template: RevisionTemplate, ctx: ReplicaCommandContext): ReplicaCommand {
  validateTemplate(template);
  const port = String(ctx.port);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.baseEnv)) if (v !== undefined) env[k] = v;
  Object.assign(env, template.env, {
    PORT: port,
    KARB_REPLICA: ctx.replica,
    KARB_REVISION: template.revision,
    KARB_SERVICE: template.service,
    KARB_NAMESPACE: template.namespace,
  });

  if (template.command) {
    const [command, ...args] = template.command.map((a) => a.replaceAll('${PORT}', port).replaceAll('$PORT', port));
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
export function templateHash(template: RevisionTemplate): string {
  return createHash('sha256').update(canonicalJson(template)).digest('hex').slice(0, 16);
}
