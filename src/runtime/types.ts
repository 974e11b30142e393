/**
 * The contract between the control plane and whatever runs replicas.
 * The embedded runtime (child processes) implements it now; the Kubernetes
 * runtime implements the same interface later. The control plane only ever
 * talks to a `Runtime`, never to processes or clusters directly.
 */
import type { InferenceServiceSpec } from '../api/index.ts';

/**
 * Everything a runtime needs to run replicas of one immutable revision, in the
 * terms of the resource, never of one runtime: the local runtime derives a
 * process from it (`local/process-spec.ts`), the Kubernetes runtime a
 * Deployment. The reconciler builds it from the stored spec and revision.
 */
export interface RevisionTemplate {
  /** Revision name, e.g. `fraud-detector-00002`; unique within the namespace. */
  revision: string;
  service: string;
  namespace: string;
  model: {
    format: 'onnx' | 'openai' | 'oip';
    /** Name the model is served under (the service name). */
    name: string;
    /** Where the model is: `file://` (embedded; relative to the models root), `pvc://`, `s3://`, `oci://` (Kubernetes). */
    uri?: string;
    /** The model file's pinned SHA-256 (`sha256:<hex>`), checked by the built-in server before it loads the file. */
    digest?: string;
    /** Container image of the model server (Kubernetes); embedded mode runs `command` or karb's built-in server. */
    image?: string;
    /** Argv of a custom model server; `$PORT` in it and the PORT env var carry the port to listen on. */
    command?: string[];
    env?: Record<string, string>;
    /** Path answered with 200 when a replica can take traffic. */
    readinessPath?: string;
    batching?: { maxBatchSize: number; maxDelayMs: number };
    /** Drift measurement of the built-in server (`spec.model.drift`; the threshold is the control plane's). */
    drift?: { reference?: string; learnRows?: number; windowRows?: number; maxColumns?: number };
  };
  /** What each replica requests and may use (a Deployment's requests and limits, its accelerator). */
  resources: InferenceServiceSpec['resources'];
  /** Where replicas may run: pools, tolerations, node selector (Kubernetes; the local runtime runs on this machine). */
  placement?: InferenceServiceSpec['placement'];
  /** Seconds a stopping replica gets to finish its work before it is killed. */
  drainSeconds?: number;
}

/**
 * `Pending`: the replica waits for a place to run — a node the scheduler can put it on, or a
 * device on this machine — and `message` says what it waits for; nothing of it runs yet.
 */
export type ReplicaPhase = 'Pending' | 'Starting' | 'Ready' | 'Draining' | 'Crashed' | 'Stopped';

export interface ReplicaStatus {
  /** Unique replica id, e.g. `fraud-detector-00001-a1b2c`. */
  name: string;
  revision: string;
  service: string;
  namespace: string;
  phase: ReplicaPhase;
  /** `http://127.0.0.1:PORT` once the port is known. */
  url?: string;
  pid?: number;
  restarts: number;
  startedAt: number;
  readyAt?: number;
  lastExitCode?: number | null;
  message?: string;
}

export interface Endpoint {
  replica: string;
  revision: string;
  service: string;
  namespace: string;
  url: string;
}

/** Stable reasons of replica lifecycle events (the events stream, `karb get events`); never reworded once shipped. */
export type ReplicaEventReason =
  | 'ReplicaPending'
  | 'ReplicaStarted'
  | 'ReplicaReady'
  | 'ReplicaNotReady'
  | 'ReplicaCrashed'
  | 'ReplicaRestarting'
  | 'ReplicaDraining'
  | 'ReplicaStopped'
  | 'ReplicaAdopted';

export interface RuntimeEvent {
  /** Milliseconds since the epoch. */
  time: number;
  type: 'Normal' | 'Warning';
  reason: ReplicaEventReason;
  message: string;
  namespace: string;
  service: string;
  revision: string;
  replica?: string;
}

/** What one replica used, as the runtime measured it; a missing figure means "not measured", never zero. */
export interface ReplicaUsage {
  replica: string;
  namespace: string;
  service: string;
  revision: string;
  /** CPU cores the replica used on average since the previous `usage()` call; missing on its first sample. */
  cpuCores?: number;
  /** GPU utilization (0..1) of the replica at the runtime's last GPU sample; missing without a GPU or a way to measure it. */
  gpuUtilization?: number;
}

export interface Runtime {
  /**
   * Level-triggered: make `replicas` replicas of this revision exist (start or
   * stop the difference). Idempotent; returns once the change is under way,
   * not when replicas are ready.
   */
  ensureRevision(template: RevisionTemplate, replicas: number): Promise<void>;
  /**
   * Stop every replica of the revision, draining in-flight work. Resolves once
   * the replicas are out of the endpoints and draining has started, not when
   * their processes have exited.
   */
  removeRevision(namespace: string, revision: string): Promise<void>;
  /** Revisions that currently have replicas (including adopted ones, excluding replicas being stopped). */
  revisions(): Array<{ namespace: string; service: string; revision: string; replicas: number }>;
  replicas(filter?: { namespace?: string; service?: string; revision?: string }): ReplicaStatus[];
  /** Ready endpoints, optionally for one revision. */
  endpoints(filter?: { namespace?: string; service?: string; revision?: string }): Endpoint[];
  /**
   * Why replicas of the revision cannot even be created, when the platform refuses them before
   * they exist (on Kubernetes: a quota, a policy — the Deployment's ReplicaFailure); undefined
   * when nothing blocks them.
   */
  blocked?(namespace: string, revision: string): string | undefined;
  /**
   * What each running replica (not one being stopped) used since the previous
   * call: calling it takes the next sample, so one caller (the autoscaling
   * loop) reads it once per period.
   */
  usage(filter?: { namespace?: string; service?: string; revision?: string }): ReplicaUsage[];
  /** Subscribe to replica lifecycle events and endpoint changes; returns an unsubscribe function. */
  onEvent(listener: (event: RuntimeEvent) => void): () => void;
  /** Stop everything (drain), used on shutdown. */
  close(options?: { leaveRunning?: boolean }): Promise<void>;
}
