/**
 * A tiny replica for the local runtime's tests: a `node:http` server on $PORT
 * that answers `GET /v2/health/ready`. Flags:
 *   --unready-ms N      answer 503 for the first N ms
 *   --unready-file P    answer 503 while file P exists
 *   --crash-after-ms N  exit with code 3 after N ms (0: at once, before listening)
 *   --ignore-sigterm    keep running on SIGTERM (only SIGKILL stops it)
 *   --drain-ms N        on SIGTERM, keep serving N ms, then exit 0
 *   --drain-log P       append "<pid> SIGTERM" to file P on each SIGTERM
 *   --allocate-mb N     once listening, take N MiB more memory (written, so resident), 8 MiB every 10 ms, and hold it
 */
import { appendFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    'unready-ms': { type: 'string' },
    'unready-file': { type: 'string' },
    'crash-after-ms': { type: 'string' },
    'ignore-sigterm': { type: 'boolean' },
    'drain-ms': { type: 'string' },
    'drain-log': { type: 'string' },
    'allocate-mb': { type: 'string' },
  },
});

const port = Number(process.env.PORT);
const started = Date.now();
const unreadyMs = Number(values['unready-ms'] ?? 0);
const unreadyFile = values['unready-file'];

if (values['crash-after-ms'] !== undefined) {
  const ms = Number(values['crash-after-ms']);
  if (ms === 0) {
    process.stderr.write('fixture: crashing at once\n');
    process.exit(3);
  }
  setTimeout(() => {
    process.stderr.write('fixture: crashing\n');
    process.exit(3);
  }, ms);
}

const server = createServer((req, res) => {
  if (req.url === '/v2/health/ready' || req.url === '/ready') {
    const ready = Date.now() - started >= unreadyMs && !(unreadyFile && existsSync(unreadyFile));
    res.writeHead(ready ? 200 : 503).end(ready ? 'ready' : 'not ready');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ pid: process.pid }));
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`fixture: pid ${process.pid} listening on ${port}\n`);
  if (values['allocate-mb'] !== undefined) allocate(Number(values['allocate-mb']));
});

const held: Buffer[] = [];
function allocate(mb: number): void {
  if (mb <= 0) return;
  held.push(Buffer.alloc(Math.min(8, mb) * 1024 * 1024, 1));
  setTimeout(() => allocate(mb - 8), 10);
}

process.on('SIGTERM', () => {
  if (values['drain-log']) appendFileSync(values['drain-log'], `${process.pid} SIGTERM\n`);
  if (values['ignore-sigterm']) return;
  setTimeout(() => {
    server.close();
    process.exit(0);
  }, Number(values['drain-ms'] ?? 0));
});
