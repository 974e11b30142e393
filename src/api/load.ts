/**
 * Reads InferenceService documents from YAML (one or many, `---` separated) or
 * JSON (an object, an array, or a `List` with `items`). Every problem names the
 * source, the document and the field.
 */
import { parseAllDocuments } from 'yaml';
import { InvalidRequestError } from '../errors.ts';
import type { InferenceService } from './schema.ts';
import { SpecValidationError, validateInferenceService, type FieldError } from './validate.ts';

export class ManifestParseError extends InvalidRequestError {
  constructor(message: string) {
    super(message, { code: 'INVALID_MANIFEST', status: 400 });
  }
}

export interface LoadedDocument {
  /** 1-based position of the document in its source. */
  index: number;
  value: InferenceService;
}

/** Parses text into plain objects (no validation). Empty documents are skipped. */
export function parseManifestText(text: string, source = 'input'): unknown[] {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      return flattenLists(JSON.parse(text));
    } catch (err) {
      throw new ManifestParseError(`${source}: invalid JSON: ${(err as Error).message}`);
    }
  }
  const docs = parseAllDocuments(text, { prettyErrors: true });
  const out: unknown[] = [];
  const list = Array.isArray(docs) ? docs : [docs];
  for (let i = 0; i < list.length; i++) {
    const doc = list[i]!;
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const at = e.linePos?.[0] ? ` at line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '';
      throw new ManifestParseError(`${source}: invalid YAML${at}: ${e.message.split('\n')[0]}`);
    }
    const value = documentValue(doc, source);
    if (value === null || value === undefined) continue;
    out.push(...flattenLists(value));
  }
  return out;
}

/**
 * A parsed document's plain value. Aliases resolve only here: the yaml library
 * refuses a "billion laughs" document (aliases of aliases multiplying its size)
 * and an alias to no anchor by throwing, and either is the manifest's fault.
 */
function documentValue(doc: ReturnType<typeof parseAllDocuments>[number], source: string): unknown {
  try {
    return doc.toJS();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (/alias count/i.test(message)) throw new ManifestParseError(`${source}: the manifest uses too many YAML aliases (an alias bomb?): ${message}`);
    throw new ManifestParseError(`${source}: invalid YAML: ${message}`);
  }
}

function flattenLists(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (value && typeof value === 'object' && (value as { kind?: unknown }).kind === 'List') {
    const items = (value as { items?: unknown }).items;
    return Array.isArray(items) ? items : [];
  }
  return [value];
}

/**
 * Parses and validates every document. Throws one SpecValidationError that
 * lists the problems of all documents, each path prefixed with its document.
 */
export function loadInferenceServices(text: string, source = 'input'): LoadedDocument[] {
  const raw = parseManifestText(text, source);
  if (raw.length === 0) throw new ManifestParseError(`${source}: no InferenceService found (the file is empty)`);
  const loaded: LoadedDocument[] = [];
  const errors: FieldError[] = [];
  raw.forEach((doc, i) => {
    const result = validateInferenceService(doc);
    if (result.ok) loaded.push({ index: i + 1, value: result.value });
    else {
      const label = raw.length > 1 ? `document ${i + 1} ` : '';
      for (const e of result.errors) errors.push({ path: `${label}${e.path}`, message: e.message });
    }
  });
  if (errors.length > 0) throw new SpecValidationError(errors, source);
  return loaded;
}
