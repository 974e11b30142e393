/**
 * Arrival traces from CSV: one row per request, its arrival time in seconds
 * from the start (column `t`, or the first column), and any other columns
 * (such as `tokens_in,tokens_out`) carried along as per-request fields.
 * A header row is optional; without one, extra columns are named column2, column3, ...
 * Blank lines and lines starting with `#` are skipped. Rows need not be sorted.
 */
import { InvalidRequestError } from '../errors.ts';

/** A trace file that cannot be read as arrivals; `line` is 1-based (0 when the problem is the whole file). */
export class TraceFormatError extends InvalidRequestError {
  readonly line: number;
  constructor(source: string, line: number, message: string) {
    super(`${source}${line > 0 ? `:${line}` : ''}: ${message}`, { code: 'INVALID_TRACE', details: { source, line } });
    this.line = line;
  }
}

export type FieldValue = number | string;

export interface TraceArrival {
  /** Seconds from the start of the trace. */
  t: number;
  /** The row's other columns; numbers where the text is a number. */
  fields?: Record<string, FieldValue>;
}

export interface ArrivalTrace {
  /** Names of the carried columns (every column but the time). */
  fieldNames: string[];
  /** Arrivals in ascending time order. */
  arrivals: TraceArrival[];
}

/** Parses a CSV arrival trace; throws TraceFormatError naming the line and what to fix. */
export function parseArrivalCsv(text: string, source = 'trace'): ArrivalTrace {
  const lines = text.split(/\r?\n/);
  let header: string[] | undefined;
  let columns = -1;
  let timeColumn = 0;
  let fieldNames: string[] = [];
  const arrivals: TraceArrival[] = [];
  let sorted = true;

  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i]!.trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const cells = splitCsvLine(raw, source, lineNo);

    if (columns === -1) {
      columns = cells.length;
      if (!isNumber(cells[0]!)) {
        header = cells.map((c) => c.trim());
        header.forEach((name, index) => {
          if (name === '') throw new TraceFormatError(source, lineNo, `column ${index + 1} of the header has no name; name every column (e.g. t,tokens_in,tokens_out)`);
          if (header!.indexOf(name) !== index) throw new TraceFormatError(source, lineNo, `the header names column "${name}" twice; column names must be unique`);
        });
        const t = header.findIndex((name) => name.toLowerCase() === 't');
        timeColumn = t === -1 ? 0 : t;
        fieldNames = header.filter((_, index) => index !== timeColumn);
        continue;
      }
      fieldNames = cells.map((_, index) => `column${index + 1}`).filter((_, index) => index !== timeColumn);
    }

    if (cells.length !== columns) {
      const names = header ? ` (${header.join(',')})` : '';
      throw new TraceFormatError(source, lineNo, `expected ${columns} column${columns === 1 ? '' : 's'}${names}, found ${cells.length}`);
    }
    const timeText = cells[timeColumn]!.trim();
    const t = isNumber(timeText) ? Number(timeText) : NaN;
    const timeName = header ? `"${header[timeColumn]}"` : 'the first column';
    if (!Number.isFinite(t)) throw new TraceFormatError(source, lineNo, `${timeName} must be the arrival time in seconds from the start, got "${timeText}"`);
    if (t < 0) throw new TraceFormatError(source, lineNo, `${timeName} must be seconds from the start (0 or more), got ${timeText}`);

    const arrival: TraceArrival = { t };
    if (columns > 1) {
      const fields: Record<string, FieldValue> = {};
      let f = 0;
      for (let c = 0; c < columns; c++) {
        if (c === timeColumn) continue;
        const cell = cells[c]!.trim();
        fields[fieldNames[f++]!] = isNumber(cell) ? Number(cell) : cell;
      }
      arrival.fields = fields;
    }
    if (arrivals.length > 0 && t < arrivals[arrivals.length - 1]!.t) sorted = false;
    arrivals.push(arrival);
  }

  if (arrivals.length === 0) {
    throw new TraceFormatError(source, 0, `no arrivals: the file has no data rows; write one row per request with its arrival time in seconds (column "t" or the first column)`);
  }
  // Array.prototype.sort is stable, so rows with the same time keep their order.
  if (!sorted) arrivals.sort((a, b) => a.t - b.t);
  return { fieldNames, arrivals };
}

function isNumber(text: string): boolean {
  const s = text.trim();
  return s !== '' && Number.isFinite(Number(s));
}

/** Splits one CSV line; double-quoted cells may hold commas and doubled quotes (""). */
function splitCsvLine(line: string, source: string, lineNo: number): string[] {
  if (!line.includes('"')) return line.split(',');
  const cells: string[] = [];
  let cell = '';
  let i = 0;
  let quoted = false;
  while (i < line.length) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cell += '"';
        i += 2;
        continue;
      }
      if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"' && cell.trim() === '') {
      quoted = true;
      cell = '';
    } else if (ch === ',') {
      cells.push(cell);
      cell = '';
    } else {
      cell += ch;
    }
    i++;
  }
  if (quoted) throw new TraceFormatError(source, lineNo, 'a quoted cell is not closed; end it with a double quote (")');
  cells.push(cell);
  return cells;
}
