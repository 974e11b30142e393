/**
 * One pod on the test node, from binding to deletion, as a kubelet's pod worker:
 *
 *   address → volumes → plan → init containers in order → containers (probed, restarted)
 *   deletionTimestamp → preStop, SIGTERM, SIGKILL after the grace period → final status →
 *   delete with gracePeriodSeconds=0 (the kubelet finishing a graceful delete)
 *
 * A pod that cannot run here (another image, an unsupported volume, command or probe) stays
 * Pending with the reason on the container's waiting state and a Warning event, as a pod whose
 * image cannot be pulled does (a Failed pod would be replaced by its ReplicaSet at once, over
 * and over). Status goes through pods/status as a strategic merge patch, only when it changed.
 */
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ContainerRun } from './container-run.ts';
import { KubeHttpError, type KubeHttp } from './kube-http.ts';
import type { PodAddresses } from './pod-addresses.ts';
import { planPod, type PodPlan, type ProcessPlan, type Refusal } from './pod-plan.ts';
import { podStatus, type ContainerObserved, type PodObserved } from './pod-status.ts';
import { envSources, prepareVolumes } from './pod-volumes.ts';

type Obj = Record<string, any>;

export interface WorkerContext {
  api: KubeHttp;
  addresses: PodAddresses;
  nodeName: string;
  hostIP: string;
  /** The agent's folder; the pod's is pods/<namespace>_<name>_<uid>. */
  dir: string;
  repoRoot: string;
  node: string;
  guard: string;
  log(line: string): void;
  /** The worker is finished: its processes are gone, its address released. */
  done(uid: string): void;
}

const RETRY_MS = 1_000;
const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

export function podFolderName(pod: Obj): string {
  return `${pod.metadata.namespace}_${pod.metadata.name}_${pod.metadata.uid}`;
}

export class PodWorker {
  readonly uid: string;
  readonly podDir: string;
  #pod: Obj;
  readonly #ctx: WorkerContext;
  #ip: string | undefined;
  readonly #startTime = now();
  readonly #init: ContainerObserved[];
  readonly #containers: ContainerObserved[];
  readonly #runs: ContainerRun[] = [];
  #initialized: boolean;
  #initFailed = false;
  #terminated = false;
  #ending = false;
  #deleting: Promise<void> | undefined;
  #finished = false;
  /** The agent is stopping: no more writes to the API server. */
  #quiet = false;
  #refusal: string | undefined;
  // status writes: one at a time, the latest state wins
  #writing = false;
  #dirty = false;
  #lastWritten = '';
  #conditions: Obj[] | undefined;
  #wake: (() => void) | undefined;

  constructor(pod: Obj, ctx: WorkerContext) {
    this.#pod = pod;
    this.#ctx = ctx;
    this.uid = pod.metadata.uid;
    this.podDir = path.join(ctx.dir, 'pods', podFolderName(pod));
    mkdirSync(path.join(this.podDir, 'logs'), { recursive: true });
    const waiting = (reason: string) => (c: Obj): ContainerObserved => ({ name: c.name, image: c.image, state: { kind: 'waiting', reason }, restartCount: 0, ready: false, started: false });
    const initSpecs = (pod.spec.initContainers ?? []) as Obj[];
    this.#init = initSpecs.map(waiting('PodInitializing'));
    this.#containers = ((pod.spec.containers ?? []) as Obj[]).map(waiting(initSpecs.length ? 'PodInitializing' : 'ContainerCreating'));
    this.#initialized = initSpecs.length === 0;
    void this.#run();
  }

  /** The log file of one of its containers. */
  logFile(container: string): string {
    return path.join(this.podDir, 'logs', `${container}.log`);
  }

  get namespace(): string {
    return this.#pod.metadata.namespace;
  }

  get name(): string {
    return this.#pod.metadata.name;
  }

  get ip(): string | undefined {
    return this.#ip;
  }

  /** The processes running now, by container. */
  processes(): Array<{ container: string; pid: number }> {
    return this.#runs.flatMap((r) => (r.pid === undefined ? [] : [{ container: r.obs.name, pid: r.pid }]));
  }

