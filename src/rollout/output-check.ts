/**
 * The optional check on outputs (`spec.rollout.analysis.outputCheck`): the same
 * OIP v2 request goes to one ready replica of each revision, and the new one
 * fails when any output value is further than `maxDelta` from stable's, or its
 * outputs do not line up (names, shapes, non-finite values, a status that is
 * not 200). It catches a release that answers quickly and without errors but
 * wrongly — the wrong model file, a broken export.
 *
 * Pure: two answers in, a verdict out. The calls that fetch the answers are the
 * control plane's (`OutputChecker` in src/control/output-checker.ts).
 */

export interface OutputCheckResult {
  verdict: 'Pass' | 'Fail';
  message: string;
  /** Largest absolute difference seen, when the outputs lined up. */
  maxDelta?: number;
  /** Milliseconds since the epoch when the check finished. */
  at: number;
}

interface Tensor {
  name: string;
  shape: number[];
  data: unknown[];
}

export function compareOutputs(stable: unknown, canary: unknown, maxDelta: number): Omit<OutputCheckResult, 'at'> {
  const s = tensorsOf(stable);
  const c = tensorsOf(canary);
  if (s === undefined) return { verdict: 'Pass', message: 'stable gave no outputs to compare with' };
  if (c === undefined) return { verdict: 'Fail', message: 'the new revision answered without an outputs list' };
  let worst = 0;
  let where = '';
  for (const st of s) {
    const ct = c.find((t) => t.name === st.name);
    if (ct === undefined) return { verdict: 'Fail', message: `output ${st.name} is missing from the new revision's answer` };
    if (ct.shape.join(',') !== st.shape.join(',') || ct.data.length !== st.data.length) {
      return { verdict: 'Fail', message: `output ${st.name} has shape [${ct.shape}] where stable's is [${st.shape}]` };
    }
    for (let i = 0; i < st.data.length; i++) {
      const a = st.data[i];
      const b = ct.data[i];
      if (typeof a !== 'number' || typeof b !== 'number') {
        if (a !== b) return { verdict: 'Fail', message: `output ${st.name}[${i}] is ${JSON.stringify(b)} where stable says ${JSON.stringify(a)}` };
        continue;
      }
      if (!Number.isFinite(b)) return { verdict: 'Fail', message: `output ${st.name}[${i}] is ${b}` };
      const d = Math.abs(a - b);
      if (d > worst) {
        worst = d;
        where = `${st.name}[${i}]: ${round(b)} vs stable ${round(a)}`;
      }
    }
  }
  if (worst > maxDelta) return { verdict: 'Fail', message: `outputs differ by up to ${round(worst)} (${where}; allowed ${maxDelta})`, maxDelta: worst };
  return { verdict: 'Pass', message: `outputs within ${round(worst)} of stable's (allowed ${maxDelta})`, maxDelta: worst };
}

function tensorsOf(body: unknown): Tensor[] | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const outputs = (body as { outputs?: unknown }).outputs;
  if (!Array.isArray(outputs)) return undefined;
  const tensors: Tensor[] = [];
  for (const o of outputs) {
    if (o === null || typeof o !== 'object') return undefined;
    const { name, shape, data } = o as Record<string, unknown>;
    if (typeof name !== 'string' || !Array.isArray(shape) || !Array.isArray(data)) return undefined;
    tensors.push({ name, shape: shape as number[], data: data.flat(Infinity) });
  }
  return tensors;
}

function round(x: number): string {
  return String(Math.round(x * 1e6) / 1e6);
}
