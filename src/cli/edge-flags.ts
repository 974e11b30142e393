/** Flags that `karb up` and `karb gateway` share: the gateway's edge (auth, Redis, TLS, client connections). */
import { parseAuthMode, parseFailureMode, readTlsFiles, type EdgeFlags } from '../gateway/edge/options.ts';
import type { ConnectionLimits } from '../gateway/edge/connection-limits.ts';
import { UsageError } from '../errors.ts';
import { durationFlag, numberFlag } from '../util/flags.ts';

export const EDGE_FLAG_OPTIONS = {
  auth: { type: 'string' },
  redis: { type: 'string' },
  'redis-failure': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'max-connections': { type: 'string' },
  'headers-timeout': { type: 'string' },
  'request-timeout': { type: 'string' },
} as const;

export interface EdgeFlagValues {
  auth?: string | undefined;
  redis?: string | undefined;
  'redis-failure'?: string | undefined;
  'tls-cert'?: string | undefined;
  'tls-key'?: string | undefined;
  'max-connections'?: string | undefined;
  'headers-timeout'?: string | undefined;
  'request-timeout'?: string | undefined;
}

/** The edge flags as options; a bad value is a usage error that says which flag and why. */
export function edgeFlagsFrom(values: EdgeFlagValues): { edge: EdgeFlags; tls: ReturnType<typeof readTlsFiles>; connections: ConnectionLimits } {
  const connections = connectionFlags(values);
  try {
    const auth = parseAuthMode(values.auth);
    const redisFailure = parseFailureMode(values['redis-failure']);
    const edge: EdgeFlags = { ...(auth ? { auth } : {}), ...(values.redis ? { redisUrl: values.redis } : {}), ...(redisFailure ? { redisFailure } : {}) };
    return { edge, tls: readTlsFiles(values['tls-cert'], values['tls-key']), connections };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function connectionFlags(values: EdgeFlagValues): ConnectionLimits {
  const limits: ConnectionLimits = {};
  const max = values['max-connections'];
  if (max !== undefined) limits.maxConnections = numberFlag('--max-connections', max, 0, { whole: true, min: 1, expected: 'a whole number of connections, at least 1' });
  const headers = timeoutFlag('--headers-timeout', values['headers-timeout']);
  if (headers !== undefined) limits.headersTimeoutMs = headers;
  const request = timeoutFlag('--request-timeout', values['request-timeout']);
  if (request !== undefined) limits.requestTimeoutMs = request;
  if (headers !== undefined && request !== undefined && request < headers) {
    throw new UsageError(`--request-timeout (${values['request-timeout']}) must be at least --headers-timeout (${values['headers-timeout']}): the whole request includes its headers`);
  }
  return limits;
}

function timeoutFlag(flag: string, value: string | undefined): number | undefined {
  return durationFlag(flag, value, undefined, { min: 1000, expected: 'a duration of at least 1s, such as 10s or 2m' });
}
