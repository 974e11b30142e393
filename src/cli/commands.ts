/** `karb apply | get | delete`: thin clients of the control plane API. */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifestText, readyOf, replicasOf, rolloutOf, trafficOf, validateInferenceService, SpecValidationError } from '../api/index.ts';
import { ManifestParseError } from '../api/load.ts';
import type { ReplicaStatus } from '../runtime/types.ts';
import type { EventRecord, RevisionRecord, StoredService } from '../control/store.ts';
import { ControlPlaneClient } from './client.ts';
import { age, outputFormat, renderStructured, renderTable } from './output.ts';
import { UsageError } from '../errors.ts';
import { parseFlags } from '../util/flags.ts';
import { CliError } from './usage.ts';

const OPTIONS = {
  server: { type: 'string' },
  token: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  output: { type: 'string', short: 'o' },
  filename: { type: 'string', short: 'f', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

function parse(args: string[]) {
  return parseFlags({ args, options: OPTIONS, allowPositionals: true, strict: true });
}

interface ManifestDoc {
  source: string;
  raw: Record<string, unknown>;
}

/** Files named by -f: a file, every .yaml/.yml/.json in a directory, or - for stdin. */
export function readManifests(paths: string[]): ManifestDoc[] {
  const docs: ManifestDoc[] = [];
  for (const path of paths) {
    let files: string[];
    if (path === '-') files = ['-'];
    else {
      let stat;
      try {
        stat = statSync(path);
      } catch {
        throw new CliError(`${path}: no such file or directory`);
      }
      files = stat.isDirectory()
        ? readdirSync(path).filter((f) => /\.(ya?ml|json)$/.test(f)).sort().map((f) => join(path, f))
        : [path];
      if (files.length === 0) throw new CliError(`${path}: no .yaml, .yml or .json files in this directory`);
    }
    for (const file of files) {
      const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
      const source = file === '-' ? 'stdin' : file;
      let raws: unknown[];
      try {
        raws = parseManifestText(text, source);
      } catch (err) {
        if (err instanceof ManifestParseError) throw new CliError(err.message);
        throw err;
      }
      for (const raw of raws) docs.push({ source, raw: raw as Record<string, unknown> });
    }
  }
  return docs;
}

export async function applyCommand(args: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parse(args);
  if (positionals.length > 0) throw new UsageError(`apply takes files with -f, not '${positionals[0]}' (try: karb apply -f ${positionals[0]})`);
  if (values.help) {
    out.write('Usage: karb apply -f FILE|DIR|- [-f ...] [-n NAMESPACE] [--server URL]\n');
    return 0;
  }
  if (!values.filename?.length) throw new UsageError('apply needs -f FILE, a directory, or - for stdin');
  const docs = readManifests(values.filename);
  if (docs.length === 0) throw new CliError(`no InferenceService found in ${values.filename.join(', ')}`);
  // Validate everything locally first, so that a typo in one document applies nothing.
  const problems: string[] = [];
  docs.forEach((d, i) => {
    const result = validateInferenceService(d.raw);
    if (!result.ok) problems.push(new SpecValidationError(result.errors, `${d.source} (document ${i + 1})`).message);
  });
  if (problems.length > 0) throw new CliError(problems.join('\n'));

  const client = new ControlPlaneClient(values.server, values.token);
  let failed = 0;
  for (const { raw, source } of docs) {
    const metadata = raw.metadata as { name: string; namespace?: string };
    const ns = metadata.namespace ?? values.namespace;
    const query = ns ? `?namespace=${encodeURIComponent(ns)}` : '';
    try {
      const { body } = await client.request<{ outcome: string; revision?: string; warnings?: string[] }>('PUT', `/api/v1/services/${encodeURIComponent(metadata.name)}${query}`, JSON.stringify(raw));
      out.write(`inferenceservice/${metadata.name} ${body.outcome}${body.revision ? ` (revision ${body.revision})` : ''}\n`);
      for (const warning of body.warnings ?? []) process.stderr.write(`warning: inferenceservice/${metadata.name}: ${warning}\n`);
    } catch (err) {
      if (!(err instanceof CliError) || err.message.startsWith('no karb control plane')) throw err;
      failed++;
      process.stderr.write(`karb: ${source}: ${metadata.name}: ${err.message}\n`);
    }
  }
  return failed > 0 ? 1 : 0;
}

export async function getCommand(args: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parse(args);
  const [what, name] = positionals;
  if (values.help || !what) {
    out.write('Usage: karb get services|revisions|replicas|events [NAME] [-o table|yaml|json] [-n NAMESPACE]\n');
    return what ? 0 : 2;
  }
  const format = outputFormat(values.output);
  const client = new ControlPlaneClient(values.server, values.token);
  const ns = values.namespace ? `namespace=${encodeURIComponent(values.namespace)}` : '';
  const q = (extra = '') => {
    const parts = [ns, extra].filter(Boolean);
    return parts.length ? `?${parts.join('&')}` : '';
  };

  switch (what) {
    case 'services':
    case 'service':
    case 'svc':
    case 'inferenceservices': {
      const items = name
        ? [await client.get<StoredService>(`/api/v1/services/${encodeURIComponent(name)}${q()}`)]
        : (await client.get<{ items: StoredService[] }>(`/api/v1/services${q()}`)).items;
      if (format !== 'table') return write(out, name ? items[0] : { apiVersion: 'v1', kind: 'List', items }, format);
      out.write(
        renderTable(
          ['NAME', 'NAMESPACE', 'READY', 'REPLICAS', 'TRAFFIC', 'ROLLOUT', 'POLICY', 'SLO-P95', 'AGE'],
          items.map((s) => [
            s.metadata.name,
            s.metadata.namespace,
            readyOf(s.status),
            replicasOf(s.status),
            trafficOf(s.status),
            rolloutOf(s.status),
            s.spec.scaling.policy,
            `${s.spec.slo.latencyP95Ms}ms`,
            age(s.metadata.creationTimestamp),
          ]),
        ),
      );
      return 0;
    }
    case 'revisions':
    case 'revision':
    case 'rev': {
      if (!name) throw new UsageError('get revisions needs the service name: karb get revisions NAME');
      const { items } = await client.get<{ items: Array<RevisionRecord & { ready: number; traffic: number }> }>(`/api/v1/services/${encodeURIComponent(name)}/revisions${q()}`);
      if (format !== 'table') return write(out, { items }, format);
      out.write(
        renderTable(
          ['NAME', 'READY', 'TRAFFIC', 'MODEL', 'HASH', 'AGE'],
          items.map((r) => [r.name, String(r.ready), `${r.traffic}%`, r.template.model.uri ?? r.template.model.command?.join(' ') ?? '-', r.hash, age(r.createdAt)]),
        ),
      );
      return 0;
    }
    case 'replicas':
    case 'replica': {
      const { items } = await client.get<{ items: ReplicaStatus[] }>(`/api/v1/replicas${q(name ? `service=${encodeURIComponent(name)}` : '')}`);
      if (format !== 'table') return write(out, { items }, format);
      out.write(
        renderTable(
          ['NAME', 'REVISION', 'PHASE', 'URL', 'PID', 'RESTARTS', 'AGE'],
          items.map((r) => [r.name, r.revision, r.phase, r.url ?? '-', String(r.pid ?? '-'), String(r.restarts), age(new Date(r.startedAt).toISOString())]),
        ),
      );
      return 0;
    }
    case 'events':
    case 'event': {
      const { items } = await client.get<{ items: EventRecord[] }>(`/api/v1/events`);
      const shown = items.filter((e) => (!values.namespace || e.namespace === values.namespace) && (!name || e.service === name));
      if (format !== 'table') return write(out, { items: shown }, format);
      out.write(renderTable(['AGE', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'], shown.map((e) => [age(e.time), e.type, e.reason, e.replica ?? e.revision ?? e.service, e.message])));
      return 0;
    }
    default:
      throw new UsageError(`cannot get '${what}': choose services, revisions, replicas or events`);
  }
}

export async function deleteCommand(args: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parse(args);
  if (values.help) {
    out.write('Usage: karb delete NAME [NAME...] | -f FILE [-n NAMESPACE]\n');
    return 0;
  }
  const targets: Array<{ name: string; namespace?: string }> = positionals.filter((p) => !['service', 'services', 'svc'].includes(p)).map((name) => ({ name, ...(values.namespace ? { namespace: values.namespace } : {}) }));
  if (values.filename?.length) {
    for (const d of readManifests(values.filename)) {
      const m = d.raw.metadata as { name?: unknown; namespace?: unknown } | undefined;
      if (typeof m?.name !== 'string') throw new CliError(`${d.source}: a document has no metadata.name`);
      targets.push({ name: m.name, ...(typeof m.namespace === 'string' ? { namespace: m.namespace } : {}) });
    }
  }
  if (targets.length === 0) throw new UsageError('delete needs a service name or -f FILE');
  const client = new ControlPlaneClient(values.server, values.token);
  let failed = 0;
  for (const t of targets) {
    try {
      await client.request('DELETE', `/api/v1/services/${encodeURIComponent(t.name)}${t.namespace ? `?namespace=${encodeURIComponent(t.namespace)}` : ''}`);
      out.write(`inferenceservice/${t.name} deleted\n`);
    } catch (err) {
      if (!(err instanceof CliError) || err.message.startsWith('no karb control plane')) throw err;
      failed++;
      process.stderr.write(`karb: ${err.message}\n`);
    }
  }
  return failed > 0 ? 1 : 0;
}

function write(out: NodeJS.WritableStream, value: unknown, format: 'yaml' | 'json'): number {
  out.write(renderStructured(value, format));
  return 0;
}

