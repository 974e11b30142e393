/**
 * Where a pod finds its model, from `spec.model.uri`: a PersistentVolumeClaim mounted read-only
 * (`pvc://claim/path`), an object fetched by an init container into a scratch volume
 * (`s3://bucket/key`), or an OCI artifact mounted as an image volume (`oci://registry/repo:tag`,
 * whose `model.onnx` is served).
 * `file://` names a file on the machine `karb up` runs on and has no meaning in a cluster.
 */
import { InvalidRequestError } from '../../errors.ts';
import type { RestrictedContainerSecurity } from './security.ts';

export const MODEL_MOUNT_PATH = '/mnt/models';
const MODEL_VOLUME = 'model';

export interface ModelSource {
  /** The model file's path inside the serving container. */
  path: string;
  volumes: Array<Record<string, unknown>>;
  volumeMounts: Array<Record<string, unknown>>;
  initContainers: Array<Record<string, unknown>>;
}

export interface ModelSourceOptions {
  /** Image of the init container that copies `s3://` objects (it runs `aws s3 cp`). */
  fetcherImage: string;
  /** Secret with the fetcher's credentials (AWS_ACCESS_KEY_ID, …); optional, so a pod with a role needs none. */
  credentialsSecret: string;
  securityContext: RestrictedContainerSecurity;
}

/** Throws an InvalidRequestError (code MODEL_URI_UNSUPPORTED or MODEL_URI_INVALID) saying how to fix the URI. */
export function modelSource(uri: string, options: ModelSourceOptions): ModelSource {
  const scheme = uri.slice(0, uri.indexOf('://'));
  const rest = uri.slice(scheme.length + 3);
  switch (scheme) {
    case 'pvc': {
      const slash = rest.indexOf('/');
      const claim = slash < 0 ? '' : rest.slice(0, slash);
      const file = slash < 0 ? '' : rest.slice(slash + 1);
      if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(claim) || file === '' || file.split('/').includes('..')) {
        throw invalid(uri, 'a pvc:// URI names a claim and a file in it, e.g. pvc://models/fraud-v1.onnx');
      }
      return {
        path: `${MODEL_MOUNT_PATH}/${file}`,
        volumes: [{ name: MODEL_VOLUME, persistentVolumeClaim: { claimName: claim, readOnly: true } }],
        volumeMounts: [{ name: MODEL_VOLUME, mountPath: MODEL_MOUNT_PATH, readOnly: true }],
        initContainers: [],
      };
    }
    case 's3': {
      const name = rest.slice(rest.lastIndexOf('/') + 1);
      if (!rest.includes('/') || name === '') throw invalid(uri, 'an s3:// URI names a bucket and an object key, e.g. s3://models/fraud-v1.onnx');
      return {
        path: `${MODEL_MOUNT_PATH}/${name}`,
        volumes: [{ name: MODEL_VOLUME, emptyDir: {} }],
        volumeMounts: [{ name: MODEL_VOLUME, mountPath: MODEL_MOUNT_PATH, readOnly: true }],
        initContainers: [
          {
            name: 'model-fetch',
            image: options.fetcherImage,
            command: ['aws', 's3', 'cp', uri, `${MODEL_MOUNT_PATH}/${name}`],
            envFrom: [{ secretRef: { name: options.credentialsSecret, optional: true } }],
            // aws writes its cache under HOME; the root filesystem is read-only.
            env: [{ name: 'HOME', value: '/tmp' }],
            volumeMounts: [
              { name: MODEL_VOLUME, mountPath: MODEL_MOUNT_PATH },
              { name: 'tmp', mountPath: '/tmp' },
            ],
            resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
            securityContext: options.securityContext,
          },
        ],
      };
    }
    case 'oci': {
      // The artifact is mounted whole; the model is its model.onnx, as karb's model images lay it out.
      if (!/^[^/\s]+\/[^\s]+$/.test(rest)) throw invalid(uri, 'an oci:// URI names an image reference, e.g. oci://ghcr.io/acme/fraud-model:v1');
      return {
        path: `${MODEL_MOUNT_PATH}/model.onnx`,
        volumes: [{ name: MODEL_VOLUME, image: { reference: rest, pullPolicy: 'IfNotPresent' } }],
        volumeMounts: [{ name: MODEL_VOLUME, mountPath: MODEL_MOUNT_PATH, readOnly: true }],
        initContainers: [],
      };
    }
    case 'file':
      throw new InvalidRequestError(
        `spec.model.uri: ${uri} is a file on the machine karb up runs on; on Kubernetes put the model in a volume claim (pvc://claim/path), a bucket (s3://bucket/key) or an OCI artifact (oci://registry/repo:tag)`,
        { code: 'MODEL_URI_UNSUPPORTED', status: 422 },
      );
    default:
      throw invalid(uri, 'use pvc://, s3:// or oci://');
  }
}

function invalid(uri: string, how: string): InvalidRequestError {
  return new InvalidRequestError(`spec.model.uri: ${uri} is not a model location karb can mount: ${how}`, { code: 'MODEL_URI_INVALID', status: 422 });
}
