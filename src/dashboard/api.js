// The control plane's API as the page uses it: the admin token (asked once,
// kept in sessionStorage, sent as Authorization: Bearer) and server-sent events
// read with fetch, since EventSource cannot send that header.

const TOKEN_KEY = 'karb.adminToken';

export class AuthRequired extends Error {
  constructor(message) {
    super(message);
    this.name = 'AuthRequired';
  }
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function headers(extra = {}) {
  const t = token();
  return t ? { ...extra, authorization: `Bearer ${t}` } : extra;
}

async function failure(res) {
  let code = `HTTP_${res.status}`;
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = await res.json();
    if (body?.error?.message) message = body.error.message;
    if (body?.error?.code) code = body.error.code;
  } catch {
    // Not JSON: the status says enough.
  }
  if (res.status === 401) return new AuthRequired(message);
  return new ApiError(res.status, code, message);
}

export async function getJson(path) {
  const res = await fetch(path, { headers: headers({ accept: 'application/json' }) });
  if (!res.ok) throw await failure(res);
  return res.json();
}

export async function postJson(path) {
  const res = await fetch(path, { method: 'POST', headers: headers({ accept: 'application/json' }) });
  if (!res.ok) throw await failure(res);
  return res.json();
}

/**
 * Reads the SSE stream at `path` until `signal` aborts, calling onEvent({ event, id, data })
 * for each message. Rejects with AuthRequired on 401; resolves when the server ends it.
 */
export async function readStream(path, onEvent, signal) {
  const res = await fetch(path, { headers: headers({ accept: 'text/event-stream' }), signal });
  if (!res.ok) throw await failure(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const message = { event: 'message', id: undefined, data: '' };
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') message.event = text;
        else if (field === 'id') message.id = text;
        else if (field === 'data') message.data += (message.data ? '\n' : '') + text;
      }
      if (message.data) onEvent(message);
    }
  }
}
