import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { defaultMaxConnections, serverTimeouts } from './connection-limits.ts';
import { openFileLimit, parseOpenFileLimit } from '../../util/fd-limit.ts';
import { answerWithName, gatewayFor, httpClient, replica, revision, route } from '../server/test-support.ts';
import { waitFor } from '../../util/wait-for.ts';

test('the default cap leaves half of what is past a fixed reserve for upstream connections', () => {
  const cases: Array<[number | undefined, number]> = [
    [20_000, 9_872],
    [1_024, 384],
    [300, 32], // never below 32
    [undefined, 4_096], // the limit could not be read
    [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY],
  ];
  for (const [limit, want] of cases) assert.equal(defaultMaxConnections(limit), want, String(limit));
});

test('the open-file limit is read from /proc/self/limits', () => {
  const text = 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            20000                40000                files\n';
  assert.equal(parseOpenFileLimit(text), 20_000);
  assert.equal(parseOpenFileLimit('Max open files            unlimited            unlimited            files\n'), Number.POSITIVE_INFINITY);
  assert.equal(parseOpenFileLimit('nothing here'), undefined);
  assert.ok((openFileLimit() ?? 1) > 0, 'this process has a limit, or none that can be read');
});

test('timeouts default to 10 s for headers and 60 s for the whole request, checked every second', () => {
  assert.deepEqual(serverTimeouts({}), { headersTimeout: 10_000, requestTimeout: 60_000, connectionsCheckingInterval: 1_000 });
  assert.deepEqual(serverTimeouts({ headersTimeoutMs: 5_000, requestTimeoutMs: 1_000 }).requestTimeout, 5_000, 'never shorter than the headers timeout');
});

function slowClient(port: number): { socket: Socket; received: () => string; closed: Promise<void> } {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString()));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write('POST /v2/models/m/infer HTTP/1.1\r\nhost: x\r\n'); // and the rest never comes
  return { socket, received: () => received, closed };
}

test('a client that does not finish its headers in time gets 408 and loses its connection', async (t) => {
  const a = await replica(t, answerWithName('a'));
  const { gw } = await gatewayFor(t, [route('m', [revision('m-00001', 100, [a.url])])], { connections: { headersTimeoutMs: 1_000, requestTimeoutMs: 1_000 } });
  const slow = slowClient(gw.port);
  await slow.closed;
  assert.match(slow.received(), /^HTTP\/1\.1 408 /);
});

test('a body that does not arrive within the request timeout gets 408', async (t) => {
  const a = await replica(t, answerWithName('a'));
  const { gw } = await gatewayFor(t, [route('m', [revision('m-00001', 100, [a.url])])], { connections: { headersTimeoutMs: 1_000, requestTimeoutMs: 2_000 } });
  const socket = connect(gw.port, '127.0.0.1');
  socket.on('error', () => {});
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString()));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write('POST /v2/models/m/infer HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{"inp');
  await closed;
  assert.match(received, /^HTTP\/1\.1 408 /);
  assert.equal(a.seen.length, 0, 'a half-sent body is never forwarded');
});

test('past the cap, new connections are closed on arrival and counted; connected clients are still served', async (t) => {
  const a = await replica(t, answerWithName('a'));
  const { gw } = await gatewayFor(t, [route('m', [revision('m-00001', 100, [a.url])])], { connections: { maxConnections: 5 } });
  const client = httpClient();
  t.after(() => client.close());
  const INFER = { method: 'POST', body: '{"inputs":[]}' };
  assert.equal((await client.send(`${gw.url}/v2/models/m/infer`, INFER)).status, 200, 'the client holds one connection');
  const slow = Array.from({ length: 8 }, () => slowClient(gw.port));
  t.after(() => slow.forEach((s) => s.socket.destroy()));
  // Four fit beside the client's connection; the other four are closed without an answer.
  const dropped = async () => Number(/^karb_gateway_connections_dropped_total (\d+)$/m.exec(await gw.metrics())?.[1] ?? 0);
  await waitFor('four connections to be dropped', async () => (await dropped()) === 4);
  await waitFor('the dropped connections to close', () => slow.filter((s) => s.socket.destroyed).length === 4);
  assert.ok(slow.every((s) => s.received() === ''), 'nothing is sent to a dropped connection');
  assert.equal((await client.send(`${gw.url}/v2/models/m/infer`, INFER)).status, 200, 'the connected client is served');
});
