/**
 * The pod status the test node agent writes, as a kubelet writes it: pure, from what the agent
 * observed of the pod's processes. The phase follows the kubelet's rules (getPhase):
 *
 * | Init containers | Containers                                      | restartPolicy   | Phase     |
 * |-----------------|-------------------------------------------------|-----------------|-----------|
 * | not all done    | -                                               | any             | Pending   |
 * | failed          | -                                               | Never           | Failed    |
 * | done            | none started yet (waiting, never ran)           | any             | Pending   |
 * | done            | at least one running                            | any             | Running   |
 * | done            | none running, some exited (or backing off)      | Always          | Running   |
 * | done            | all exited with 0                               | OnFailure/Never | Succeeded |
 * | done            | all exited, one not 0                           | Never           | Failed    |
 * | done            | all exited, one not 0                           | OnFailure       | Running   |
 *
 * A pod being deleted ends Succeeded when every container exited 0, else Failed.
 */

type Obj = Record<string, any>;

export type ContainerState =
  | { kind: 'waiting'; reason: string; message?: string }
  | { kind: 'running'; startedAt: string }
  | { kind: 'terminated'; exitCode: number; reason: string; message?: string; startedAt?: string; finishedAt: string };

export interface ContainerObserved {
  name: string;
  image: string;
  state: ContainerState;
  lastState?: Extract<ContainerState, { kind: 'terminated' }>;
  restartCount: number;
  ready: boolean;
  started: boolean;
  /** `karb-test-node://<id>` once a process ran. */
  containerID?: string;
}

export interface PodObserved {
  hostIP: string;
  podIP?: string;
  startTime: string;
  init: ContainerObserved[];
  containers: ContainerObserved[];
  /** Every init container exited 0. */
  initialized: boolean;
  /** An init container failed under restartPolicy Never: the pod is over. */
  initFailed: boolean;
  /** The pod is being deleted and its processes are gone. */
  terminated: boolean;
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

export function podPhase(restartPolicy: string, obs: PodObserved): PodPhase {
  if (obs.initFailed) return 'Failed';
  const exited = (c: ContainerObserved) => c.state.kind === 'terminated';
  if (obs.terminated) return obs.containers.every((c) => c.state.kind === 'terminated' && c.state.exitCode === 0) ? 'Succeeded' : 'Failed';
  if (!obs.initialized) return 'Pending';
  let running = 0;
  let stopped = 0;
  let succeeded = 0;
  let waiting = 0;
  for (const c of obs.containers) {
    if (c.state.kind === 'running') running++;
    else if (exited(c) || c.lastState) {
      stopped++;
      if (c.state.kind === 'terminated' && c.state.exitCode === 0) succeeded++;
    } else waiting++;
  }
  if (running > 0) return 'Running';
  if (waiting > 0) return 'Pending';
  if (stopped === 0) return 'Pending';
  if (restartPolicy === 'Always') return 'Running';
  const allExited = obs.containers.every(exited);
  if (!allExited) return 'Running'; // some back off before a restart
  if (stopped === succeeded) return 'Succeeded';
  return restartPolicy === 'Never' ? 'Failed' : 'Running';
}

function containerStatus(c: ContainerObserved): Obj {
  const state = (s: ContainerState): Obj => {
    switch (s.kind) {
      case 'waiting':
        return { waiting: { reason: s.reason, ...(s.message ? { message: s.message } : {}) } };
      case 'running':
        return { running: { startedAt: s.startedAt } };
      case 'terminated':
        return {
          terminated: {
            exitCode: s.exitCode,
            reason: s.reason,
            ...(s.message ? { message: s.message } : {}),
            ...(s.startedAt ? { startedAt: s.startedAt } : {}),
            finishedAt: s.finishedAt,
            ...(c.containerID ? { containerID: c.containerID } : {}),
          },
        };
    }
  };
  return {
    name: c.name,
    image: c.image,
    imageID: '',
    ...(c.containerID ? { containerID: c.containerID } : {}),
    ready: c.ready,
    started: c.started,
    restartCount: c.restartCount,
    state: state(c.state),
    lastState: c.lastState ? state(c.lastState) : {},
  };
}

/** `[a b]`, as the kubelet lists containers in a condition's message. */
const names = (cs: ContainerObserved[]) => `[${cs.map((c) => c.name).join(' ')}]`;

/**
 * The status to write through pods/status (a strategic merge patch: conditions merge by type,
 * so the scheduler's PodScheduled and others' conditions stay). A condition keeps its
 * lastTransitionTime while its status does not change.
 */
export function podStatus(pod: Obj, obs: PodObserved, now: string): Obj {
  const previous = new Map<string, Obj>(((pod.status?.conditions ?? []) as Obj[]).map((c) => [c.type, c]));
  const condition = (type: string, ok: boolean, reason?: string, message?: string): Obj => {
    const status = ok ? 'True' : 'False';
    const before = previous.get(type);
    return {
      type,
      status,
      lastProbeTime: null,
      lastTransitionTime: before?.status === status ? before.lastTransitionTime : now,
      // null, not absent: the status is a strategic merge patch, and a condition turning True drops its reason
      reason: ok || !reason ? null : reason,
      message: ok || !reason ? null : message,
    };
  };
  const phase = podPhase(pod.spec.restartPolicy ?? 'Always', obs);
  const over = phase === 'Succeeded' || phase === 'Failed';
  const unready = obs.containers.filter((c) => !c.ready);
  const containersReady = !over && obs.initialized && unready.length === 0;
  const gates = ((pod.spec.readinessGates ?? []) as Obj[]).map((g) => g.conditionType as string);
  const gatesOpen = gates.filter((g) => previous.get(g)?.status !== 'True');
  const incomplete = obs.init.filter((c) => !(c.state.kind === 'terminated' && c.state.exitCode === 0));
  const conditions = [
    condition('PodReadyToStartContainers', obs.podIP !== undefined && !over),
    condition('Initialized', obs.initialized, 'ContainersNotInitialized', `containers with incomplete status: ${names(incomplete)}`),
    condition('ContainersReady', containersReady, over ? 'PodCompleted' : 'ContainersNotReady', `containers with unready status: ${names(unready)}`),
    condition(
      'Ready',
      containersReady && gatesOpen.length === 0,
      over ? 'PodCompleted' : containersReady ? 'ReadinessGatesNotReady' : 'ContainersNotReady',
      containersReady ? `corresponding condition of pod readiness gate "${gatesOpen[0]}" does not exist or is not True` : `containers with unready status: ${names(unready)}`,
    ),
    condition('PodScheduled', true),
  ];
  return {
    phase,
    conditions,
    hostIP: obs.hostIP,
    hostIPs: [{ ip: obs.hostIP }],
    ...(obs.podIP ? { podIP: obs.podIP, podIPs: [{ ip: obs.podIP }] } : {}),
    startTime: obs.startTime,
    ...(obs.init.length ? { initContainerStatuses: obs.init.map(containerStatus) } : {}),
    containerStatuses: obs.containers.map(containerStatus),
    qosClass: pod.status?.qosClass,
  };
}
