/**
 * Before `karb controller` watches anything, one list of InferenceServices tells whether it can
 * work at all, and a failure says what to fix: the API server unreachable (the kubeconfig), the
 * CRD missing (`karb install`), or the credentials lacking a permission (the RBAC `karb install`
 * ships). A busy or still-starting API server (429, 5xx) is waited out for half a minute first.
 * Without it a watch would retry quietly forever.
 */
import { KarbError } from '../../errors.ts';
import type { ListWatch } from '@kubernetes/client-node';
import { KubeApiError, type KubeClient } from '../../runtime/kubernetes/api-client.ts';
import { INFERENCE_SERVICES, NODES } from '../../runtime/kubernetes/resources.ts';

export class ControllerStartError extends KarbError {
  constructor(message: string, cause: unknown) {
    super('CONTROLLER_CANNOT_START', message, { status: 503, cause });
  }
}

/** What a failed first list means for someone starting the controller. */
export function explainStartFailure(err: unknown, server: string, namespace: string | undefined): ControllerStartError {
  const where = namespace ? ` in namespace ${namespace}` : '';
  if (err instanceof KubeApiError) {
    if (err.status === 404) {
      return new ControllerStartError(`the API server at ${server} has no InferenceService resource: install karb's CRD first (karb install | kubectl apply -f -)`, err);
    }
    if (err.status === 401) return new ControllerStartError(`the API server at ${server} does not accept these credentials (401): check the kubeconfig's user or token`, err);
    if (err.status === 403) {
      return new ControllerStartError(`these credentials may not list InferenceServices${where} (403): bind them to the karb-controller ClusterRole that karb install creates`, err);
    }
    return new ControllerStartError(`the API server at ${server} refused the first list of InferenceServices${where}: ${err.message}`, err);
  }
  const reason = (err as { cause?: { code?: string } })?.cause?.code ?? (err as { code?: string })?.code ?? (err instanceof Error ? err.message : String(err));
  return new ControllerStartError(`cannot reach the API server at ${server} (${reason}): check --kubeconfig and that the cluster is up`, err);
}

/** An answer worth waiting out: the API server busy or still starting its storage (as just after the CRD is installed). */
function transient(err: unknown): boolean {
  return err instanceof KubeApiError && (err.status === 429 || err.status >= 500);
}

export async function preflight(client: KubeClient, namespace: string | undefined, patienceMs = 30_000): Promise<void> {
  const deadline = Date.now() + patienceMs;
  for (let pause = 250; ; pause = Math.min(pause * 2, 4_000)) {
    try {
      await client.list(INFERENCE_SERVICES, namespace);
      return;
    } catch (err) {
      if (!transient(err) || Date.now() + pause > deadline) throw explainStartFailure(err, client.server, namespace);
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

/**
 * Fails the start when these credentials may not list Nodes, which karb controller reads `toWhat`:
 * a watch that may not would retry quietly, and every pool would look empty.
 */
export async function requireNodeList(client: KubeClient, toWhat: string): Promise<void> {
  try {
    await client.list(NODES);
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 403) {
      throw new ControllerStartError(
        `these credentials may not list Nodes (403), which karb controller reads ${toWhat}: apply the karb-controller ClusterRole of this karb version (karb install | kubectl apply -f -)`,
        err,
      );
    }
    throw err;
  }
}

/** The cluster's Nodes as karb controller watches them (one watch, shared by what reads pools' room). */
export type NodeWatch = ListWatch<Record<string, any> & { apiVersion: string; kind: string; metadata: { name: string } }>;

/** A watch of the Nodes, not started (its readers attach first), once these credentials may list them. */
export async function watchNodes(client: KubeClient, toWhat: string): Promise<NodeWatch> {
  await requireNodeList(client, toWhat);
  return client.informer(NODES) as NodeWatch;
}
