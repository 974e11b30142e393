/** Edge options from the flags `karb up` and `karb gateway` share (--auth, --redis, --redis-failure, --tls-*). */
import { readFileSync } from 'node:fs';
import type { Log } from '../../util/log.ts';
import type { EdgeOptions } from './edge.ts';
import type { KeyResolver } from './key-resolver.ts';
import { RedisRateLimiter, type RedisFailureMode } from './redis-limiter.ts';

export type AuthMode = 'required' | 'off';

export interface EdgeFlags {
  auth?: AuthMode;
  redisUrl?: string;
  redisFailure?: RedisFailureMode;
}

export function edgeOptions(flags: EdgeFlags, keys: KeyResolver, log?: Log): EdgeOptions {
  const options: EdgeOptions = {};
  if ((flags.auth ?? 'required') === 'required') options.keys = keys;
  const url = flags.redisUrl;
  if (url !== undefined) {
    options.rateLimiter = (metrics) =>
      new RedisRateLimiter({
        url,
        failure: flags.redisFailure ?? 'open',
        onBackendError: () => metrics.backendError(),
        ...(log ? { log } : {}),
      });
  }
  return options;
}

/** Reads a PEM certificate and key pair, saying which file is missing. */
export function readTlsFiles(certFile: string | undefined, keyFile: string | undefined): { cert: Buffer; key: Buffer } | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) throw new Error('TLS needs both --tls-cert FILE and --tls-key FILE');
  const read = (file: string, flag: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`${flag} ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
  };
  return { cert: read(certFile, '--tls-cert'), key: read(keyFile, '--tls-key') };
}

export function parseAuthMode(value: string | undefined): AuthMode | undefined {
  if (value === undefined) return undefined;
  if (value === 'required' || value === 'off') return value;
  throw new Error(`--auth must be required or off (got ${value})`);
}

export function parseFailureMode(value: string | undefined): RedisFailureMode | undefined {
  if (value === undefined) return undefined;
  if (value === 'open' || value === 'closed') return value;
  throw new Error(`--redis-failure must be open or closed (got ${value})`);
}
