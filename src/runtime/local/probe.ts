/** Readiness probes and port allocation for replica processes: plain `node:http` / `node:net`. */
import { request } from 'node:http';
import { createServer } from 'node:net';

export interface ProbeResult {
  ready: boolean;
  /** Why not, for status messages: `HTTP 503`, `connect ECONNREFUSED ...`, `no answer within 1000 ms`. */
  detail: string;
}

/** One GET; ready only on 200. Never rejects. A fresh connection per probe so nothing lingers. */
export function probeReadiness(url: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: ProbeResult) => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    let req: ReturnType<typeof request>;
    try {
      req = request(url, { method: 'GET', agent: false, timeout: timeoutMs, headers: { 'user-agent': 'karb-probe' } });
    } catch (err) {
      finish({ ready: false, detail: err instanceof Error ? err.message : String(err) });
      return;
    }
    req.on('response', (res) => {
      res.resume();
      finish({ ready: res.statusCode === 200, detail: `HTTP ${res.statusCode}` });
    });
    req.on('timeout', () => {
      finish({ ready: false, detail: `no answer within ${timeoutMs} ms` });
      req.destroy();
    });
    req.on('error', (err) => finish({ ready: false, detail: err.message }));
    req.end();
  });
}

/**
 * A free port: bind `host:0`, read the port, close. Another process may take it
 * before the replica binds; the replica then exits and restarts on a new port.
 */
export function allocatePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error(`could not read the port bound on ${host}`))));
    });
  });
}
