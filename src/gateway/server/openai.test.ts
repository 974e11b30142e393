import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startGateway, type Gateway } from './gateway.ts';
import { OpenAIBodyError, scanTopLevelModel } from './openai.ts';
import { InMemoryRoutingTable, type Route } from '../discovery/routing-table.ts';
import { revision, startReplica, type FakeReplica } from './test-support.ts';

test('the model is found at the top level of the body, wherever it is', async (t) => {
  const cases: Array<[string, string]> = [
    ['{"model":"tiny"}', 'tiny'],
    ['  {\n "messages": [{"role":"user","content":"say \\"model\\": \\"x\\""}], "model" : "chat-1" }', 'chat-1'],
    ['{"stream":true,"n":1,"temperature":0.5,"stop":null,"meta":{"model":"inner"},"model":"outer"}', 'outer'],
    ['{"model":"caf\\u00e9"}', 'café'],
    ['{"x":[[1,{"a":"]"}]],"model":"after-nesting"}', 'after-nesting'],
  ];
  for (const [body, model] of cases) {
    await t.test(body.slice(0, 40), () => assert.equal(scanTopLevelModel(Buffer.from(body)), model));
  }
});

test('malformed bodies and a missing or non-string model are refused with OpenAI codes', async (t) => {
  const cases: Array<[string, string, string | null]> = [
    ['', 'invalid_json', null],
    ['[1]', 'invalid_json', null],
    ['{"model": "x', 'invalid_json', null],
    ['{"messages": [1, 2}', 'invalid_json', null],
    ['{"messages": []', 'invalid_json', null],
    ['{}', 'missing_required_parameter', 'model'],
    ['{"meta":{"model":"inner"}}', 'missing_required_parameter', 'model'],
    ['{"model": 5}', 'invalid_value', 'model'],
    ['{"model": ""}', 'invalid_value', 'model'],
    // The scope check and the replica's parser must see one model: ambiguity is refused.
    ['{"model":"tiny-lm","max_tokens":4,"model":"other-model"}', 'duplicate_parameter', 'model'],
    ['{"model":"tiny-lm","\\u006dodel":"other-model"}', 'duplicate_parameter', 'model'],
    ['{"model":"tiny-lm","mod\\u0065l":"other-model"}', 'duplicate_parameter', 'model'],
    ['{"model":"tiny-lm"}{"model":"other-model"}', 'invalid_json', null],
    ['{"model":"tiny-lm"} x', 'invalid_json', null],
    ['{"a":[1},"model":"other-model"]}', 'invalid_json', null],
    ['{"a":{"b":1],"model":"other-model"}}', 'invalid_json', null],
  ];
  for (const [body, code, param] of cases) {
    await t.test(JSON.stringify(body), () => {
      assert.throws(
        () => scanTopLevelModel(Buffer.from(body)),
        (e) => e instanceof OpenAIBodyError && e.code === code && e.param === param && e.status === 400,
      );
    });
  }
});

test('whatever model the gateway reads is the model a JSON parser reads, or the body is refused', () => {
  // Bodies built to make the two views differ: duplicates, escaped keys, nesting tricks, trailing data.
  const bodies = [
    '{"model":"a","model":"b"}',
    '{"\\u006dodel":"b","model":"a"}',
    '{"model":"a","x":{"model":"b"}}',
    '{"x":"\\"model\\":\\"b\\"","model":"a"}',
    '{"x":["}",{"model":"b"}],"model":"a"}',
    '{"x":[1},"model":"b"],"model":"a"}',
    '{"model":"a"} {"model":"b"}',
    '{"model":"\\u0062"}',
    '{"modeL":"b","model":"a"}',
    '{ "model" : "a" , "messages" : [ ] }',
  ];
  for (const body of bodies) {
    let gateway: string | undefined;
    try {
      gateway = scanTopLevelModel(Buffer.from(body));
    } catch (e) {
      assert.ok(e instanceof OpenAIBodyError && e.status === 400, `${body}: refused with a 400`);
    }
    if (gateway === undefined) continue;
    const parsed = JSON.parse(body) as { model: unknown };
    assert.equal(gateway, parsed.model, `${body}: the gateway and JSON.parse read the same model`);
  }
});

// --- through a real gateway ------------------------------------------------

let gw: Gateway;
let replica: FakeReplica;
const table = new InMemoryRoutingTable();
/** Resolved by the streaming test once the client holds the first chunk. */
let releaseStream: () => void = () => {};

