/**
 * karb's built-in tiny language model: a byte-level decoder-only transformer with
 * seeded random weights. Its text is meaningless; it exists so that the
 * OpenAI-compatible path (completions, chat, streaming, embeddings) runs end to
 * end without downloading anything.
 *
 * Vocabulary: ids 0–255 are the bytes of UTF-8 text, 256 is BOS, 257 is EOS.
 * Graph (pre-LayerNorm GPT): token + position embeddings → N × [LN → causal
 * multi-head attention → residual → LN → MLP (tanh GELU) → residual] → LN →
 * `logits` [batch, seq, vocab] and `embedding` [batch, d_model] (the final hidden
 * state averaged over the sequence). Attention is computed head by head with
 * MatMul/Transpose/Softmax, so the graph needs only opset-17 core operators.
 */
import { seededRandom } from '../../util/prng.ts';
import { encodeModel, OnnxGraphBuilder } from '../onnx-writer.ts';

export interface TinyLmConfig {
  vocabSize: number;
  dModel: number;
  layers: number;
  heads: number;
  ffn: number;
  contextLength: number;
  bos: number;
  eos: number;
}

export const TINY_LM_CONFIG: TinyLmConfig = {
  vocabSize: 258,
  dModel: 64,
  layers: 2,
  heads: 4,
  ffn: 256,
  contextLength: 128,
  bos: 256,
  eos: 257,
};

export const TINY_LM_INPUT = 'input_ids';
export const TINY_LM_LOGITS = 'logits';
export const TINY_LM_EMBEDDING = 'embedding';

/** Metadata keys the model server reads to serve the model over the OpenAI API. */
export const LM_METADATA_KEYS = {
  tokenizer: 'karb.lm.tokenizer',
  contextLength: 'karb.lm.context_length',
  bos: 'karb.lm.bos',
  eos: 'karb.lm.eos',
} as const;

const LN_EPSILON = 1e-5;
const MASKED = -1e9;

export interface LayerWeights {
  ln1Scale: Float32Array;
  ln1Bias: Float32Array;
  /** Per head, [dModel, headDim] row-major. */
  wq: Float32Array[];
  wk: Float32Array[];
  wv: Float32Array[];
  /** [dModel, dModel] */
  wo: Float32Array;
  bo: Float32Array;
  ln2Scale: Float32Array;
  ln2Bias: Float32Array;
  /** [dModel, ffn] */
  w1: Float32Array;
  b1: Float32Array;
  /** [ffn, dModel] */
  w2: Float32Array;
  b2: Float32Array;
}

export interface TinyLmWeights {
  config: TinyLmConfig;
  /** [vocab, dModel] */
  tokenEmbedding: Float32Array;
  /** [contextLength, dModel] */
  positionEmbedding: Float32Array;
  layers: LayerWeights[];
  lnFinalScale: Float32Array;
  lnFinalBias: Float32Array;
  /** [dModel, vocab] */
  lmHead: Float32Array;
  /** [vocab] */
  lmBias: Float32Array;
}

/**
 * Seeded weights. The output bias favours printable ASCII and newlines (and
 * makes other bytes rare), so sampled text is readable noise rather than invalid UTF-8.
 */
export function tinyLmWeights(seed: number, config: TinyLmConfig = TINY_LM_CONFIG): TinyLmWeights {
  const rng = seededRandom(seed);
  const { vocabSize: v, dModel: d, heads, ffn } = config;
  if (d % heads !== 0) throw new RangeError(`dModel ${d} is not a multiple of heads ${heads}`);
  const hd = d / heads;
  const normal = (n: number, std: number): Float32Array => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = rng.normal() * std;
    return out;
  };
  const ones = (n: number): Float32Array => new Float32Array(n).fill(1);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.layers; l++) {
    const head = (): Float32Array[] => Array.from({ length: heads }, () => normal(d * hd, 1 / Math.sqrt(d)));
    layers.push({
      ln1Scale: ones(d),
      ln1Bias: new Float32Array(d),
      wq: head(),
      wk: head(),
      wv: head(),
      wo: normal(d * d, 0.5 / Math.sqrt(d)),
      bo: normal(d, 0.01),
      ln2Scale: ones(d),
      ln2Bias: new Float32Array(d),
      w1: normal(d * ffn, 1 / Math.sqrt(d)),
      b1: normal(ffn, 0.01),
      w2: normal(ffn * d, 0.5 / Math.sqrt(ffn)),
      b2: normal(d, 0.01),
    });
  }
  const lmBias = new Float32Array(v);
  for (let t = 0; t < v; t++) lmBias[t] = printableBias(t, config);
  return {
    config,
    tokenEmbedding: normal(v * d, 1),
    positionEmbedding: normal(config.contextLength * d, 0.5),
    layers,
    lnFinalScale: ones(d),
    lnFinalBias: new Float32Array(d),
    lmHead: normal(d * v, 1.5 / Math.sqrt(d)),
    lmBias,
  };
}

