/**
 * `karb render`: writes the objects `karb controller` applies as a Kustomize base and overlays,
 * for GitOps (Argo CD, Flux). The planning is pure (`render-plan.ts`); this module reads the
 * inputs and writes the files. Nothing is written unless every service and overlay renders.
 * The output directory holds what one render wrote: files an earlier render wrote there and this
 * one does not are removed (only files that start with karb's header; nothing else is touched).
 */
import { mkdirSync, readFileSync, readdirSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ManifestParseError, parseManifestText } from '../api/load.ts';
import { UsageError } from '../errors.ts';
import { durationFlag, flagError, namespaceFlag, parseFlags } from '../util/flags.ts';
import { DEFAULT_SCRAPE_INTERVAL_MS, RECORDED_WINDOWS, SCRAPES_PER_WINDOW, minSloPeriodMs, promDuration, scaleWindow } from '../observability/slo/burn-windows.ts';
import { readManifests } from './commands.ts';
import { GENERATED_HEADER, planRender, type OverlayInput, type RenderedFile } from './render-plan.ts';
import { RULES_HEADER, RULES_SUFFIX, planPrometheusRules } from './render-prometheus.ts';
import { CliError } from './usage.ts';
import { loadPools } from './pools-file.ts';
import { DEFAULT_CLUSTER_OPTIONS } from '../runtime/kubernetes/options.ts';

export const RENDER_USAGE = `Usage: karb render -f FILE|DIR [-f ...] --out DIR [--overlay NAME=FILE]... [--namespace NS]
       karb render -f FILE|DIR [-f ...] --prometheus DIR [--slo-period 30d] [--scrape-interval 15s]

Writes the Kubernetes objects of each InferenceService — what karb controller applies for a
freshly applied service — as a Kustomize base (DIR/base) and one overlay per --overlay
(DIR/overlays/NAME: JSON merge patches of the objects that differ), for Argo CD or Flux.

  -f, --filename F       manifests: a file, a directory of .yaml/.yml/.json, or - for stdin
  --out DIR              where to write (files an earlier render wrote there are replaced)
  --overlay NAME=FILE    FILE patches every service (spec: {...}), or the ones its documents
                         name (metadata.name, metadata.namespace); repeat for more overlays
  -n, --namespace NS     namespace of services whose manifest names none (default default)
  --pools FILE           the cluster's node pools (kind: Pools), as karb controller --pools reads them
  --prometheus DIR       also (or only) write each service's SLO recording rules and burn-rate
                         alerts as Prometheus rule files, DIR/NAMESPACE.NAME.rules.yaml
  --slo-period D         the SLO period the alert windows are written for (default 30d); a
                         shorter one scales every window, for trying the alerts out: at least
                         6d at 15s scrapes (the shortest window must span 4 scrapes)
  --scrape-interval D    how often your Prometheus scrapes the gateways (default 15s); a
                         shorter one allows a shorter --slo-period (1s: 576m; 2500ms: 1d)
`;

const OVERLAY_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function overlayFlag(raw: string): { name: string; file: string } {
  const eq = raw.indexOf('=');
  const name = eq < 0 ? '' : raw.slice(0, eq);
  const file = eq < 0 ? '' : raw.slice(eq + 1);
  if (!OVERLAY_NAME.test(name) || name.length > 63 || file === '') throw flagError('--overlay', 'NAME=FILE with NAME lowercase letters, digits and "-" (e.g. staging=overlays/staging.yaml)', raw);
  return { name, file };
}

/**
 * `--slo-period`: its shortest window (5m over 30 days, scaled) must span `SCRAPES_PER_WINDOW`
 * scrapes, or its rate is empty; a period too short says the shortest one allowed at this scrape
 * interval, and the scrape interval that would allow this period.
 */
function sloPeriodFlag(raw: string | undefined, scrapeIntervalMs: number): number | undefined {
  const periodMs = durationFlag('--slo-period', raw, undefined, { positive: true });
  if (periodMs === undefined) return undefined;
  const minPeriodMs = minSloPeriodMs(scrapeIntervalMs);
  if (periodMs >= minPeriodMs) return periodMs;
  const shortestMs = scaleWindow(RECORDED_WINDOWS[0]!.ms, periodMs);
  const fastEnough = Math.floor(shortestMs / SCRAPES_PER_WINDOW);
  throw new UsageError(
    `--slo-period ${raw} is too short for scrapes every ${promDuration(scrapeIntervalMs)}: its shortest window (5m over 30 days) would be ${shortestMs} ms, ` +
      `which must span ${SCRAPES_PER_WINDOW} scrapes. Give --slo-period ${promDuration(minPeriodMs)} or longer` +
      (fastEnough >= 1 ? `, or, if your Prometheus scrapes the gateways every ${promDuration(fastEnough)} or more often, say so with --scrape-interval` : '') +
      ' (keep 30d in production)',
  );
}

