/**
 * The last line a replica wrote before it exited, read from the end of its log file: a server
 * that refuses to start (karb serve on a model file its digest does not pin, say) says why there,
 * and the replica's crash message repeats it, so status and events show the reason.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** Only the end of the log is read, however long the replica ran. */
const TAIL_BYTES = 8192;
const MAX_LINE_CHARS = 600;

/**
 * The last non-empty line of `file` written at or after byte `from` (where this process's output
 * began), control characters removed and cut to MAX_LINE_CHARS; undefined when there is none or
 * the file cannot be read.
 */
export function lastLogLine(file: string, from = 0): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    const start = Math.max(from, size - TAIL_BYTES);
    if (start >= size) return undefined;
    const buffer = Buffer.alloc(size - start);
    const read = readSync(fd, buffer, 0, buffer.length, start);
    const lines = buffer
      .subarray(0, read)
      .toString('utf8')
      .split('\n')
      .map((l) => l.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '').trim());
    // The text before the tail's first newline may be the cut end of a longer line: a whole line is
    // preferred, and that part shown only when the tail holds nothing else.
    const cut = start > from ? 1 : 0;
    const last = lines.slice(cut).findLast((l) => l !== '') ?? (lines[0] === '' ? undefined : lines[0]);
    if (last === undefined) return undefined;
    return last.length <= MAX_LINE_CHARS ? last : `${last.slice(0, MAX_LINE_CHARS)}…`;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