function printableBias(token: number, config: TinyLmConfig): number {
  if (token === config.eos) return 1;
  if (token === config.bos) return -30;
  if (token === 10 || token === 32) return 4;
  if (token >= 97 && token <= 122) return 4; // lower-case letters: looks most like text
  if (token > 32 && token < 127) return 2;
  return -30;
}

/** Builds the ONNX graph of the model. */
export function tinyLmToOnnx(w: TinyLmWeights, seed: number): Uint8Array {
  const c = w.config;
  const d = c.dModel;
  const hd = d / c.heads;
  const g = new OnnxGraphBuilder('tiny_lm');
  g.docString('karb built-in tiny byte-level language model: random weights, meaningless text');
  const ids = g.input(TINY_LM_INPUT, ['batch', 'seq'], 'int64');

  // Position embeddings and the causal mask are sliced to the sequence length at run time.
  const seqLen = g.node('Shape', [ids], ['seq_len'], { start: { type: 'int', value: 1 }, end: { type: 'int', value: 2 } });
  const zero = g.int64Initializer('zero', [1], [0]);
  const axis0 = g.int64Initializer('axis0', [1], [0]);
  const zeros2 = g.int64Initializer('zeros2', [2], [0, 0]);
  const axes01 = g.int64Initializer('axes01', [2], [0, 1]);
  const seqSeq = g.node('Concat', [seqLen, seqLen], ['seq_seq'], { axis: { type: 'int', value: 0 } });

  const tokTable = g.initializer('token_embedding', [c.vocabSize, d], w.tokenEmbedding);
  const posTable = g.initializer('position_embedding', [c.contextLength, d], w.positionEmbedding);
  const maskTable = g.initializer('causal_mask', [c.contextLength, c.contextLength], causalMask(c.contextLength));
  const tok = g.node('Gather', [tokTable, ids], ['tok'], { axis: { type: 'int', value: 0 } });
  const pos = g.node('Slice', [posTable, zero, seqLen, axis0], ['pos']);
  const mask = g.node('Slice', [maskTable, zeros2, seqSeq, axes01], ['mask']);
  let x = g.node('Add', [tok, pos], ['x0']);

  const scale = g.initializer('attn_scale', [], Float32Array.of(1 / Math.sqrt(hd)));
  const half = g.initializer('half', [], Float32Array.of(0.5));
  const one = g.initializer('one', [], Float32Array.of(1));
  const geluCubic = g.initializer('gelu_cubic', [], Float32Array.of(0.044715));
  const geluScale = g.initializer('gelu_scale', [], Float32Array.of(Math.sqrt(2 / Math.PI)));

  const layerNorm = (input: string, scaleW: Float32Array, bias: Float32Array, prefix: string): string =>
    g.node('LayerNormalization', [input, g.initializer(`${prefix}_scale`, [d], scaleW), g.initializer(`${prefix}_bias`, [d], bias)], [`${prefix}_out`], {
      axis: { type: 'int', value: -1 },
      epsilon: { type: 'float', value: LN_EPSILON },
    });

  w.layers.forEach((layer, l) => {
    const p = `l${l}`;
    const h = layerNorm(x, layer.ln1Scale, layer.ln1Bias, `${p}_ln1`);
    const headOutputs: string[] = [];
    for (let k = 0; k < c.heads; k++) {
      const q = g.node('MatMul', [h, g.initializer(`${p}_h${k}_wq`, [d, hd], layer.wq[k]!)], [`${p}_h${k}_q`]);
      const key = g.node('MatMul', [h, g.initializer(`${p}_h${k}_wk`, [d, hd], layer.wk[k]!)], [`${p}_h${k}_k`]);
      const v = g.node('MatMul', [h, g.initializer(`${p}_h${k}_wv`, [d, hd], layer.wv[k]!)], [`${p}_h${k}_v`]);
      const kt = g.node('Transpose', [key], [`${p}_h${k}_kt`], { perm: { type: 'ints', value: [0, 2, 1] } });
      const scores = g.node('MatMul', [q, kt], [`${p}_h${k}_scores`]);
      const scaled = g.node('Mul', [scores, scale], [`${p}_h${k}_scaled`]);
      const masked = g.node('Add', [scaled, mask], [`${p}_h${k}_masked`]);
      const probs = g.node('Softmax', [masked], [`${p}_h${k}_probs`], { axis: { type: 'int', value: -1 } });
      headOutputs.push(g.node('MatMul', [probs, v], [`${p}_h${k}_out`]));
    }
    const heads = g.node('Concat', headOutputs, [`${p}_heads`], { axis: { type: 'int', value: -1 } });
    const proj = g.node('MatMul', [heads, g.initializer(`${p}_wo`, [d, d], layer.wo)], [`${p}_proj`]);
    const attn = g.node('Add', [proj, g.initializer(`${p}_bo`, [d], layer.bo)], [`${p}_attn`]);
    x = g.node('Add', [x, attn], [`${p}_res1`]);

    const h2 = layerNorm(x, layer.ln2Scale, layer.ln2Bias, `${p}_ln2`);
    const f1 = g.node('MatMul', [h2, g.initializer(`${p}_w1`, [d, c.ffn], layer.w1)], [`${p}_f1`]);
    const f1b = g.node('Add', [f1, g.initializer(`${p}_b1`, [c.ffn], layer.b1)], [`${p}_f1b`]);
    // GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
    const sq = g.node('Mul', [f1b, f1b], [`${p}_sq`]);
    const cube = g.node('Mul', [sq, f1b], [`${p}_cube`]);
    const inner = g.node('Add', [f1b, g.node('Mul', [cube, geluCubic], [`${p}_cube_k`])], [`${p}_inner`]);
    const t = g.node('Tanh', [g.node('Mul', [inner, geluScale], [`${p}_inner_s`])], [`${p}_tanh`]);
    const gelu = g.node('Mul', [g.node('Mul', [f1b, half], [`${p}_halfx`]), g.node('Add', [t, one], [`${p}_tanh1`])], [`${p}_gelu`]);
    const f2 = g.node('MatMul', [gelu, g.initializer(`${p}_w2`, [c.ffn, d], layer.w2)], [`${p}_f2`]);
    const mlp = g.node('Add', [f2, g.initializer(`${p}_b2`, [d], layer.b2)], [`${p}_mlp`]);
    x = g.node('Add', [x, mlp], [`${p}_res2`]);
  });

  const final = layerNorm(x, w.lnFinalScale, w.lnFinalBias, 'ln_final');
  const raw = g.node('MatMul', [final, g.initializer('lm_head', [d, c.vocabSize], w.lmHead)], ['lm_raw']);
  g.node('Add', [raw, g.initializer('lm_bias', [c.vocabSize], w.lmBias)], [TINY_LM_LOGITS]);
  g.node('ReduceMean', [final], [TINY_LM_EMBEDDING], { axes: { type: 'ints', value: [1] }, keepdims: { type: 'int', value: 0 } });
  g.output(TINY_LM_LOGITS, ['batch', 'seq', c.vocabSize]);
  g.output(TINY_LM_EMBEDDING, ['batch', d]);

  return encodeModel({
    graph: g.build(),
    modelVersion: 1,
    docString: 'karb built-in tiny byte-level language model: seeded random weights; its text is meaningless and exists to exercise the OpenAI-compatible path',
    metadata: {
      name: 'tiny-lm',
      version: '1',
      purpose: 'exercise the OpenAI-compatible path; the text is meaningless',
      [LM_METADATA_KEYS.tokenizer]: 'bytes',
      [LM_METADATA_KEYS.contextLength]: String(c.contextLength),
      [LM_METADATA_KEYS.bos]: String(c.bos),
      [LM_METADATA_KEYS.eos]: String(c.eos),
      architecture: `decoder d${d} x${c.layers} layers x${c.heads} heads ffn${c.ffn}`,
      seed: String(seed),
    },
  });
}

