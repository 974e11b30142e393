/** Flags that `karb up` and `karb gateway` share: the gateway's edge (auth, Redis, TLS) and ports. */
import { parseAuthMode, parseFailureMode, readTlsFiles, type EdgeFlags } from '../edge/options.ts';
import { UsageError } from './usage.ts';

export const EDGE_FLAG_OPTIONS = {
  auth: { type: 'string' },
  redis: { type: 'string' },
  'redis-failure': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
} as const;

export interface EdgeFlagValues {
  auth?: string | undefined;
  redis?: string | undefined;
  'redis-failure'?: string | undefined;
  'tls-cert'?: string | undefined;
  'tls-key'?: string | undefined;
}

/** The edge flags as options; a bad value is a usage error that says which flag and why. */
export function edgeFlagsFrom(values: EdgeFlagValues): { edge: EdgeFlags; tls: ReturnType<typeof readTlsFiles> } {
  try {
    const auth = parseAuthMode(values.auth);
    const redisFailure = parseFailureMode(values['redis-failure']);
    const edge: EdgeFlags = { ...(auth ? { auth } : {}), ...(values.redis ? { redisUrl: values.redis } : {}), ...(redisFailure ? { redisFailure } : {}) };
    return { edge, tls: readTlsFiles(values['tls-cert'], values['tls-key']) };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function portFlag(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${flag} must be a port number from 0 to 65535 (got ${value})`);
  return n;
}
