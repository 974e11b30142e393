/**
 * The API key as the platform stores and passes it around: the control
 * plane's key store writes it, a standalone gateway fetches it, the edge
 * verifies presented keys against it. Never the key or its secret.
 */

/** What is stored about a key: never the key or its secret. */
export interface KeyRecord {
  id: string;
  name: string;
  namespace: string;
  /** Service allowlist; null: every service of the namespace. */
  services: string[] | null;
  /** Requests per second for this key; null: no per-key limit. */
  rps: number | null;
  /** Bucket size; null: twice `rps`. */
  burst: number | null;
  /** ISO time; null: never expires. */
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  /** Hex SHA-256 of the secret. */
  hash: string;
}

/** A key record as listed to an operator: no hash. */
export type KeySummary = Omit<KeyRecord, 'hash'>;

/**
 * On a cluster a key record is a Secret in karb's system namespace (`karb keys create
 * --kubernetes` writes it; gateways read it by name): the record as JSON under `record`, the
 * hash only, never the key.
 */
export const KEY_SECRET_TYPE = 'karb.dev/api-key';
export const KEY_SECRET_FIELD = 'record';

export function keySecretName(id: string): string {
  return `karb-key-${id}`;
}

/** The record a key Secret's `data` holds; undefined when it holds none (not a key Secret, or mangled). */
export function keyRecordFromSecretData(data: Record<string, string> | undefined): KeyRecord | undefined {
  const encoded = data?.[KEY_SECRET_FIELD];
  if (encoded === undefined) return undefined;
  let record: Partial<KeyRecord>;
  try {
    record = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')) as Partial<KeyRecord>;
  } catch {
    return undefined;
  }
  const text = (v: unknown) => typeof v === 'string';
  const orNull = (v: unknown, ok: (v: unknown) => boolean) => v === null || ok(v);
  const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  const ok =
    text(record.id) && text(record.name) && text(record.namespace) && text(record.createdAt) && text(record.hash) && /^[0-9a-f]{64}$/.test(record.hash!) &&
    orNull(record.services, (v) => Array.isArray(v) && v.every(text)) &&
    orNull(record.rps, num) && orNull(record.burst, num) && orNull(record.expiresAt, text) && orNull(record.lastUsedAt, text) && orNull(record.revokedAt, text);
  return ok ? (record as KeyRecord) : undefined;
}

export function keySecretData(record: KeyRecord): Record<string, string> {
  return { [KEY_SECRET_FIELD]: Buffer.from(JSON.stringify(record)).toString('base64') };
}
