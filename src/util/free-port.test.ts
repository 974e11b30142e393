import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { freePort } from './free-port.ts';

const ephemeralStart = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

test('hands out ports below the ephemeral range, free to bind', async () => {
  for (let i = 0; i < 20; i++) {
    const port = await freePort();
    assert.ok(port >= 10000 && port < ephemeralStart, `port ${port} is below ${ephemeralStart}`);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => server.close(resolve));
  }
});

test('never hands out a port something listens on', async () => {
  // Each port stays held while the next ones are drawn: a repeat would fail to bind.
  const held = [];
  for (let i = 0; i < 30; i++) {
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    held.push(server);
  }
  const ports = new Set(held.map((s) => (s.address() as { port: number }).port));
  assert.equal(ports.size, 30);
  for (const server of held) await new Promise((resolve) => server.close(resolve));
});
