/**
 * The OpenAI-compatible API at the gateway. `GET /v1/models` is answered here
 * from the routing table (services whose `model.format` is `openai`). The three
 * POST operations name their model in the body, so — the one place the gateway
 * looks into a body — their body is read before the model is resolved and
 * scanned for the top-level `"model"` string without building a parse tree.
 * The body is then proxied as the same bytes; streamed (SSE) answers pass
 * through chunk by chunk like any other response.
 *
 *   serveOpenAIModels  GET /v1/models (only the models the caller's key may call)
 *   readOpenAIBody     the body step, only for the POST operations
 *   extractOpenAIModel body → exchange.match.model; 400 malformed JSON or no model;
 *                      404 model_not_found for a service of another format
 */
import { OpenAIRequestError } from '../../api/openai-errors.ts';
import { NotFoundError } from '../../errors.ts';
import type { Exchange, GatewayStep } from './exchange.ts';
import { isOpenAIOperation } from './paths.ts';
import type { RoutingTable } from '../discovery/routing-table.ts';
import { checkScope } from '../edge/keys.ts';

/** True for request targets answered in OpenAI's error shape. */
export function isOpenAIPath(url: string | undefined): boolean {
  return url !== undefined && url.startsWith('/v1/');
}

/** The gateway could not read the model from an OpenAI body (a 400 naming the parameter at fault, if one). */
export class OpenAIBodyError extends OpenAIRequestError {
  constructor(message: string, code: string, param: string | null = null) {
    super(message, { code, param });
  }
}

export class OpenAIFormatMismatchError extends NotFoundError {
  constructor(model: string, format: string) {
    super(
      `model '${model.slice(0, 200)}' is served with format ${format}, not openai; call it at /v2/models/${model.slice(0, 200)}/infer, or set spec.model.format: openai`,
      'MODEL_NOT_FOUND',
    );
  }
}

export function serveOpenAIModels(deps: { routingTable: RoutingTable; now: () => number }): GatewayStep {
  return {
    name: 'openai-models',
    run(exchange: Exchange): void {
      if (exchange.match!.kind !== 'openai-models') {
        exchange.next();
        return;
      }
      const created = Math.floor(deps.now() / 1000);
      const data = [];
      const key = exchange.apiKey;
      for (const route of deps.routingTable.all()) {
        if (route.format !== 'openai') continue;
        // A key lists only the models it may call (its namespace and service allowlist).
        if (key !== undefined && !checkScope(key, route.namespace, route.service).ok) continue;
        data.push({ id: route.model, object: 'model', created, owned_by: route.namespace });
      }
      data.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      exchange.respondJson(200, JSON.stringify({ object: 'list', data }));
    },
  };
}

/** Runs the body step early for the OpenAI POST operations; every other request passes by. */
export function readOpenAIBody(bodyStep: GatewayStep): GatewayStep {
  return {
    name: 'openai-read-body',
    run(exchange: Exchange): void {
      const kind = exchange.match!.kind;
      if (kind === 'openai-models' || !isOpenAIOperation(kind)) exchange.next();
      else bodyStep.run(exchange);
    },
  };
}

