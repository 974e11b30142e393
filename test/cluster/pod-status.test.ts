/**
 * The pod status the test node agent writes: the phase by the kubelet's rules, the conditions
 * (with a transition time that holds while the status does), and container statuses. Pure.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { podPhase, podStatus, type ContainerObserved, type ContainerState, type PodObserved } from './pod-status.ts';

type Obj = Record<string, any>;

const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-01-01T00:01:00Z';
const running: ContainerState = { kind: 'running', startedAt: T0 };
const exited = (exitCode: number): Extract<ContainerState, { kind: 'terminated' }> => ({ kind: 'terminated', exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: T0, finishedAt: T1 });
const waiting: ContainerState = { kind: 'waiting', reason: 'ContainerCreating' };
const backingOff: Partial<ContainerObserved> = { state: { kind: 'waiting', reason: 'CrashLoopBackOff' }, lastState: exited(1), restartCount: 1 };

const c = (name: string, o: Partial<ContainerObserved> = {}): ContainerObserved => ({ name, image: 'ghcr.io/karb-dev/karb:1', state: running, restartCount: 0, ready: false, started: true, ...o });
const obs = (containers: ContainerObserved[], o: Partial<PodObserved> = {}): PodObserved => ({
  hostIP: '127.0.0.1',
  podIP: '127.1.0.1',
  startTime: T0,
  init: [],
  containers,
  initialized: true,
  initFailed: false,
  terminated: false,
  ...o,
});

test('the phase follows the kubelet’s rules', () => {
  const cases: Array<[string, string, PodObserved, string]> = [
    ['init containers not done', 'Always', obs([c('a', { state: waiting })], { initialized: false }), 'Pending'],
    ['an init container failed, no restarts', 'Never', obs([c('a', { state: waiting })], { initialized: false, initFailed: true }), 'Failed'],
    ['no container started yet', 'Always', obs([c('a', { state: waiting })]), 'Pending'],
    ['one running', 'Always', obs([c('a'), c('b', { state: waiting })]), 'Running'],
    ['backing off after a crash', 'Always', obs([c('a', backingOff)]), 'Running'],
    ['exited, will restart', 'Always', obs([c('a', { state: exited(0) })]), 'Running'],
    ['all exited 0', 'OnFailure', obs([c('a', { state: exited(0) }), c('b', { state: exited(0) })]), 'Succeeded'],
    ['all exited 0, no restarts', 'Never', obs([c('a', { state: exited(0) })]), 'Succeeded'],
    ['one exited 1, no restarts', 'Never', obs([c('a', { state: exited(0) }), c('b', { state: exited(1) })]), 'Failed'],
    ['one exited 1, restarts on failure', 'OnFailure', obs([c('a', { state: exited(0) }), c('b', { ...backingOff })]), 'Running'],
    ['deleted, every container exited 0', 'Always', obs([c('a', { state: exited(0) })], { terminated: true }), 'Succeeded'],
    ['deleted, one killed', 'Always', obs([c('a', { state: exited(137) })], { terminated: true }), 'Failed'],
  ];
  for (const [why, policy, o, want] of cases) assert.equal(podPhase(policy, o), want, why);
});

test('conditions: Ready follows the containers’ readiness and the readiness gates; a condition’s transition time holds while its status does', () => {
  const pod: Obj = { spec: { restartPolicy: 'Always', containers: [{ name: 'a' }] }, status: { conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: T0 }] } };
  const starting = podStatus(pod, obs([c('a')]), T0);
  const cond = (s: Obj, type: string) => s.conditions.find((x: Obj) => x.type === type);
  assert.equal(starting.phase, 'Running');
  assert.deepEqual([cond(starting, 'Initialized').status, cond(starting, 'ContainersReady').status, cond(starting, 'Ready').status], ['True', 'False', 'False']);
  assert.equal(cond(starting, 'Ready').reason, 'ContainersNotReady');
  assert.equal(cond(starting, 'Ready').message, 'containers with unready status: [a]');

  const ready = podStatus({ ...pod, status: { conditions: starting.conditions } }, obs([c('a', { ready: true })]), T1);
  assert.equal(cond(ready, 'Ready').status, 'True');
  assert.equal(cond(ready, 'Ready').lastTransitionTime, T1, 'it changed');
  assert.equal(cond(ready, 'Initialized').lastTransitionTime, T0, 'it did not');
  assert.equal(cond(ready, 'Ready').reason, null, 'null, so the merge patch removes the old reason');
  assert.equal(cond(ready, 'PodScheduled').lastTransitionTime, T0);

  const gated = podStatus({ ...pod, spec: { ...pod.spec, readinessGates: [{ conditionType: 'karb.dev/warm' }] } }, obs([c('a', { ready: true })]), T1);
  assert.equal(cond(gated, 'ContainersReady').status, 'True');
  assert.equal(cond(gated, 'Ready').status, 'False');
  assert.equal(cond(gated, 'Ready').reason, 'ReadinessGatesNotReady');
  const opened = podStatus({ ...pod, spec: { ...pod.spec, readinessGates: [{ conditionType: 'karb.dev/warm' }] }, status: { conditions: [{ type: 'karb.dev/warm', status: 'True' }] } }, obs([c('a', { ready: true })]), T1);
  assert.equal(cond(opened, 'Ready').status, 'True');
});

test('container statuses: state, last state and restarts as a kubelet writes them; addresses and start time', () => {
  const pod: Obj = { spec: { containers: [{ name: 'a' }] }, status: { qosClass: 'Burstable' } };
  const s = podStatus(pod, obs([c('a', { ...backingOff, containerID: 'karb-test-node://42' })]), T1);
  assert.deepEqual(s.containerStatuses, [
    {
      name: 'a',
      image: 'ghcr.io/karb-dev/karb:1',
      imageID: '',
      containerID: 'karb-test-node://42',
      ready: false,
      started: true,
      restartCount: 1,
      state: { waiting: { reason: 'CrashLoopBackOff' } },
      lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: T0, finishedAt: T1, containerID: 'karb-test-node://42' } },
    },
  ]);
  assert.deepEqual([s.podIP, s.podIPs, s.hostIP, s.hostIPs, s.startTime, s.qosClass], ['127.1.0.1', [{ ip: '127.1.0.1' }], '127.0.0.1', [{ ip: '127.0.0.1' }], T0, 'Burstable']);
  const noAddress = podStatus(pod, obs([c('a', { state: waiting })], { podIP: undefined }), T1);
  assert.equal('podIP' in noAddress, false);
});
