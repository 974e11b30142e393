/**
 * One probe of a container, as a kubelet makes it: an HTTP GET that succeeds on a status from
 * 200 to 399, or a TCP connect that succeeds when it is accepted; both bounded by the probe's
 * timeoutSeconds. Test code for the test node agent.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import type { ProbePlan } from './pod-plan.ts';

export interface ProbeResult {
  ok: boolean;
  /** Why it failed, as the kubelet says it in an Unhealthy event. */
  message: string;
}

export function runProbe(action: ProbePlan['action'], timeoutMs: number): Promise<ProbeResult> {
  return action.kind === 'http' ? httpGet(action.url, action.headers, timeoutMs) : tcp(action.host, action.port, timeoutMs);
}

export function httpGet(url: string, headers: Record<string, string>, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', headers: { 'user-agent': 'kube-probe/karb-test-node', ...headers }, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(status >= 200 && status < 400 ? { ok: true, message: '' } : { ok: false, message: `HTTP probe failed with statuscode: ${status}` });
    });
    req.once('timeout', () => req.destroy(new Error(`context deadline exceeded (Client.Timeout exceeded while awaiting headers)`)));
    req.once('error', (err) => resolve({ ok: false, message: `Get "${url}": ${err.message}` }));
    req.end();
  });
}

function tcp(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve({ ok: true, message: '' });
    });
    socket.once('timeout', () => socket.destroy(new Error('i/o timeout')));
    socket.once('error', (err) => resolve({ ok: false, message: `dial tcp ${host}:${port}: ${err.message}` }));
  });
}