export function extractOpenAIModel(deps: { routingTable: RoutingTable }): GatewayStep {
  return {
    name: 'openai-model',
    run(exchange: Exchange): void {
      const match = exchange.match!;
      if (match.kind === 'openai-models' || !isOpenAIOperation(match.kind)) {
        exchange.next();
        return;
      }
      const model = scanTopLevelModel(exchange.body ?? Buffer.alloc(0));
      exchange.match = { ...match, model };
      const route = deps.routingTable.lookup(model);
      if (route !== undefined && route.format !== 'openai') throw new OpenAIFormatMismatchError(model, route.format);
      exchange.next();
    },
  };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MODEL_KEY = Buffer.from('model');

/**
 * The value of the top-level `"model"` key of a JSON object, found by walking
 * the bytes once: keys are compared in place (a key written with escapes, such
 * as `"\u006dodel"`, is decoded first), other values are skipped by bracket
 * depth (strings, escapes and bracket kinds respected), nothing is allocated but
 * the model string.
 *
 * The whole top level is walked, not just up to the model: the scope check and
 * the route are decided on this value, and the replica's own parser must see the
 * same one. JSON parsers disagree on duplicate keys (most keep the last), so a
 * body naming `model` twice is refused, as is anything after the closing brace.
 * Values are not validated beyond their brackets; the model server refuses what
 * is malformed inside them.
 */
export function scanTopLevelModel(body: Buffer): string {
  let i = skipSpace(body, 0);
  if (body[i] !== 0x7b /* { */) throw malformed('the request body must be a JSON object, e.g. {"model": "...", ...}');
  i = skipSpace(body, i + 1);
  let model: string | undefined;
  if (body[i] !== 0x7d /* } */) {
    for (;;) {
      if (body[i] !== QUOTE) throw malformed(`expected a quoted key at byte ${i}`);
      const keyStart = i + 1;
      const keyEnd = endOfString(body, i);
      const isModel = isModelKey(body, keyStart, keyEnd);
      i = skipSpace(body, keyEnd + 1);
      if (body[i] !== 0x3a /* : */) throw malformed(`expected ':' after a key at byte ${i}`);
      i = skipSpace(body, i + 1);
      if (isModel) {
        if (model !== undefined) {
          throw new OpenAIBodyError("'model' is given more than once; name the model exactly once", 'duplicate_parameter', 'model');
        }
        model = readModelValue(body, i);
      }
      i = skipSpace(body, skipValue(body, i));
      if (body[i] === 0x2c /* , */) {
        i = skipSpace(body, i + 1);
        continue;
      }
      if (body[i] === 0x7d) break;
      throw malformed(`expected ',' or '}' at byte ${i}`);
    }
  }
  if (skipSpace(body, i + 1) !== body.length) throw malformed(`unexpected data after the closing '}' at byte ${i}`);
  if (model === undefined) throw missingModel();
  return model;
}

/** Whether the key between the quotes is `model`, as a JSON parser would decode it. */
function isModelKey(body: Buffer, start: number, end: number): boolean {
  if (end - start === MODEL_KEY.length) return body.compare(MODEL_KEY, 0, MODEL_KEY.length, start, end) === 0;
  // Only an escaped key can decode to five characters from more bytes.
  const escape = body.indexOf(BACKSLASH, start);
  if (escape === -1 || escape >= end) return false;
  try {
    return JSON.parse(body.toString('utf8', start - 1, end + 1)) === 'model';
  } catch {
    throw malformed(`the key at byte ${start - 1} is not a valid JSON string`);
  }
}

function readModelValue(body: Buffer, i: number): string {
  if (i >= body.length) throw malformed('the body ends where the model value was expected');
  if (body[i] !== QUOTE) throw new OpenAIBodyError("'model' must be a string naming the model (GET /v1/models lists them)", 'invalid_value', 'model');
  const end = endOfString(body, i);
  let model: unknown;
  try {
    model = JSON.parse(body.toString('utf8', i, end + 1));
  } catch {
    throw malformed(`the 'model' string at byte ${i} is not valid JSON`);
  }
  if (model === '') throw new OpenAIBodyError("'model' must not be empty", 'invalid_value', 'model');
  return model as string;
}

function skipSpace(b: Buffer, i: number): number {
  while (i < b.length) {
    const c = b[i]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

/** Index of the closing quote of the string that opens at `i`. */
function endOfString(b: Buffer, i: number): number {
  for (let j = i + 1; j < b.length; j++) {
    const c = b[j]!;
    if (c === BACKSLASH) j++;
    else if (c === QUOTE) return j;
  }
  throw malformed('a string is not closed');
}

/**
 * Index just past the value that starts at `i`. Nested brackets are matched by
 * kind (`[` with `]`, `{` with `}`), so no bracket can close early and bring a
 * nested key up to the top level.
 */
function skipValue(b: Buffer, i: number): number {
  const c = b[i];
  if (c === undefined) throw malformed('the body ends where a value was expected');
  if (c === QUOTE) return endOfString(b, i) + 1;
  if (c === 0x7b || c === 0x5b) {
    const open: number[] = [];
    for (let j = i; j < b.length; j++) {
      const d = b[j]!;
      if (d === QUOTE) j = endOfString(b, j);
      else if (d === 0x7b || d === 0x5b) open.push(d);
      else if (d === 0x7d || d === 0x5d) {
        if (open.pop() !== d - 2) throw malformed(`'${String.fromCharCode(d)}' at byte ${j} does not close the bracket it meets`);
        if (open.length === 0) return j + 1;
      }
    }
    throw malformed('an object or array is not closed');
  }
  // A number or a literal (true, false, null): runs until a delimiter.
  let j = i;
  while (j < b.length) {
    const d = b[j]!;
    if (d === 0x2c || d === 0x7d || d === 0x5d || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) break;
    j++;
  }
  if (j === i) throw malformed(`unexpected character at byte ${i}`);
  return j;
}

function malformed(detail: string): OpenAIBodyError {
  return new OpenAIBodyError(`the request body is not valid JSON: ${detail}`, 'invalid_json');
}

function missingModel(): OpenAIBodyError {
  return new OpenAIBodyError("missing required parameter 'model': name the model to use (GET /v1/models lists them)", 'missing_required_parameter', 'model');
}
