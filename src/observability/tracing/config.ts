/**
 * Tracing's configuration from the standard `OTEL_*` variables, read once at start (pure: the
 * environment is passed in). A bad value never stops a process: it is reported through `warn`,
 * naming the variable, and the documented default is used instead. A warning shows an endpoint
 * by scheme, host and path at most, never its userinfo or query (either may hold a credential).
 *
 * | variable | read as | when bad |
 * | --- | --- | --- |
 * | `OTEL_SDK_DISABLED` | `true` turns tracing off | warn, tracing stays as the others say |
 * | `OTEL_TRACES_EXPORTER` | `otlp` (default) or `none` | warn, `otlp` |
 * | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | the full URL spans are posted to | warn, the next one is tried |
 * | `OTEL_EXPORTER_OTLP_ENDPOINT` | base URL; spans go to `<base>/v1/traces` | warn, tracing off |
 * | `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL` | only `http/json` is sent | warn, `http/json` |
 * | `OTEL_TRACES_SAMPLER` (+ `_ARG`) | the six standard samplers | warn, `parentbased_always_on` (ratio 1) |
 * | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | the resource | warn, the entry is skipped |
 *
 * No endpoint, no tracing: the request path then pays nothing for it (see request-trace.ts).
 */

import { urlForLog } from '../../util/safe-url.ts';

export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

const SAMPLERS: readonly SamplerName[] = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];

export interface TracingConfig {
  /** Where spans are posted (OTLP over HTTP, JSON). */
  readonly url: string;
  readonly sampler: SamplerName;
  /** The ratio of the `traceidratio` samplers, in [0, 1]; 1 for the others. */
  readonly ratio: number;
  /** `service.name` plus `OTEL_RESOURCE_ATTRIBUTES`. */
  readonly resource: Readonly<Record<string, string>>;
}

/** Why tracing is off, for the one log line a process writes at start. */
export type TracingOff = { readonly enabled: false; readonly reason: string };
export type TracingSetting = ({ readonly enabled: true } & TracingConfig) | TracingOff;

export type Env = Readonly<Record<string, string | undefined>>;

/** `defaultServiceName` is the process's own (`karb-gateway`, `karb-serve`); `OTEL_SERVICE_NAME` wins. */
export function readTracingConfig(env: Env, defaultServiceName: string, warn: (message: string) => void): TracingSetting {
  const disabled = value(env, 'OTEL_SDK_DISABLED')?.toLowerCase();
  if (disabled === 'true') return { enabled: false, reason: 'OTEL_SDK_DISABLED is true' };
  if (disabled !== undefined && disabled !== 'false') warn(`OTEL_SDK_DISABLED is "${env.OTEL_SDK_DISABLED}"; it takes true or false, so it is read as false`);

  const exporters = (value(env, 'OTEL_TRACES_EXPORTER') ?? 'otlp').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  if (exporters.includes('none')) return { enabled: false, reason: 'OTEL_TRACES_EXPORTER is none' };
  const unknown = exporters.filter((e) => e !== 'otlp');
  if (unknown.length > 0) warn(`OTEL_TRACES_EXPORTER names ${unknown.join(', ')}; karb exports traces with otlp or none, so it uses otlp`);

  const url = endpointUrl(env, warn);
  if (url === undefined) return { enabled: false, reason: 'no OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)' };

  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
    const protocol = value(env, name);
    if (protocol !== undefined && protocol !== 'http/json') {
      warn(`${name} is "${protocol}"; karb sends traces as http/json, which every OTLP/HTTP receiver accepts`);
      break;
    }
  }

  const { sampler, ratio } = readSampler(env, warn);
  const resource = readResource(env, warn);
  resource['service.name'] = value(env, 'OTEL_SERVICE_NAME') ?? resource['service.name'] ?? defaultServiceName;
  return { enabled: true, url, sampler, ratio, resource };
}

function value(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

function endpointUrl(env: Env, warn: (message: string) => void): string | undefined {
  const traces = value(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  if (traces !== undefined) {
    if (isHttpUrl(traces)) return traces;
    warn(`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ${notHttpUrl(traces)}; it is ignored`);
  }
  const base = value(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  if (base === undefined) return undefined;
  if (!isHttpUrl(base)) {
    warn(`OTEL_EXPORTER_OTLP_ENDPOINT ${notHttpUrl(base)}; traces are not exported`);
    return undefined;
  }
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/**
 * What is wrong with an endpoint that is not an http(s) URL, without repeating it: an endpoint
 * may carry credentials (`user:token@…`), and a value that is no URL cannot be told apart from one.
 */
function notHttpUrl(raw: string): string {
  const shown = urlForLog(raw);
  return `${shown === undefined ? 'is' : `is ${shown},`} not an http:// or https:// URL (give one such as http://collector:4318)`;
}

function readSampler(env: Env, warn: (message: string) => void): { sampler: SamplerName; ratio: number } {
  let sampler: SamplerName = 'parentbased_always_on';
  const given = value(env, 'OTEL_TRACES_SAMPLER')?.toLowerCase();
  if (given !== undefined) {
    if ((SAMPLERS as readonly string[]).includes(given)) sampler = given as SamplerName;
    else warn(`OTEL_TRACES_SAMPLER is "${env.OTEL_TRACES_SAMPLER}"; karb knows ${SAMPLERS.join(', ')}, so it uses parentbased_always_on`);
  }
  if (sampler !== 'traceidratio' && sampler !== 'parentbased_traceidratio') return { sampler, ratio: 1 };
  const arg = value(env, 'OTEL_TRACES_SAMPLER_ARG');
  if (arg === undefined) return { sampler, ratio: 1 };
  const ratio = Number(arg);
  if (Number.isFinite(ratio) && ratio >= 0 && ratio <= 1) return { sampler, ratio };
  warn(`OTEL_TRACES_SAMPLER_ARG is "${arg}"; ${sampler} takes a ratio from 0 to 1, so it samples every trace (1)`);
  return { sampler, ratio: 1 };
}

/** `key=value,key2=value2`, values percent-encoded (the W3C Baggage form the variable uses). */
function readResource(env: Env, warn: (message: string) => void): Record<string, string> {
  const attributes: Record<string, string> = {};
  const raw = value(env, 'OTEL_RESOURCE_ATTRIBUTES');
  if (raw === undefined) return attributes;
  for (const entry of raw.split(',')) {
    if (entry.trim() === '') continue;
    const eq = entry.indexOf('=');
    const key = eq === -1 ? '' : entry.slice(0, eq).trim();
    let decoded: string | undefined;
    try {
      decoded = eq === -1 ? undefined : decodeURIComponent(entry.slice(eq + 1).trim());
    } catch {
      decoded = undefined;
    }
    if (key === '' || decoded === undefined) {
      warn(`OTEL_RESOURCE_ATTRIBUTES has "${entry.trim()}", not key=value with a percent-encoded value; that entry is skipped`);
      continue;
    }
    attributes[key] = decoded;
  }
  return attributes;
}
