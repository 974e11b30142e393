import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compareOutputs } from './output-check.ts';

const answer = (data: unknown[], name = 'probability', shape = [2, 1]) => ({ model_name: 'm', outputs: [{ name, datatype: 'FP32', shape, data }] });

describe('compareOutputs', () => {
  const cases: Array<{ name: string; stable: unknown; canary: unknown; verdict: 'Pass' | 'Fail'; message: RegExp }> = [
    { name: 'equal within the allowed delta', stable: answer([0.1, 0.9]), canary: answer([0.12, 0.88]), verdict: 'Pass', message: /^outputs within 0\.02 of stable's \(allowed 0\.05\)$/ },
    { name: 'one value too far', stable: answer([0.1, 0.9]), canary: answer([0.1, 0.5]), verdict: 'Fail', message: /^outputs differ by up to 0\.4 \(probability\[1\]: 0\.5 vs stable 0\.9; allowed 0\.05\)$/ },
    { name: 'nested data arrays are compared flat', stable: answer([[0.1], [0.9]]), canary: answer([[0.1], [0.91]]), verdict: 'Pass', message: /within 0\.01/ },
    { name: 'a missing output', stable: answer([0.1, 0.9]), canary: answer([0.1, 0.9], 'score'), verdict: 'Fail', message: /output probability is missing/ },
    { name: 'another shape', stable: answer([0.1, 0.9]), canary: answer([0.1, 0.9, 0.5], 'probability', [3, 1]), verdict: 'Fail', message: /shape \[3,1\] where stable's is \[2,1\]/ },
    { name: 'a non-finite value', stable: answer([0.1, 0.9]), canary: answer([0.1, null]), verdict: 'Fail', message: /probability\[1\] is null where stable says 0\.9/ },
    { name: 'no outputs list from the new revision', stable: answer([0.1]), canary: { error: 'boom' }, verdict: 'Fail', message: /without an outputs list/ },
    { name: 'nothing to compare with', stable: { error: 'boom' }, canary: answer([0.1]), verdict: 'Pass', message: /stable gave no outputs/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = compareOutputs(c.stable, c.canary, 0.05);
      assert.equal(r.verdict, c.verdict, r.message);
      assert.match(r.message, c.message);
    });
  }
});
