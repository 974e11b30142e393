/**
 * The contract between the control plane and whatever runs replicas.
 * The embedded runtime (child processes) implements it now; the Kubernetes
 * runtime implements the same interface later. The control plane only ever
 * talks to a `Runtime`, never to processes or clusters directly.
 */

/** Everything a runtime needs to start replicas of one immutable revision. */
export interface RevisionTemplate {
  /** Revision name, e.g. `fraud-detector-00002`; unique within the namespace. */
  revision: string;
  service: string;
  namespace: string;
  /** Model to serve. `path` is an absolute file path for the built-in ONNX server. */
  model: {
    format: 'onnx' | 'openai' | 'oip';
    path?: string;
    /** Name the model is served under (the service name). */
    name: string;
  };
  /** Custom replica command; `$PORT` in args and the PORT env var carry the port to listen on. */
  command?: string[];
  env?: Record<string, string>;
  batching?: { maxBatchSize: number; maxDelayMs: number };
  /** Extra flags for the built-in server (fault injection and the like). */
  serverArgs?: string[];
  /** Path answered with 200 when the replica can take traffic. */
  readinessPath?: string;
  /** Seconds a stopping replica gets to finish its work before SIGKILL. */
  drainSeconds?: number;
}

export type ReplicaPhase = 'Starting' | 'Ready' | 'Draining' | 'Crashed' | 'Stopped';

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

export interface RuntimeEvent {
  /** Milliseconds since the epoch. */
  time: number;
  type: 'Normal' | 'Warning';
  /** Stable CamelCase reason: ReplicaStarted, ReplicaReady, ReplicaNotReady, ReplicaCrashed, ReplicaRestarting, ReplicaDraining, ReplicaStopped, ReplicaAdopted. */
  reason: string;
  message: string;
  namespace: string;
  service: string;
  revision: string;
  replica?: string;
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
  /** Subscribe to replica lifecycle events and endpoint changes; returns an unsubscribe function. */
  onEvent(listener: (event: RuntimeEvent) => void): () => void;
  /** Stop everything (drain), used on shutdown. */
  close(options?: { leaveRunning?: boolean }): Promise<void>;
}
