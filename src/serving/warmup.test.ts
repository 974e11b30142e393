import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { warmupBody } from './warmup.ts';

describe('warm-up request bodies', () => {
  it('fills each input with zeros of its type, the batch dimension set to the rows and any other dynamic one to 1', () => {
    const body = JSON.parse(
      warmupBody(
        [
          { name: 'features', datatype: 'FP32', shape: [-1, 3] },
          { name: 'mask', datatype: 'BOOL', shape: [-1, -1] },
        ],
        2,
      )!,
    );
    assert.deepEqual(body, {
      inputs: [
        { name: 'features', shape: [2, 3], datatype: 'FP32', data: [0, 0, 0, 0, 0, 0] },
        { name: 'mask', shape: [2, 1], datatype: 'BOOL', data: [false, false] },
      ],
    });
  });

  it('builds no batch for an input without a dynamic first dimension, and no body for an input too large to warm', () => {
    assert.equal(warmupBody([{ name: 'image', datatype: 'FP32', shape: [1, 3] }], 4), undefined);
    assert.equal(JSON.parse(warmupBody([{ name: 'image', datatype: 'FP32', shape: [1, 3] }], 1)!).inputs[0].shape.join(','), '1,3');
    assert.equal(warmupBody([{ name: 'huge', datatype: 'FP32', shape: [-1, 4096, 4096] }], 1), undefined);
  });
});
