/** Readiness probes and port allocation for replica processes: plain `node:http` / `node:net`. */
import { request } from 'node:http';
import { createServer } from 'node:net';

export interface ProbeResult {
  ready: boolean;
  /** Why not, for status messages: `HTTP 503`, `connect ECONNREFUSED ...`, `no answer within 1000 ms`. */
  detail: string;
  /**
   * The probe could not be sent for a reason of karb's own (out of file
   * descriptors or memory): it says nothing about the replica, so it must not
   * count against it. Thousands of client connections to the gateway must never
   * mark every replica NotReady.
   */
  inconclusive?: boolean;
}

/** Errors of the probing process itself, not of the replica it probes. */
const LOCAL_RESOURCE_ERRORS = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);

function failed(err: unknown): ProbeResult {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const detail = err instanceof Error ? err.message : String(err);
  return code !== undefined && LOCAL_RESOURCE_ERRORS.has(code) ? { ready: false, detail, inconclusive: true } : { ready: false, detail };
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
      finish(failed(err));
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
    req.on('error', (err) => finish(failed(err)));
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