function openaiRoute(model: string, url: string, format: Route['format'] = 'openai'): Route {
  return { model, namespace: 'ml', service: model, format, revisions: [revision(`${model}-00001`, 100, [url])] };
}

before(async () => {
  replica = await startReplica((req, res) => {
    const body = JSON.parse(req.body.toString()) as { stream?: boolean };
    if (body.stream !== true) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ echoed: req.body.toString(), path: req.url }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: {"n":1}\n\n');
    // The rest waits until the client has seen the first chunk: proof of no buffering.
    new Promise<void>((resolve) => (releaseStream = resolve)).then(() => {
      res.write('data: {"n":2}\n\n');
      res.end('data: [DONE]\n\n');
    });
  });
  table.replace([openaiRoute('chat', replica.url), openaiRoute('scorer', replica.url, 'onnx'), openaiRoute('alpha', replica.url)]);
  gw = await startGateway({ routingTable: table, port: 0 });
});
after(async () => {
  releaseStream();
  await gw.close();
  await replica.close();
});

async function post(path: string, body: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await request(gw.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: r.statusCode, json: (await r.body.json()) as Record<string, unknown> };
}

test('GET /v1/models lists the services whose format is openai', async () => {
  const r = await request(`${gw.url}/v1/models`);
  const body = (await r.body.json()) as { object: string; data: Array<{ id: string; object: string; owned_by: string }> };
  assert.equal(r.statusCode, 200);
  assert.equal(body.object, 'list');
  assert.deepEqual(body.data.map((m) => m.id), ['alpha', 'chat']);
  assert.equal(body.data[0]!.owned_by, 'ml');
});

test('POST /v1/* is routed by the body model and forwarded byte for byte', async () => {
  for (const path of ['/v1/chat/completions', '/v1/completions', '/v1/embeddings']) {
    const body = `{ "input": "x",\n  "model": "chat" }`;
    const r = await post(path, body);
    assert.equal(r.status, 200);
    assert.equal(r.json.echoed, body);
    assert.equal(r.json.path, path);
  }
});

test('a streamed answer passes through chunk by chunk: the first chunk arrives before the replica has finished', async () => {
  const r = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', body: '{"model":"chat","stream":true}' });
  assert.equal(r.statusCode, 200);
  assert.match(String(r.headers['content-type']), /^text\/event-stream/);
  const it = r.body[Symbol.asyncIterator]();
  let received = '';
  while (!received.includes('\n\n')) received += Buffer.from((await it.next()).value as Uint8Array).toString();
  assert.equal(received, 'data: {"n":1}\n\n', 'only the first event exists yet: the replica is still waiting');
  releaseStream();
  for (;;) {
    const next = await it.next();
    if (next.done === true) break;
    received += Buffer.from(next.value as Uint8Array).toString();
  }
  assert.equal(received, 'data: {"n":1}\n\ndata: {"n":2}\n\ndata: [DONE]\n\n');
});

test('errors on /v1 use the OpenAI error shape', async (t) => {
  const cases: Array<{ name: string; path: string; body: string; status: number; code: string; param: string | null }> = [
    { name: 'unknown model', path: '/v1/chat/completions', body: '{"model":"nope"}', status: 404, code: 'model_not_found', param: null },
    { name: 'a service of another format', path: '/v1/completions', body: '{"model":"scorer"}', status: 404, code: 'model_not_found', param: null },
    { name: 'malformed JSON', path: '/v1/chat/completions', body: '{"model":', status: 400, code: 'invalid_json', param: null },
    { name: 'no model', path: '/v1/embeddings', body: '{"input":"x"}', status: 400, code: 'missing_required_parameter', param: 'model' },
    { name: 'unknown /v1 path', path: '/v1/images/generations', body: '{"model":"chat"}', status: 404, code: 'path_not_found', param: null },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      const r = await post(c.path, c.body);
      assert.equal(r.status, c.status);
      const error = r.json.error as { message: string; type: string; param: string | null; code: string };
      assert.equal(error.type, 'invalid_request_error');
      assert.equal(error.param, c.param);
      assert.equal(error.code, c.code);
      assert.ok(error.message.length > 10);
    });
  }
  // OIP paths keep their own shape.
  const oip = await request(`${gw.url}/v2/models/nope/infer`, { method: 'POST', body: '{}' });
  assert.equal(typeof ((await oip.body.json()) as { error: unknown }).error, 'string');
});
