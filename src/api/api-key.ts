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
