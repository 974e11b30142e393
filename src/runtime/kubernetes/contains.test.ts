import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containsDesired } from './contains.ts';

test('a live object with server defaults and other managers’ fields still contains what karb applies', () => {
  const desired = { spec: { replicas: 3, template: { spec: { containers: [{ name: 'm', image: 'a:1', ports: [{ containerPort: 8080 }] }] } } } };
  const live = {
    metadata: { resourceVersion: '9', annotations: { 'deployment.kubernetes.io/revision': '1' } },
    spec: { replicas: 3, progressDeadlineSeconds: 600, template: { spec: { dnsPolicy: 'ClusterFirst', containers: [{ name: 'm', image: 'a:1', imagePullPolicy: 'IfNotPresent', ports: [{ containerPort: 8080, protocol: 'TCP' }] }] } } },
    status: { replicas: 3 },
  };
  assert.equal(containsDesired(live, desired), true);
});

test('a changed field karb owns, a missing one, or a list of another length is not contained', () => {
  const desired = { spec: { replicas: 3, template: { spec: { containers: [{ name: 'm', image: 'a:1' }] } } } };
  assert.equal(containsDesired({ spec: { replicas: 5, template: { spec: { containers: [{ name: 'm', image: 'a:1' }] } } } }, desired), false, 'kubectl scale');
  assert.equal(containsDesired({ spec: { replicas: 3, template: { spec: { containers: [{ name: 'm', image: 'b:2' }] } } } }, desired), false, 'kubectl set image');
  assert.equal(containsDesired({ spec: { replicas: 3, template: { spec: { containers: [{ name: 'm', image: 'a:1' }, { name: 'sidecar' }] } } } }, desired), false, 'an added container');
  assert.equal(containsDesired({ spec: { template: { spec: { containers: [{ name: 'm', image: 'a:1' }] } } } }, desired), false, 'a removed field');
  assert.equal(containsDesired(undefined, desired), false);
});

test('numbers and the strings the API server returns for them compare equal; other types do not', () => {
  assert.equal(containsDesired({ cpu: '2' }, { cpu: 2 }), true);
  assert.equal(containsDesired({ maxSurge: '25%' }, { maxSurge: '25%' }), true);
  assert.equal(containsDesired({ enabled: 'true' }, { enabled: true }), false);
  assert.equal(containsDesired({ n: null }, { n: 0 }), false);
});
