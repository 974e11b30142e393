import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { probeReadiness } from './probe.ts';

test('a probe answers ready on 200 and says why not otherwise', async (t) => {
  const server = createServer((req, res) => res.writeHead(req.url === '/ok' ? 200 : 503).end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  assert.deepEqual(await probeReadiness(`${base}/ok`, 1000), { ready: true, detail: 'HTTP 200' });
  assert.deepEqual(await probeReadiness(`${base}/no`, 1000), { ready: false, detail: 'HTTP 503' });
  const refused = await probeReadiness('http://127.0.0.1:9/', 1000);
  assert.equal(refused.ready, false);
  assert.equal(refused.inconclusive, undefined, 'a replica that refuses is a failed probe');
});

test('out of file descriptors, a probe is inconclusive: karb ran short, not the replica', () => {
  // A process with 64 descriptors serves, uses up the rest, then probes its own server.
  const probeModule = fileURLToPath(new URL('./probe.ts', import.meta.url));
  const script = `
    import { createServer } from 'node:http';
    import { openSync } from 'node:fs';
    const { probeReadiness } = await import(${JSON.stringify(probeModule)});
    const server = createServer((req, res) => res.writeHead(200).end());
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    try { for (;;) openSync('/dev/null', 'r'); } catch (err) { if (err.code !== 'EMFILE') throw err; }
    const result = await probeReadiness('http://127.0.0.1:' + server.address().port + '/', 1000);
    process.stdout.write(JSON.stringify(result));
    process.exit(0);
  `;
  const run = spawnSync('bash', ['-c', `ulimit -n 64 && exec "${process.execPath}" --input-type=module -e "$0"`, script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(run.status, 0, run.stderr);
  const result = JSON.parse(run.stdout) as { ready: boolean; inconclusive?: boolean; detail: string };
  assert.equal(result.ready, false);
  assert.equal(result.inconclusive, true, result.detail);
  assert.match(result.detail, /EMFILE/);
});