function causalMask(n: number): Float32Array {
  const out = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) out[i * n + j] = MASKED;
  return out;
}

export interface ReferenceOutput {
  /** [seq, vocab] */
  logits: Float64Array;
  /** [dModel] */
  embedding: Float64Array;
}

/** Reference forward pass for one sequence in float64 (tests compare ONNX Runtime with it). */
export function tinyLmForward(w: TinyLmWeights, ids: readonly number[]): ReferenceOutput {
  const c = w.config;
  const d = c.dModel;
  const hd = d / c.heads;
  const s = ids.length;
  let x: Float64Array = new Float64Array(s * d);
  for (let i = 0; i < s; i++) {
    for (let j = 0; j < d; j++) x[i * d + j] = w.tokenEmbedding[ids[i]! * d + j]! + w.positionEmbedding[i * d + j]!;
  }
  for (const layer of w.layers) {
    const h = layerNorm(x, s, d, layer.ln1Scale, layer.ln1Bias);
    const heads = new Float64Array(s * d);
    for (let k = 0; k < c.heads; k++) {
      const q = matmul(h, s, d, layer.wq[k]!, hd);
      const key = matmul(h, s, d, layer.wk[k]!, hd);
      const v = matmul(h, s, d, layer.wv[k]!, hd);
      for (let i = 0; i < s; i++) {
        const scores = new Float64Array(i + 1);
        let max = -Infinity;
        for (let j = 0; j <= i; j++) {
          let dot = 0;
          for (let e = 0; e < hd; e++) dot += q[i * hd + e]! * key[j * hd + e]!;
          scores[j] = dot / Math.sqrt(hd);
          if (scores[j]! > max) max = scores[j]!;
        }
        let sum = 0;
        for (let j = 0; j <= i; j++) sum += scores[j] = Math.exp(scores[j]! - max);
        for (let j = 0; j <= i; j++) {
          const p = scores[j]! / sum;
          for (let e = 0; e < hd; e++) heads[i * d + k * hd + e]! += p * v[j * hd + e]!;
        }
      }
    }
    x = addRows(x, addBias(matmul(heads, s, d, layer.wo, d), layer.bo), 1);
    const h2 = layerNorm(x, s, d, layer.ln2Scale, layer.ln2Bias);
    const f = addBias(matmul(h2, s, d, layer.w1, c.ffn), layer.b1);
    for (let i = 0; i < f.length; i++) {
      const a = f[i]!;
      f[i] = 0.5 * a * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (a + 0.044715 * a * a * a)));
    }
    x = addRows(x, addBias(matmul(f, s, c.ffn, layer.w2, d), layer.b2), 1);
  }
  const final = layerNorm(x, s, d, w.lnFinalScale, w.lnFinalBias);
  const logits = addBias(matmul(final, s, d, w.lmHead, c.vocabSize), w.lmBias);
  const embedding = new Float64Array(d);
  for (let i = 0; i < s; i++) for (let j = 0; j < d; j++) embedding[j]! += final[i * d + j]! / s;
  return { logits, embedding };
}

function matmul(a: Float64Array, rows: number, inner: number, b: Float32Array, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let k = 0; k < inner; k++) {
      const av = a[i * inner + k]!;
      const base = k * cols;
      for (let j = 0; j < cols; j++) out[i * cols + j]! += av * b[base + j]!;
    }
  }
  return out;
}

function addBias(a: Float64Array, bias: Float32Array): Float64Array {
  for (let i = 0; i < a.length; i++) a[i]! += bias[i % bias.length]!;
  return a;
}

function addRows(a: Float64Array, b: Float64Array, scale: number): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! + scale * b[i]!;
  return out;
}

function layerNorm(x: Float64Array, rows: number, d: number, scale: Float32Array, bias: Float32Array): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < rows; i++) {
    let mean = 0;
    for (let j = 0; j < d; j++) mean += x[i * d + j]!;
    mean /= d;
    let variance = 0;
    for (let j = 0; j < d; j++) variance += (x[i * d + j]! - mean) ** 2;
    variance /= d;
    const inv = 1 / Math.sqrt(variance + LN_EPSILON);
    for (let j = 0; j < d; j++) out[i * d + j] = (x[i * d + j]! - mean) * inv * scale[j]! + bias[j]!;
  }
  return out;
}

