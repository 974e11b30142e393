/**
 * API keys on a cluster: each key's record (hash only) is a Secret `karb-key-<id>` of type
 * `karb.dev/api-key` in karb's system namespace, which gateways read by name
 * (src/gateway/discovery/kubernetes-keys.ts). `karb keys … --kubernetes` manages them with the
 * caller's own credentials; the key itself exists only in what `create` returns.
 */
import { keyRecordFromSecretData, keySecretData, keySecretName, KEY_SECRET_TYPE, type KeyRecord, type KeySummary } from '../../api/api-key.ts';
import { NotFoundError } from '../../errors.ts';
import { generateKey } from '../../gateway/edge/keys.ts';
import type { KubeClient, ObjectLike } from '../../runtime/kubernetes/api-client.ts';
import { MANAGED_BY } from '../../runtime/kubernetes/labels.ts';
import { SECRETS } from '../../runtime/kubernetes/resources.ts';
import type { Clock } from '../../util/clock.ts';
import { summary, type CreateKeyInput } from '../key-store.ts';

/** Every key Secret carries it, so `list` selects them. */
const KEY_LABEL = 'karb.dev/api-key';

type SecretObject = ObjectLike & { type?: string; data?: Record<string, string>; metadata: { name: string; resourceVersion?: string } };

export class ClusterKeys {
  readonly #client: KubeClient;
  readonly #namespace: string;
  readonly #clock: Clock;

  constructor(client: KubeClient, systemNamespace: string, clock: Clock) {
    this.#client = client;
    this.#namespace = systemNamespace;
    this.#clock = clock;
  }

  async create(input: CreateKeyInput): Promise<{ key: string; record: KeySummary }> {
    const { id, key, hash } = generateKey();
    const now = new Date(this.#clock.now());
    const record: KeyRecord = {
      id,
      name: input.name ?? '',
      namespace: input.namespace,
      services: input.services ?? null,
      rps: input.rps ?? null,
      burst: input.burst ?? null,
      expiresAt: input.lifetimeMs ? new Date(now.getTime() + input.lifetimeMs).toISOString() : null,
      createdAt: now.toISOString(),
      lastUsedAt: null,
      revokedAt: null,
      hash,
    };
    await this.#client.create(this.#secret(record));
    return { key, record: summary(record) };
  }

  async list(): Promise<KeySummary[]> {
    const secrets = await this.#client.list<SecretObject>(SECRETS, this.#namespace, KEY_LABEL);
    return secrets.items
      .filter((s) => s.type === KEY_SECRET_TYPE)
      .flatMap((s) => {
        const record = keyRecordFromSecretData(s.data);
        return record ? [summary(record)] : [];
      })
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Marks the key revoked (kept, so `list` shows it); gateways refuse it once their cached record expires. */
  async revoke(id: string): Promise<KeySummary> {
    const secret = await this.#client.get<SecretObject>(SECRETS, this.#namespace, keySecretName(id));
    const record = secret?.type === KEY_SECRET_TYPE ? keyRecordFromSecretData(secret.data) : undefined;
    if (secret === undefined || record === undefined) throw new NotFoundError(`no API key ${id} in namespace ${this.#namespace}; karb keys list --kubernetes shows them`, 'KEY_NOT_FOUND');
    if (record.revokedAt !== null) return summary(record);
    const revoked = { ...record, revokedAt: new Date(this.#clock.now()).toISOString() };
    // A replace at the version read: a concurrent change fails with a conflict rather than being lost.
    await this.#client.update({ ...this.#secret(revoked), metadata: { ...this.#secret(revoked).metadata, resourceVersion: secret.metadata.resourceVersion } });
    return summary(revoked);
  }

  #secret(record: KeyRecord): SecretObject {
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      type: KEY_SECRET_TYPE,
      metadata: { name: keySecretName(record.id), namespace: this.#namespace, labels: { ...MANAGED_BY, [KEY_LABEL]: 'true' } },
      data: keySecretData(record),
    };
  }
}