  /** A newer version of the pod from the watch. */
  update(pod: Obj): void {
    this.#pod = pod;
    if (pod.metadata.deletionTimestamp && !this.#deleting) this.#deleting = this.#terminate();
  }

  /** The pod is gone from the API server (force-deleted, or after our own delete). */
  gone(): void {
    if (this.#deleting) return;
    this.#deleting = (async () => {
      this.#end();
      await Promise.all(this.#runs.map((r) => r.stop(0, false)));
      this.#cleanup();
    })();
  }

  /** The agent is stopping: the processes end (SIGTERM, SIGKILL after `graceSeconds`), the API is left as it is. */
  async shutdown(graceSeconds: number): Promise<void> {
    this.#end();
    this.#quiet = true;
    await Promise.all(this.#runs.map((r) => r.stop(graceSeconds, false)));
    await this.#deleting?.catch(() => undefined);
    this.#cleanup();
  }

  #end(): void {
    this.#ending = true;
    this.#wake?.();
  }

  /** Waits `ms`, or less when the pod starts ending. */
  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.#wake = done;
    });
  }

  async #run(): Promise<void> {
    const ctx = this.#ctx;
    try {
      this.#ip = ctx.addresses.allocate();
      this.#sync();
      // Volumes, then the plan: each retried until it can be made (a claim binding, a ConfigMap
      // appearing, the image being changed) or the pod ends.
      let volumes: Record<string, string> | undefined;
      let plan: PodPlan | undefined;
      while (!this.#ending && !plan) {
        const pod = this.#pod;
        const prepared = volumes ? ({ kind: 'ready', volumes } as const) : await prepareVolumes(ctx.api, pod, { podIP: this.#ip, hostIP: ctx.hostIP, nodeName: ctx.nodeName, podDir: this.podDir }).catch((err: Error) => ({ kind: 'wait' as const, message: err.message }));
        if (prepared.kind === 'wait') {
          this.#setWaiting('ContainerCreating', prepared.message);
        } else if (prepared.kind === 'refused') {
          this.#refuse({ refused: true, container: (pod.spec.initContainers?.[0] ?? pod.spec.containers[0]).name, reason: 'VolumeNotSupportedByTestNode', message: prepared.message });
        } else {
          volumes = prepared.volumes;
          const sources = await envSources(ctx.api, pod).catch(() => undefined);
          if (sources) {
            const result = planPod(pod, {
              repoRoot: ctx.repoRoot,
              node: ctx.node,
              podIP: this.#ip,
              hostIP: ctx.hostIP,
              nodeName: ctx.nodeName,
              volumes,
              ...sources,
              baseEnv: { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' },
              podDir: this.podDir,
            });
            if (result.refused) this.#refuse(result);
            else plan = result;
          }
        }
        if (!plan) await this.#pause(RETRY_MS);
      }
      if (!plan || this.#ending) return;
      this.#refusal = undefined;
      const restartPolicy = (this.#pod.spec.restartPolicy ?? 'Always') as 'Always' | 'OnFailure' | 'Never';
      for (const [i, p] of plan.init.entries()) {
        const run = this.#newRun(p, this.#init[i]!, true, restartPolicy);
        run.start();
        if (!(await run.finished)) {
          if (!this.#ending) this.#initFailed = restartPolicy === 'Never';
          this.#sync();
          return;
        }
      }
      this.#initialized = true;
      for (const c of this.#containers) if (c.state.kind === 'waiting') c.state = { kind: 'waiting', reason: 'ContainerCreating' };
      if (this.#ending) return;
      for (const [i, p] of plan.containers.entries()) this.#newRun(p, this.#containers[i]!, false, restartPolicy).start();
    } catch (err) {
      ctx.log(`pod ${this.namespace}/${this.name}: ${err instanceof Error ? err.stack : String(err)}`);
    }
  }

  #newRun(plan: ProcessPlan, obs: ContainerObserved, init: boolean, restartPolicy: 'Always' | 'OnFailure' | 'Never'): ContainerRun {
    const run = new ContainerRun({
      plan,
      obs,
      init,
      restartPolicy,
      logFile: this.logFile(plan.name),
      guard: this.#ctx.guard,
      podName: this.name,
      hooks: {
        changed: () => this.#sync(),
        event: (type, reason, message) => this.#event(type, reason, message, plan.name),
        graceSeconds: () => this.#pod.spec.terminationGracePeriodSeconds ?? 30,
      },
    });
    this.#runs.push(run);
    return run;
  }

  #setWaiting(reason: string, message: string): void {
    for (const c of [...this.#init, ...this.#containers]) {
      if (c.state.kind === 'waiting' && c.restartCount === 0) c.state = { kind: 'waiting', reason: c.state.reason === 'PodInitializing' ? 'PodInitializing' : reason, message };
    }
    this.#sync();
  }

  /** The container that cannot run shows why; a Warning event says it once. */
  #refuse(r: Refusal): void {
    for (const c of [...this.#init, ...this.#containers]) {
      if (c.name === r.container) c.state = { kind: 'waiting', reason: r.reason, message: r.message };
    }
    if (this.#refusal !== r.message) {
      this.#refusal = r.message;
      this.#event('Warning', r.reason, r.message, r.container);
      this.#ctx.log(`pod ${this.namespace}/${this.name}: ${r.reason}: ${r.message}`);
    }
    this.#sync();
  }

  /** Graceful deletion: preStop, SIGTERM, SIGKILL after the grace period; then the object goes. */
  async #terminate(): Promise<void> {
    this.#end();
    const grace = Number(this.#pod.metadata.deletionGracePeriodSeconds ?? this.#pod.spec.terminationGracePeriodSeconds ?? 30);
    for (const r of this.#runs) if (r.pid !== undefined) this.#event('Normal', 'Killing', `Stopping container ${r.obs.name}`, r.obs.name);
    await Promise.all(this.#runs.map((r) => r.stop(grace, true)));
    for (const c of [...this.#init, ...this.#containers]) {
      if (c.state.kind === 'waiting') c.state = { kind: 'terminated', exitCode: 0, reason: 'ContainerStatusUnknown', message: 'The container never started: the pod was deleted', finishedAt: now() };
    }
    this.#terminated = true;
    this.#sync();
    await this.#flush();
    const ns = encodeURIComponent(this.namespace);
    try {
      await this.#ctx.api.request('DELETE', `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(this.name)}`, {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        gracePeriodSeconds: 0,
        preconditions: { uid: this.uid },
      });
    } catch (err) {
      if (!(err instanceof KubeHttpError && (err.status === 404 || err.status === 409))) this.#ctx.log(`pod ${this.namespace}/${this.name}: delete: ${(err as Error).message}`);
    }
    this.#cleanup();
  }

  #cleanup(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#ip) this.#ctx.addresses.release(this.#ip);
    rmSync(path.join(this.podDir, 'volumes'), { recursive: true, force: true });
    this.#ctx.done(this.uid);
  }

  #observed(): PodObserved {
    return {
      hostIP: this.#ctx.hostIP,
      ...(this.#ip ? { podIP: this.#ip } : {}),
      startTime: this.#startTime,
      init: this.#init,
      containers: this.#containers,
      initialized: this.#initialized,
      initFailed: this.#initFailed,
      terminated: this.#terminated,
    };
  }

  /** Writes the status soon (coalescing bursts of changes), unless the pod has finished. */
  #sync(): void {
    this.#dirty = true;
    if (!this.#writing) void this.#flush();
  }

  async #flush(): Promise<void> {
    if (this.#writing) {
      // one is under way; it loops while dirty
      while (this.#writing) await new Promise((r) => setTimeout(r, 10));
      return;
    }
    this.#writing = true;
    try {
      while (this.#dirty && !this.#finished && !this.#quiet) {
        this.#dirty = false;
        // Conditions as this worker last wrote them, over the watch's copy (which may lag behind).
        const ours = new Map((this.#conditions ?? []).map((c) => [c.type, c]));
        const theirs = ((this.#pod.status?.conditions ?? []) as Obj[]).filter((c) => !ours.has(c.type));
        const view = { ...this.#pod, status: { ...this.#pod.status, conditions: [...theirs, ...ours.values()] } };
        const status = podStatus(view, this.#observed(), now());
        const text = JSON.stringify(status);
        if (text === this.#lastWritten) continue;
        try {
          const patched = await this.#ctx.api.request<Obj>(
            'PATCH',
            `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/pods/${encodeURIComponent(this.name)}/status`,
            { metadata: { uid: this.uid }, status },
            'application/strategic-merge-patch+json',
          );
          this.#lastWritten = text;
          this.#conditions = status.conditions;
          if (patched?.metadata) this.#pod = { ...this.#pod, status: patched.status };
        } catch (err) {
          if (err instanceof KubeHttpError && err.status === 404) {
            this.gone();
            return;
          }
          this.#ctx.log(`pod ${this.namespace}/${this.name}: status: ${(err as Error).message}`);
          this.#dirty = true;
          await new Promise((r) => setTimeout(r, RETRY_MS));
        }
      }
    } finally {
      this.#writing = false;
    }
  }

  #event(type: 'Normal' | 'Warning', reason: string, message: string, container?: string): void {
    const pod = this.#pod;
    const time = new Date().toISOString();
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${pod.metadata.name}.`, namespace: pod.metadata.namespace },
      involvedObject: {
        apiVersion: 'v1',
        kind: 'Pod',
        namespace: pod.metadata.namespace,
        name: pod.metadata.name,
        uid: pod.metadata.uid,
        ...(container ? { fieldPath: `spec.containers{${container}}` } : {}),
      },
      reason,
      message,
      type,
      source: { component: 'karb-test-node', host: this.#ctx.nodeName },
      reportingComponent: 'karb-test-node',
      reportingInstance: this.#ctx.nodeName,
      firstTimestamp: time.replace(/\.\d{3}Z$/, 'Z'),
      lastTimestamp: time.replace(/\.\d{3}Z$/, 'Z'),
      count: 1,
    };
    this.#ctx.api.request('POST', `/api/v1/namespaces/${encodeURIComponent(pod.metadata.namespace)}/events`, event).catch(() => undefined);
  }
}
