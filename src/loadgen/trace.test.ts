import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArrivalCsv, TraceFormatError } from './trace.ts';

test('a header names the time column anywhere; other columns travel as fields', () => {
  const trace = parseArrivalCsv('model,t,tokens_out\nfraud,0.5,12\n"a, b",1.5,7\n');
  assert.deepEqual(trace.fieldNames, ['model', 'tokens_out']);
  assert.deepEqual(trace.arrivals, [
    { t: 0.5, fields: { model: 'fraud', tokens_out: 12 } },
    { t: 1.5, fields: { model: 'a, b', tokens_out: 7 } },
  ]);
});

test('without a "t" column the first column is the time; without a header extra columns are numbered', () => {
  assert.deepEqual(parseArrivalCsv('seconds,size\n1,5\n').arrivals, [{ t: 1, fields: { size: 5 } }]);
  const bare = parseArrivalCsv('0\n0.25\n1e-1\n');
  assert.deepEqual(bare.arrivals, [{ t: 0 }, { t: 0.1 }, { t: 0.25 }]); // sorted
  assert.deepEqual(parseArrivalCsv('0,3\n').arrivals, [{ t: 0, fields: { column2: 3 } }]);
});

test('blank lines, # comments and CRLF line ends are fine; unsorted rows are sorted stably', () => {
  const trace = parseArrivalCsv('# exported trace\r\nt,id\r\n\r\n2,a\r\n1,b\r\n# middle\r\n1,c\r\n');
  assert.deepEqual(trace.arrivals.map((a) => a.fields?.id), ['b', 'c', 'a']);
});

function assertTraceError(text: string, line: number, message: RegExp): void {
  assert.throws(
    () => parseArrivalCsv(text, 'trace.csv'),
    (err: unknown) => {
      assert.ok(err instanceof TraceFormatError, String(err));
      assert.equal(err.line, line);
      assert.equal(err.code, 'INVALID_TRACE');
      assert.match(err.message, message);
      return true;
    },
  );
}

test('bad CSV is refused with the file, the line number and what to fix', () => {
  assertTraceError('t\n0\n1\nsoon\n', 4, /^trace\.csv:4: "t" must be the arrival time in seconds from the start, got "soon"/);
  assertTraceError('0\n-1\n', 2, /^trace\.csv:2: the first column must be seconds from the start \(0 or more\), got -1/);
  assertTraceError('t,tokens_in,tokens_out\n0,1,2\n\n1,2\n', 4, /^trace\.csv:4: expected 3 columns \(t,tokens_in,tokens_out\), found 2/);
  assertTraceError('t,t\n1,2\n', 1, /names column "t" twice/);
  assertTraceError('t,,x\n', 1, /column 2 of the header has no name/);
  assertTraceError('t,name\n1,"open\n', 2, /quoted cell is not closed/);
  assertTraceError('# nothing here\n\n', 0, /^trace\.csv: no arrivals/);
  assertTraceError('t\n', 0, /no arrivals/);
});
