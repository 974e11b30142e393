/**
 * The exporter's failures in karb's log: the receiver named by scheme, host and path only, since
 * an endpoint's userinfo and query may hold the receiver's credentials.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from '../../util/wait-for.ts';
import { createTracing } from './tracing.ts';

test('a failed export is logged naming the receiver without its userinfo or query', async (t) => {
  // A receiver that refuses every export (401 is not retried, so the failure comes at once).
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(401, { 'content-type': 'text/plain' }).end('unauthorized'));
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => receiver.close(() => resolve())));
  const port = (receiver.address() as AddressInfo).port;

  const warnings: string[] = [];
  const tracing = createTracing(
    { url: `http://karb:s3cret@127.0.0.1:${port}/v1/traces?api_key=s3cret`, sampler: 'always_on', ratio: 1, resource: { 'service.name': 'karb-test' } },
    { warn: (m) => warnings.push(m), scheduledDelayMs: 10 },
  );
  t.after(() => tracing.shutdown().catch(() => {}));
  const span = tracing.tracer.startSpan('karb.test');
  span.end();

  await waitFor('the failed export to be logged', () => warnings.length > 0);
  assert.match(warnings[0]!, new RegExp(`^traces could not be exported to http://127\\.0\\.0\\.1:${port}/v1/traces: `));
  assert.ok(!warnings[0]!.includes('s3cret'), warnings[0]);
});
