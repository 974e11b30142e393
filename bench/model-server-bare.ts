/**
 * Baseline for bench/model-server.ts: a bare node:http server that reads each
 * request body and answers the same bytes every time, with the headers the model
 * server sends. It is the ceiling for an HTTP-bound model on this machine.
 *   node bench/model-server-bare.ts RESPONSE_FILE
 * Prints `{"msg":"listening","port":N}` and runs until SIGTERM.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const file = process.argv[2];
if (file === undefined) {
  process.stderr.write('usage: node bench/model-server-bare.ts RESPONSE_FILE\n');
  process.exit(2);
}
const response = readFileSync(file);
const headers = { 'content-type': 'application/json', 'content-length': response.length, 'x-karb-queue-depth': '0' };

const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    res.writeHead(200, headers);
    res.end(response);
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ level: 'info', msg: 'listening', port: (server.address() as AddressInfo).port }) + '\n');
});
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
