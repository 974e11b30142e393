/**
 * A causal language model served over the OpenAI API: a loaded ONNX model with
 * input `input_ids` INT64 [batch, seq] and output `logits` FP32 [batch, seq,
 * vocab] (and optionally `embedding` FP32 [batch, d]), plus how to tokenize
 * for it, read from the file's metadata_props (`karb.lm.*`, written by karb's
 * model generator). Runs go through one queue: one ONNX Runtime run at a time
 * per process, so concurrent generations interleave token by token.
 */
import { readFile } from 'node:fs/promises';
import protobuf from 'protobufjs';
import { KarbError } from '../../errors.ts';
import type { ModelSession, TensorMap } from '../onnx-model.ts';

export const LM_INPUT = 'input_ids';
export const LM_LOGITS = 'logits';
export const LM_EMBEDDING = 'embedding';

export interface LanguageModelInfo {
  /** Ids 0..255 are UTF-8 bytes; the model's tokenizer must be 'bytes'. */
  tokenizer: 'bytes';
  vocabSize: number;
  contextLength: number;
  bos: number;
  eos: number;
  /** Size of the `embedding` output; undefined when the model has none. */
  embeddingDim: number | undefined;
}

export class NotALanguageModelError extends KarbError {
  constructor(message: string) {
    super('MODEL_NOT_LANGUAGE_MODEL', message, { status: 500 });
  }
}

/** True when the model has the inputs and outputs of a causal LM the OpenAI server can drive. */
export function looksLikeLanguageModel(model: Pick<ModelSession, 'inputs' | 'outputs'>): boolean {
  return (
    model.inputs.length === 1 &&
    model.inputs[0]!.name === LM_INPUT &&
    model.inputs[0]!.datatype === 'INT64' &&
    model.outputs.some((o) => o.name === LM_LOGITS && o.datatype === 'FP32' && o.shape.length === 3)
  );
}

/** Reads the ONNX file's metadata and checks it against the session's inputs and outputs. */
export async function describeLanguageModel(path: string, model: Pick<ModelSession, 'inputs' | 'outputs'>): Promise<LanguageModelInfo> {
  if (!looksLikeLanguageModel(model)) {
    throw new NotALanguageModelError(`'${path}' is not a language model the OpenAI API can serve: it needs one input '${LM_INPUT}' INT64 [batch, seq] and an output '${LM_LOGITS}' FP32 [batch, seq, vocab]`);
  }
  const meta = readMetadataProps(await readFile(path));
  if (meta['karb.lm.tokenizer'] !== 'bytes') {
    throw new NotALanguageModelError(`'${path}' does not declare karb.lm.tokenizer=bytes in its metadata; the built-in server only knows the byte-level tokenizer`);
  }
  const logits = model.outputs.find((o) => o.name === LM_LOGITS)!;
  const vocabSize = logits.shape[2]!;
  const embedding = model.outputs.find((o) => o.name === LM_EMBEDDING);
  const info: LanguageModelInfo = {
    tokenizer: 'bytes',
    vocabSize,
    contextLength: metaInt(meta, 'karb.lm.context_length', path),
    bos: metaInt(meta, 'karb.lm.bos', path),
    eos: metaInt(meta, 'karb.lm.eos', path),
    embeddingDim: embedding?.shape[1] !== undefined && embedding.shape[1] > 0 ? embedding.shape[1] : undefined,
  };
  if (vocabSize < 256 || info.bos >= vocabSize || info.eos >= vocabSize) {
    throw new NotALanguageModelError(`'${path}': vocabulary of ${vocabSize} cannot hold 256 bytes plus BOS ${info.bos} and EOS ${info.eos}`);
  }
  return info;
}

function metaInt(meta: Record<string, string>, key: string, path: string): number {
  const n = Number(meta[key]);
  if (!Number.isSafeInteger(n) || n < 1) throw new NotALanguageModelError(`'${path}': metadata ${key} must be a positive integer, got ${JSON.stringify(meta[key])}`);
  return n;
}

/** ModelProto.metadata_props (field 14), read by skipping every other field, the graph included. */
export function readMetadataProps(bytes: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const reader = protobuf.Reader.create(bytes);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === 14 && (tag & 7) === 2) {
      const entry = protobuf.Reader.create(reader.bytes());
      let key = '';
      let value = '';
      while (entry.pos < entry.len) {
        const t = entry.uint32();
        if (t >>> 3 === 1 && (t & 7) === 2) key = entry.string();
        else if (t >>> 3 === 2 && (t & 7) === 2) value = entry.string();
        else entry.skipType(t & 7);
      }
      out[key] = value;
    } else {
      reader.skipType(tag & 7);
    }
  }
  return out;
}

export class LanguageModel {
  readonly info: LanguageModelInfo;
  readonly #session: ModelSession;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(session: ModelSession, info: LanguageModelInfo) {
    this.#session = session;
    this.info = info;
  }

  get alive(): boolean {
    return this.#session.alive;
  }

  /**
   * Logits of the position after `tokens` (the last row), `vocabSize` values. Runs wait their turn
   * behind the other generations' runs; `onStart` is called when this one's turn comes.
   */
  async nextLogits(tokens: readonly number[], onStart?: () => void): Promise<Float32Array> {
    const out = await this.#run(tokens, onStart);
    const logits = out[LM_LOGITS]!.data as Float32Array;
    const v = this.info.vocabSize;
    return logits.subarray((tokens.length - 1) * v, tokens.length * v);
  }

  /** The model's pooled hidden state for `tokens`. */
  async embed(tokens: readonly number[]): Promise<Float32Array> {
    const out = await this.#run(tokens);
    const embedding = out[LM_EMBEDDING];
    if (embedding === undefined) throw new KarbError('MODEL_HAS_NO_EMBEDDING', `the model has no '${LM_EMBEDDING}' output`, { status: 400 });
    return embedding.data as Float32Array;
  }

  #run(tokens: readonly number[], onStart?: () => void): Promise<TensorMap> {
    const ids = BigInt64Array.from(tokens, (t) => BigInt(t));
    const run = this.#tail.then(() => {
      onStart?.();
      return this.#session.run({ [LM_INPUT]: { data: ids, dims: [1, tokens.length] } });
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }
}
