/**
 * A model server for the Prometheus end-to-end test: it answers the Open Inference Protocol's
 * readiness and infer paths, and fails every infer with 500 while the file named by its second
 * argument exists, so the test turns errors on and off from outside.
 *   node flaky-model.ts PORT FAIL_FILE
 */
import { createServer } from 'node:http';
import { existsSync } from 'node:fs';

const [port, failFile] = process.argv.slice(2);
if (port === undefined || failFile === undefined) throw new Error('usage: flaky-model.ts PORT FAIL_FILE');

createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (req.method === 'GET' && /^\/v2\/models\/[^/]+\/ready$/.test(req.url ?? '')) {
      res.writeHead(200).end();
    } else if (req.method === 'POST' && /^\/v2\/models\/[^/]+\/infer$/.test(req.url ?? '')) {
      if (existsSync(failFile)) res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"injected failure"}');
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"model_name":"flaky","outputs":[]}');
    } else {
      res.writeHead(404).end();
    }
  });
}).listen(Number(port), '127.0.0.1');
