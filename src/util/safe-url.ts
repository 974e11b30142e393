/**
 * URLs from configuration may carry credentials (`https://user:token@collector/…`, `?api_key=…`).
 * What of such a URL may be written to a log or handed to another process.
 */

/** `scheme://host[:port]/path` only, never userinfo, query or fragment: for logs and messages. Undefined when `raw` is no URL with a host. */
export function urlForLog(raw: string): string | undefined {
  const url = parse(raw);
  if (url === undefined || url.host === '') return undefined;
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/**
 * An http(s) URL with any `user:password@` removed, the rest as given; undefined when `raw` is
 * not an http:// or https:// URL (what it holds cannot be told apart from a credential then).
 */
export function httpUrlWithoutUserinfo(raw: string): string | undefined {
  const url = parse(raw.trim());
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) return undefined;
  if (url.username === '' && url.password === '') return raw;
  url.username = '';
  url.password = '';
  return url.href;
}

function parse(raw: string): URL | undefined {
  try {
    return new URL(raw);
  } catch {
    return undefined;
  }
}
