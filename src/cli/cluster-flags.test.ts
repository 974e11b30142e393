/**
 * `karb gateway` and `karb keys` read either a karb up (--control-plane/--server with the admin
 * token) or a cluster (--kubernetes); a flag of the other source is a usage error (exit 2) that
 * says which flag goes with which, before anything is contacted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CLI, NODE, REPO_ROOT } from '../serving/test-helpers.ts';

async function karb(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await promisify(execFile)(NODE, [CLI, ...args], { cwd: REPO_ROOT, env: { ...process.env, KARB_TOKEN: 'unused', KUBECONFIG: '/nonexistent' } });
    return { code: 0, stderr };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

test('karb gateway: flags of a karb up and of a cluster do not mix', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['gateway', '--kubernetes', '--control-plane', 'http://127.0.0.1:9'], /^karb: --control-plane names a karb up; with --kubernetes the gateway reads the cluster/],
    [['gateway', '--kubernetes', '--token', 't'], /^karb: --token names a karb up/],
    [['gateway', '--control-plane', 'http://127.0.0.1:9', '--kubeconfig', 'k'], /^karb: --kubeconfig goes with --kubernetes/],
    [['gateway', '--control-plane', 'http://127.0.0.1:9', '--controller', 'http://c'], /^karb: --controller goes with --kubernetes/],
    [['gateway', '--kubernetes', '--controller', 'ftp://c'], /^karb: --controller must be an http\(s\) URL such as http:\/\/karb-controller\.karb-system\.svc:8081 \(got ftp:\/\/c\)/],
    [['gateway', '--kubernetes', '--namespace', 'Not_A_Namespace'], /^karb: --namespace must be a namespace name/],
    [['gateway'], /^karb: karb gateway needs --control-plane URL \(the karb up it serves for\) or --kubernetes/],
  ];
  for (const [args, message] of cases) {
    const { code, stderr } = await karb(args);
    assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
    assert.match(stderr, message, args.join(' '));
  }
});

test('karb keys: --kubernetes keys take no --server, and a karb up’s keys no --kubeconfig; an unknown verb is named first', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['keys', 'list', '--kubernetes', '--server', 'http://127.0.0.1:9'], /^karb: --server names a karb up; with --kubernetes keys are Secrets/],
    [['keys', 'list', '--kubeconfig', 'k'], /^karb: --kubeconfig goes with --kubernetes/],
    [['keys', 'rotate', '--kubernetes'], /^karb: unknown keys command 'rotate'; use create, list or revoke/],
  ];
  for (const [args, message] of cases) {
    const { code, stderr } = await karb(args);
    assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
    assert.match(stderr, message, args.join(' '));
  }
});

test('karb gateway --kubernetes with an unreadable kubeconfig exits 1 in one line naming it', async () => {
  const { code, stderr } = await karb(['gateway', '--kubernetes', '--kubeconfig', '/nonexistent/kubeconfig', '--port', '0', '--metrics-port', '0']);
  assert.equal(code, 1, stderr);
  assert.match(stderr, /^karb: cannot read the kubeconfig \/nonexistent\/kubeconfig: /);
  assert.equal(stderr.trim().split('\n').length, 1, stderr);
});
