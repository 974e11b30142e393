/**
 * A gateway on a cluster looks up an API key's record by the key's id: the Secret
 * `karb-key-<id>` in karb's system namespace (its format is in src/api/api-key.ts). Looked up
 * on demand and cached by RemoteKeyResolver, as with karb up; a missing Secret is an unknown key.
 */
import { keyRecordFromSecretData, keySecretName, KEY_SECRET_TYPE, type KeyRecord } from '../../api/api-key.ts';
import type { KubeClient, ObjectLike } from '../../runtime/kubernetes/api-client.ts';
import { SECRETS } from '../../runtime/kubernetes/resources.ts';

export async function readKeySecret(client: KubeClient, systemNamespace: string, id: string): Promise<KeyRecord | undefined> {
  const secret = await client.get<ObjectLike & { type?: string; data?: Record<string, string> }>(SECRETS, systemNamespace, keySecretName(id));
  if (secret === undefined || secret.type !== KEY_SECRET_TYPE) return undefined;
  const record = keyRecordFromSecretData(secret.data);
  // A record under another id's name is no record of this key.
  return record?.id === id ? record : undefined;
}
