/**
 * The hostile-input corpus (test/hostile/) against a real karb up: the control
 * API, the gateway, the model servers through the gateway and directly. Every
 * case is answered with the status and message it expects (never a 500), the
 * process stays up, nothing it tried to create exists, and a good request is
 * answered after each corpus.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'undici';
import { fraudRequest, ROOT, startKarbUp, waitFor, workDir, type KarbUp } from './helpers.ts';
import type { HostileCase } from './hostile/hostile-case.ts';
import { controlCorpus } from './hostile/control-corpus.ts';
import { gatewayCorpus } from './hostile/gateway-corpus.ts';
import { openaiCorpus } from './hostile/openai-corpus.ts';
import { servingCorpus } from './hostile/serving-corpus.ts';

const ROW = [42.5, 14, 0.1, 3.2, 1, 0, 1, 1200];

/** Fills `{name}` placeholders in the path, the headers and a text body. */
function fill(c: HostileCase, values: Record<string, string>): HostileCase {
  const sub = (text: string) => text.replace(/\{(\w+)\}/g, (whole, name: string) => values[name] ?? whole);
  return {
    ...c,
    path: sub(c.path),
    ...(c.headers ? { headers: Object.fromEntries(Object.entries(c.headers).map(([k, v]) => [k, sub(v)])) } : {}),
    body: typeof c.body === 'string' ? sub(c.body) : c.body,
  };
}

async function send(base: string, c: HostileCase): Promise<{ status: number; body: string }> {
  const r = await request(`${base}${c.path}`, {
    method: c.method as 'GET',
    ...(c.headers ? { headers: c.headers } : {}),
    ...(c.method === 'GET' || c.method === 'HEAD' ? {} : { body: c.body }),
  });
  return { status: r.statusCode, body: await r.body.text() };
}

async function runCorpus(base: string, corpus: HostileCase[], values: Record<string, string>): Promise<void> {
  for (const raw of corpus) {
    const c = fill(raw, values);
    const answer = await send(base, c);
    assert.equal(answer.status, c.expectStatus, `${c.name}: ${answer.body.slice(0, 300)}`);
    if (c.expectBodyIncludes !== undefined) assert.ok(answer.body.includes(c.expectBodyIncludes), `${c.name}: expected '${c.expectBodyIncludes}' in ${answer.body.slice(0, 300)}`);
  }
}

describe('hostile input against a real karb up', { timeout: 180_000 }, () => {
  const work = workDir('karb-hostile-');
  let up: KarbUp;
  const keys: Record<string, string> = {};

  const createKey = async (body: object) => {
    const r = await fetch(`${up.controlUrl}/api/v1/keys`, { method: 'POST', headers: up.admin, body: JSON.stringify(body) });
    assert.equal(r.status, 201, await r.clone().text());
    return ((await r.json()) as { key: string }).key;
  };
  const goodInfer = async () =>
    (await fetch(`${up.gatewayUrl}/v2/models/fraud-detector/infer`, { method: 'POST', headers: { 'content-type': 'application/json', ...up.auth }, body: fraudRequest([ROW]) })).status;

  const serverErrorLines = async () =>
    (await (await fetch(`${up.controlUrl}/metrics`)).text()).split('\n').filter((l) => /^karb_gateway_requests_total\{[^}]*code="5\d\d"\}/.test(l));

  before(async () => {
    up = await startKarbUp(work.dir, {}, ['-f', join(ROOT, 'examples', 'fraud-detector.yaml'), '-f', join(ROOT, 'examples', 'tiny-lm.yaml')]);
    for (const model of ['fraud-detector', 'tiny-lm']) {
      await waitFor(`${model} ready`, async () => (await fetch(`${up.gatewayUrl}/v2/models/${model}/ready`, { headers: up.auth })).status === 200, 60_000);
    }
    keys.key = up.apiKey;
    keys.lmKey = await createKey({ namespace: 'default', services: ['tiny-lm'], name: 'lm-only' });
    keys.otherKey = await createKey({ namespace: 'other', name: 'other' });
  });

  after(async () => {
    await up?.stop();
    work.cleanup();
  });

  it('the control API answers every case precisely and creates nothing', async () => {
    const keysBefore = ((await (await fetch(`${up.controlUrl}/api/v1/keys`, { headers: up.admin })).json()) as { items: unknown[] }).items.length;
    await runCorpus(up.controlUrl, controlCorpus.map((c) => ({ ...c, headers: { ...c.headers, ...up.admin } })), {});
    const services = ((await (await fetch(`${up.controlUrl}/api/v1/services`, { headers: up.admin })).json()) as { items: Array<{ metadata: { name: string } }> }).items;
    assert.deepEqual(services.map((s) => s.metadata.name).sort(), ['fraud-detector', 'tiny-lm']);
    const keysAfter = ((await (await fetch(`${up.controlUrl}/api/v1/keys`, { headers: up.admin })).json()) as { items: unknown[] }).items.length;
    assert.equal(keysAfter, keysBefore, 'no key was made');
    assert.equal(await goodInfer(), 200);
  });

  it('the gateway refuses every case before any model could act on it', async () => {
    await runCorpus(up.gatewayUrl, gatewayCorpus, keys);
    assert.equal(await goodInfer(), 200);
  });

  it('the model servers refuse every case, behind the gateway and directly', async () => {
    // The polls for readiness before the corpus were 503s; count only what the corpus adds.
    const before = await serverErrorLines();
    await runCorpus(up.gatewayUrl, servingCorpus.map((c) => ({ ...c, headers: { ...c.headers, ...up.auth } })), { model: 'fraud-detector' });
    await runCorpus(up.gatewayUrl, openaiCorpus.map((c) => ({ ...c, headers: { ...c.headers, ...up.auth } })), { model: 'tiny-lm' });
    const replicas = ((await (await fetch(`${up.controlUrl}/api/v1/replicas`, { headers: up.admin })).json()) as { items: Array<{ service: string; url?: string }> }).items;
    const direct = (service: string) => replicas.find((r) => r.service === service && r.url !== undefined)!.url!;
    await runCorpus(direct('fraud-detector'), servingCorpus, { model: 'fraud-detector' });
    await runCorpus(direct('tiny-lm'), openaiCorpus, { model: 'tiny-lm' });
    assert.equal(await goodInfer(), 200);
    // Client mistakes are counted as what they are: no request of the corpora was a server error.
    assert.deepEqual(await serverErrorLines(), before, 'no request of the corpora was counted as a server error');
  });
});
