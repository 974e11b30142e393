/**
 * The one place a runtime is chosen: the platform names a kind and its
 * settings, and gets a `Runtime` that is ready to use (the local runtime has
 * adopted or cleaned up the replicas an earlier karb left). Nothing above the
 * runtime layer constructs a runtime itself, so a second kind (Kubernetes)
 * joins here without the control plane changing.
 */
import { InvalidRequestError } from '../errors.ts';
import { LocalRuntime, type LocalRuntimeOptions } from './local/local-runtime.ts';
import type { Runtime } from './types.ts';

/** Which runtime runs replicas, with that runtime's settings. */
export type RuntimeConfig = { kind: 'local' } & LocalRuntimeOptions;

export async function createRuntime(config: RuntimeConfig): Promise<Runtime> {
  switch (config.kind) {
    case 'local': {
      const { kind: _kind, ...options } = config;
      const runtime = new LocalRuntime(options);
      try {
        await runtime.recover();
      } catch (err) {
        await runtime.close().catch(() => {});
        throw err;
      }
      return runtime;
    }
    default: {
      const kind: never = config.kind;
      throw new InvalidRequestError(`unknown runtime kind '${String(kind)}'; karb runs replicas with the 'local' runtime`, { code: 'RUNTIME_KIND_UNKNOWN' });
    }
  }
}
