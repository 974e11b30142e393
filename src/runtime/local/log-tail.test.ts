import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { lastLogLine } from './log-tail.ts';

function logFile(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'karb-log-tail-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'replica.log');
}

test('the last non-empty line written since the process started, not one of an earlier process', (t) => {
  const file = logFile(t);
  writeFileSync(file, '{"msg":"karb: starting replica"}\nkarb serve: an earlier refusal\n{"msg":"karb: starting replica"}\n');
  const start = statSync(file).size;
  assert.equal(lastLogLine(file, start), undefined, 'nothing said yet');
  appendFileSync(file, '{"level":"error","msg":"model digest refused"}\nkarb serve: model file m.onnx has digest sha256:aa, but --model-digest pins sha256:bb; the file changed or the pin is wrong\n\n');
  assert.equal(lastLogLine(file, start), 'karb serve: model file m.onnx has digest sha256:aa, but --model-digest pins sha256:bb; the file changed or the pin is wrong');
});

test('reads only the end of a long log, never the cut end of a line as if it were whole', (t) => {
  const file = logFile(t);
  writeFileSync(file, `${'x'.repeat(20_000)}\n${'y'.repeat(5000)}\nlast words\n`);
  assert.equal(lastLogLine(file), 'last words');
  writeFileSync(file, `${'x'.repeat(20_000)}\nz${'y'.repeat(9000)}\n`);
  const line = lastLogLine(file)!;
  assert.match(line, /^y+…$/, 'a line longer than the tail is shown from where the tail begins, cut short');
  assert.equal(line.length, 601);
});

test('control characters are removed; a missing file has no last line', (t) => {
  const file = logFile(t);
  writeFileSync(file, 'fine\n\u001b[31mred\u0007 alert\r\n');
  assert.equal(lastLogLine(file), '[31mred alert');
  assert.equal(lastLogLine(path.join(path.dirname(file), 'none.log')), undefined);
});