function readOverlay(name: string, file: string): OverlayInput {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`--overlay ${name}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let documents: unknown[];
  try {
    documents = parseManifestText(text, file);
  } catch (err) {
    if (err instanceof ManifestParseError) throw new CliError(err.message);
    throw err;
  }
  if (documents.length === 0) throw new CliError(`--overlay ${name}: ${file} is empty; write the spec fields to change, e.g. spec: { scaling: { minReplicas: 3 } }`);
  return { name, source: file, documents };
}

export function renderCommand(args: string[], out: NodeJS.WritableStream): number {
  const { values, positionals } = parseFlags({
    args,
    options: {
      filename: { type: 'string', short: 'f', multiple: true },
      out: { type: 'string' },
      overlay: { type: 'string', multiple: true },
      namespace: { type: 'string', short: 'n' },
      pools: { type: 'string' },
      prometheus: { type: 'string' },
      'slo-period': { type: 'string' },
      'scrape-interval': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    out.write(RENDER_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`render takes files with -f, not '${positionals[0]}' (try: karb render -f ${positionals[0]} --out deploy)`);
  if (!values.filename?.length) throw new UsageError('render needs -f FILE, a directory, or - for stdin');
  const outDir = values.out === '' ? undefined : values.out;
  const prometheusDir = values.prometheus;
  if (prometheusDir === '') throw new UsageError('--prometheus needs a directory to write the rule files to');
  if (outDir === undefined && prometheusDir === undefined) throw new UsageError('render needs --out DIR, the directory to write the base and overlays to (or --prometheus DIR for rule files)');
  for (const flag of ['slo-period', 'scrape-interval'] as const) {
    if (values[flag] !== undefined && prometheusDir === undefined) throw new UsageError(`--${flag} shapes the rule files: give --prometheus DIR too`);
  }
  const scrapeIntervalMs = Math.round(durationFlag('--scrape-interval', values['scrape-interval'], DEFAULT_SCRAPE_INTERVAL_MS, { min: 1, minText: '1ms' }));
  const periodMs = sloPeriodFlag(values['slo-period'], scrapeIntervalMs);
  const namespace = namespaceFlag('--namespace', values.namespace, 'default');
  const overlays = (values.overlay ?? []).map(overlayFlag);
  if (outDir === undefined && overlays.length > 0) throw new UsageError('--overlay needs --out DIR, where the overlays are written');
  const names = new Set<string>();
  for (const o of overlays) {
    if (names.has(o.name)) throw new UsageError(`--overlay ${o.name} is given twice; each overlay has one file`);
    names.add(o.name);
  }

  const docs = readManifests(values.filename);
  if (docs.length === 0) throw new CliError(`no InferenceService found in ${values.filename.join(', ')}`);
  // Both planned before either is written: nothing is written unless everything renders.
  const files =
    outDir === undefined
      ? undefined
      : planRender(
          docs,
          overlays.map((o) => readOverlay(o.name, o.file)),
          { namespace, ...(values.pools === undefined ? {} : { cluster: { ...DEFAULT_CLUSTER_OPTIONS, pools: loadPools(values.pools) } }) },
        );
  const ruleFiles = prometheusDir === undefined ? undefined : planPrometheusRules(docs, { namespace, periodMs, scrapeIntervalMs });
  if (outDir !== undefined && files !== undefined) {
    writeTree(outDir, files);
    const services = files.filter((f) => f.path.startsWith('base/') && !f.path.endsWith('/kustomization.yaml')).length;
    out.write(`wrote ${join(outDir, 'base')} (${services} service${services === 1 ? '' : 's'})\n`);
    for (const o of overlays) {
      const patches = files.filter((f) => f.path.startsWith(`overlays/${o.name}/`) && !f.path.endsWith('/kustomization.yaml')).length;
      out.write(`wrote ${join(outDir, 'overlays', o.name)} (${patches} file${patches === 1 ? '' : 's'} besides its kustomization)\n`);
    }
  }
  if (prometheusDir !== undefined && ruleFiles !== undefined) {
    writeRuleFiles(prometheusDir, ruleFiles);
    out.write(`wrote ${prometheusDir} (${ruleFiles.length} rule file${ruleFiles.length === 1 ? '' : 's'}: recording rules and burn-rate alerts of each service's SLO)\n`);
  }
  return 0;
}

/** Writes the rule files into `dir` and removes rule files an earlier render wrote there that this one does not. */
function writeRuleFiles(dir: string, files: readonly RenderedFile[]): void {
  try {
    if (!statSync(dir).isDirectory()) throw new CliError(`--prometheus ${dir} is a file; name a directory`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const wanted = new Set(files.map((f) => f.path));
  for (const name of listDir(dir)) {
    const path = join(dir, name);
    if (name.endsWith(RULES_SUFFIX) && !wanted.has(name) && readFileSync(path, 'utf8').startsWith(`${RULES_HEADER}\n`)) unlinkSync(path);
  }
  mkdirSync(dir, { recursive: true });
  for (const f of files) writeFileSync(join(dir, f.path), f.content);
}

/** Writes the files under `root` and removes karb-written files there that this render no longer has. */
export function writeTree(root: string, files: readonly RenderedFile[]): void {
  try {
    if (!statSync(root).isDirectory()) throw new CliError(`--out ${root} is a file; name a directory`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const wanted = new Set(files.map((f) => join(root, f.path)));
  for (const dir of [join(root, 'base'), ...subdirectories(join(root, 'overlays'))]) {
    for (const name of listDir(dir)) {
      const path = join(dir, name);
      if (name.endsWith('.yaml') && !wanted.has(path) && writtenByKarb(path)) unlinkSync(path);
    }
    if (listDir(dir).length === 0 && dir !== join(root, 'base')) rmdirSync(dir);
  }
  for (const f of files) {
    const path = join(root, f.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, f.content);
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function subdirectories(dir: string): string[] {
  return listDir(dir)
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isDirectory());
}

function writtenByKarb(path: string): boolean {
  try {
    return readFileSync(path, 'utf8').startsWith(`${GENERATED_HEADER}\n`);
  } catch {
    return false;
  }
}
