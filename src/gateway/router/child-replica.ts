/**
 * A replica stand-in in a process of its own, for tests that need what only a
 * real process gives: SIGKILL (the kernel closes its sockets, its port refuses
 * connections) and SIGSTOP (its sockets stay open and accept, nothing answers).
 * A few lines of `node:http`, far lighter than `karb serve`, so several fit
 * beside a gateway and a load driver on a small machine. Imported only by
 * `*.test.ts` files.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';

/**
 * Reads each request whole, answers 200 `{"pid":…}` after 0.5–1.5 × `KARB_TEST_DELAY_MS`
 * (spread, so a closed loop of callers does not move in lockstep); prints its port.
 */
const SERVER = `
const http = require('node:http');
const delay = Number(process.env.KARB_TEST_DELAY_MS || 0);
const body = JSON.stringify({ pid: process.pid });
const answer = (res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(body);
};
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => (delay > 0 ? setTimeout(answer, delay * (0.5 + Math.random()), res) : answer(res)));
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

export interface ChildReplica {
  child: ChildProcess;
  pid: number;
  url: string;
}

/** Starts one child replica; it is killed (after a SIGCONT, in case it was stopped) when the test ends. */
export async function childReplica(t: TestContext, delayMs = 0): Promise<ChildReplica> {
  const child = spawn(process.execPath, ['-e', SERVER], {
    env: { ...process.env, KARB_TEST_DELAY_MS: String(delayMs) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve(Number(line)));
    child.once('exit', (code, signal) => reject(new Error(`child replica exited (${code ?? signal}) before listening`)));
  });
  return { child, pid: child.pid!, url: `http://127.0.0.1:${port}` };
}
