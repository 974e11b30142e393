/**
 * How the test node agent turns a container into a local process: which images run, how
 * command, args, env and paths map onto this checkout and the pod's volumes, and the reasons it
 * gives for what it cannot run. Pure: no cluster.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildDeployment } from '../../src/runtime/kubernetes/deployment.ts';
import { DEFAULT_CLUSTER_OPTIONS } from '../../src/runtime/kubernetes/options.ts';
import { expand, isKarbImage, planContainer, planPod, rewriteHost, rewritePath, type PlanContext, type ProcessPlan, type Refusal } from './pod-plan.ts';

type Obj = Record<string, any>;

const ctx: PlanContext = {
  repoRoot: '/src/karb',
  node: '/src/karb/node_modules/.bin/node',
  podIP: '127.1.0.7',
  hostIP: '127.0.0.1',
  nodeName: 'node-1',
  volumes: { model: '/data/models', tmp: '/agent/pods/p/volumes/tmp' },
  configMaps: { settings: { LEVEL: 'debug', MODE: 'fast' } },
  secrets: { creds: { TOKEN: 's3cret' } },
  baseEnv: { PATH: '/usr/bin:/bin' },
  podDir: '/agent/pods/p',
};

const pod = (containers: Obj[], extra: Obj = {}): Obj => ({
  metadata: { name: 'fraud-abc', namespace: 'ml', uid: 'u-1', labels: { app: 'fraud' } },
  spec: { containers, ...extra },
});
const karb = (extra: Obj = {}): Obj => ({ name: 'c', image: 'ghcr.io/karb-dev/karb:0.1.0', ...extra });
const ok = (p: ProcessPlan | Refusal): ProcessPlan => {
  assert.equal(p.refused, false, p.refused ? `${p.reason}: ${p.message}` : '');
  return p as ProcessPlan;
};
const refused = (p: ProcessPlan | Refusal): Refusal => {
  assert.equal(p.refused, true, 'refused');
  return p as Refusal;
};

test('karb’s image is its repository with any tag or digest, and nothing else', () => {
  const cases: Array<[string, boolean]> = [
    ['ghcr.io/karb-dev/karb:0.1.0', true],
    ['ghcr.io/karb-dev/karb', true], // no tag: latest
    ['ghcr.io/karb-dev/karb@sha256:0123abcd', true],
    ['ghcr.io/karb-dev/karb:dev@sha256:0123abcd', true],
    ['ghcr.io/karb-dev/karb-fetcher:1', false], // another repository with the same prefix
    ['docker.io/karb-dev/karb:1', false], // another registry
    ['ghcr.io/example/karb-serve:1', false],
    ['nginx', false],
  ];
  for (const [image, want] of cases) assert.equal(isKarbImage(image), want, image);
});

test('karb’s own Deployment becomes this checkout’s karb serve on the pod’s address, the model path on the claim’s folder', () => {
  const template = {
    revision: 'fraud-00001',
    service: 'fraud',
    namespace: 'ml',
    model: { format: 'onnx' as const, name: 'fraud', uri: 'pvc://models/fraud-v1.onnx', batching: { maxBatchSize: 32, maxDelayMs: 4 } },
    resources: { requests: { cpu: '1', memory: '1Gi' }, limits: {} },
  };
  const d = buildDeployment(template, 1, DEFAULT_CLUSTER_OPTIONS) as Obj;
  const p = { metadata: { name: 'fraud-00001-x', namespace: 'ml', uid: 'u' }, spec: d.spec.template.spec };
  const plan = ok(planContainer(p, p.spec.containers[0], ctx));
  assert.equal(plan.command, ctx.node);
  assert.deepEqual(plan.args, [
    '/src/karb/src/cli/main.ts', // the image's entrypoint, node /app/src/cli/main.ts, on this checkout
    'serve', '--model', '/data/models/fraud-v1.onnx', '--name', 'fraud', '--port', '8080', '--host', '127.1.0.7',
    '--max-batch-size', '32', '--max-delay-ms', '4',
  ]);
  assert.equal(plan.env.PORT, '8080');
  assert.equal(plan.env.KARB_REPLICA, 'fraud-00001-x', 'fieldRef metadata.name');
  assert.equal(plan.env.TMPDIR, ctx.volumes.tmp, 'the emptyDir at /tmp is the temporary folder');
  assert.equal(plan.env.HOSTNAME, 'fraud-00001-x');
  assert.equal(plan.cwd, ctx.repoRoot, 'WORKDIR /app');
  assert.equal(plan.readiness?.action.kind === 'http' && plan.readiness.action.url, 'http://127.1.0.7:8080/v2/health/ready');
  assert.equal(plan.liveness?.action.kind === 'http' && plan.liveness.action.url, 'http://127.1.0.7:8080/v2/health/live');
  assert.equal(plan.startup?.failureThreshold, 60);
  assert.deepEqual(plan.preStop, { kind: 'sleep', seconds: 5 });
});

test('paths: the longest mount path wins; a path merely sharing a prefix is left alone; --flag=value is rewritten too', () => {
  const map: Array<[string, string]> = [['/mnt/models/v2', '/b'], ['/mnt/models', '/a'], ['/app', '/src/karb']];
  const cases: Array<[string, string]> = [
    ['/mnt/models/x.onnx', '/a/x.onnx'],
    ['/mnt/models/v2/x.onnx', '/b/x.onnx'],
    ['/mnt/models', '/a'],
    ['/mnt/models-old/x', '/mnt/models-old/x'],
    ['/app/src/cli/main.ts', '/src/karb/src/cli/main.ts'],
    ['relative/path', 'relative/path'],
  ];
  for (const [from, want] of cases) assert.equal(rewritePath(from, map), want, from);
  const flag = karb({ args: ['serve', '--model=/mnt/models/m.onnx'], volumeMounts: [{ name: 'model', mountPath: '/mnt/models/' }] });
  assert.equal(ok(planContainer(pod([flag]), flag, ctx)).args.at(-1), '--model=/data/models/m.onnx', 'a mount path with a trailing slash too');
  const sub = karb({ args: ['serve', '--model', '/m/x.onnx'], volumeMounts: [{ name: 'model', mountPath: '/m', subPath: 'fraud' }] });
  assert.equal(ok(planContainer(pod([sub]), sub, ctx)).args.at(-1), '/data/models/fraud/x.onnx');
});

test('--host: a wildcard becomes the pod’s address; a specific address is kept', () => {
  const cases: Array<[string[], string[]]> = [
    [['--host', '0.0.0.0'], ['--host', '127.1.0.7']],
    [['--host=0.0.0.0'], ['--host=127.1.0.7']],
    [['--host', '::'], ['--host', '127.1.0.7']],
    [['--host', '127.0.0.1'], ['--host', '127.0.0.1']],
    [['--port', '0.0.0.0'], ['--port', '0.0.0.0']],
  ];
  for (const [args, want] of cases) assert.deepEqual(rewriteHost(args, '127.1.0.7'), want, args.join(' '));
});

test('env: envFrom then env, fieldRefs, ConfigMap and Secret keys, $(VAR) in values and args, optional sources skipped', () => {
  const c = karb({
    envFrom: [{ configMapRef: { name: 'settings' }, prefix: 'CFG_' }, { secretRef: { name: 'absent', optional: true } }],
    env: [
      { name: 'MODE', value: 'slow' },
      { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
      { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'creds', key: 'TOKEN' } } },
      { name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'settings', key: 'LEVEL' } } },
      { name: 'GONE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'nope', optional: true } } },
      { name: 'URL', value: 'http://$(IP):8080/$(NS)/$(UNDEFINED)/$$(IP)' },
    ],
    args: ['serve', '--name', '$(APP)-$(NS)'],
  });
  const plan = ok(planContainer(pod([c]), c, ctx));
  assert.equal(plan.env.CFG_MODE, 'fast');
  assert.equal(plan.env.MODE, 'slow');
  assert.equal(plan.env.NS, 'ml');
  assert.equal(plan.env.IP, '127.1.0.7');
  assert.equal(plan.env.APP, 'fraud');
  assert.equal(plan.env.TOKEN, 's3cret');
  assert.equal(plan.env.LEVEL, 'debug');
  assert.equal(plan.env.GONE, undefined);
  assert.equal(plan.env.URL, 'http://127.1.0.7:8080/ml/$(UNDEFINED)/$(IP)');
  assert.deepEqual(plan.args.slice(1), ['serve', '--name', 'fraud-ml']);
  assert.equal(expand('$(A)$(A)', { A: 'x' }), 'xx');
});

test('what cannot run here is refused with a reason a person reads', () => {
  const cases: Array<[string, Obj, Refusal['reason'], RegExp]> = [
    ['another image', { name: 'c', image: 'nginx:1.27' }, 'ImageNotSupportedByTestNode', /only karb's image \(ghcr\.io\/karb-dev\/karb, any tag\)/],
    ['a shell command', karb({ command: ['sh', '-c', 'karb serve'] }), 'CommandNotSupportedByTestNode', /command "sh"/],
    ['an exec probe', karb({ livenessProbe: { exec: { command: ['true'] } } }), 'ProbeNotSupportedByTestNode', /only httpGet and tcpSocket/],
    ['a probe on a port the container does not name', karb({ readinessProbe: { httpGet: { port: 'metrics' } } }), 'ProbeNotSupportedByTestNode', /port "metrics"/],
    ['an exec preStop hook', karb({ lifecycle: { preStop: { exec: { command: ['sleep', '1'] } } } }), 'ProbeNotSupportedByTestNode', /preStop/],
    ['a missing ConfigMap', karb({ envFrom: [{ configMapRef: { name: 'missing' } }] }), 'CreateContainerConfigError', /configmap "missing" not found/],
    ['a missing Secret key', karb({ env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'creds', key: 'nope' } } }] }), 'CreateContainerConfigError', /no key "nope"/],
    ['a resourceFieldRef', karb({ env: [{ name: 'X', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } }] }), 'CreateContainerConfigError', /only value, fieldRef/],
    ['a mount of a volume without a folder', karb({ volumeMounts: [{ name: 'images', mountPath: '/images' }] }), 'VolumeNotSupportedByTestNode', /volume "images"/],
    ['a working directory in the image', karb({ workingDir: '/opt/elsewhere' }), 'CreateContainerConfigError', /workingDir \/opt\/elsewhere/],
  ];
  for (const [what, container, reason, message] of cases) {
    const r = refused(planContainer(pod([container]), container, ctx));
    assert.equal(r.reason, reason, what);
    assert.match(r.message, message, what);
    assert.equal(r.container, container.name, what);
  }
});

test('commands: node and karb run as the image would; the first refused container, init first, is the pod’s', () => {
  const viaNode = karb({ command: ['node', '/app/src/cli/main.ts'], args: ['version'] });
  assert.deepEqual(ok(planContainer(pod([viaNode]), viaNode, ctx)).args, ['/src/karb/src/cli/main.ts', 'version']);
  const viaKarb = karb({ command: ['karb', 'version'] });
  assert.deepEqual(ok(planContainer(pod([viaKarb]), viaKarb, ctx)).args, ['/src/karb/src/cli/main.ts', 'version']);
  const p = pod([karb(), { name: 'side', image: 'busybox' }], { initContainers: [{ name: 'fetch', image: 'amazon/aws-cli' }] });
  const r = planPod(p, ctx);
  assert.equal(r.refused && r.container, 'fetch');
  const fine = planPod(pod([karb()], { initContainers: [karb({ name: 'warm', args: ['version'] })] }), ctx);
  assert.equal(fine.refused, false);
  assert.deepEqual(!fine.refused && [fine.init.length, fine.containers.length], [1, 1]);
});

test('a container with the service-account volume gets KUBECONFIG pointing at its stand-in for in-cluster configuration; one set in the spec wins', () => {
  const withToken = { ...ctx, volumes: { ...ctx.volumes, 'kube-api-access-x1': '/agent/pods/p/volumes/kube-api-access-x1' } };
  const mount = { name: 'kube-api-access-x1', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true };
  const plan = ok(planContainer(pod([karb({ args: ['gateway', '--kubernetes'], volumeMounts: [mount] })]), karb({ args: ['gateway', '--kubernetes'], volumeMounts: [mount] }), withToken));
  assert.equal(plan.env.KUBECONFIG, '/agent/pods/p/volumes/kube-api-access-x1/kubeconfig');
  const own = karb({ args: ['gateway'], volumeMounts: [mount], env: [{ name: 'KUBECONFIG', value: '/var/run/secrets/kubernetes.io/serviceaccount/other' }] });
  assert.equal(ok(planContainer(pod([own]), own, withToken)).env.KUBECONFIG, '/agent/pods/p/volumes/kube-api-access-x1/other');
  const none = karb({ args: ['serve'] });
  assert.equal(ok(planContainer(pod([none]), none, ctx)).env.KUBECONFIG, undefined, 'no token mounted (automountServiceAccountToken: false), no credentials');
});
