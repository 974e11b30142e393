/**
 * Who may import whom in karb: the layers of docs/architecture.md ("Who may import whom") as
 * dependency-cruiser rules. `npm test` runs them (test/architecture.test.ts); by hand:
 *   npx depcruise src
 *
 * Data flows one way (client → edge → router → buffer → replica; signals → observability →
 * deciders → control plane → runtime → discovery → router), so imports point one way too: a
 * folder imports what is below it and never what is above it. Type-only imports count: a type
 * from a higher layer ties a module to that layer's design as much as a value does.
 *
 * Tests (`*.test.ts`, `test-support.ts`, `test-helpers.ts`, `test-redis.ts`, `testdata/`) follow
 * their folder's rule, with two allowances: they may use any folder's test support, and the load
 * generator (src/loadgen), to drive real traffic. Inside the gateway, tests may import any room:
 * they exercise the assembled pipeline.
 */

/** Files that exist only for tests. */
const TEST = '(\\.test\\.ts$|/test-support\\.ts$|/test-helpers\\.ts$|/test-redis\\.ts$|/testdata/)';
/** What every layer may import: karb's errors and small utilities. */
const FOUNDATION = '^src/(errors\\.ts$|util/)';

/**
 * One layer's rule, as two dependency-cruiser rules: production code may import only
 * `allowed` (folder names under src/, regular expressions) and the foundation; test code may
 * also import test support and the load generator.
 */
function layer(name, from, allowed, comment) {
  const allowedPaths = allowed.length > 0 ? [`^src/(${allowed.join('|')})/`] : [];
  return [
    {
      name,
      comment,
      severity: 'error',
      from: { path: from, pathNot: TEST },
      to: { path: '^src/', pathNot: [...allowedPaths, FOUNDATION] },
    },
    {
      name: `${name}-in-tests`,
      comment: `${comment} Tests may also use any folder's test support, and src/loadgen.`,
      severity: 'error',
      from: { path: `${from}.*${TEST}` },
      to: { path: '^src/', pathNot: [...allowedPaths, FOUNDATION, TEST, '^src/loadgen/'] },
    },
  ];
}

/**
 * Back-edges that exist today and are being removed. Each one is allowed (softened to
 * severity "ignore") until it is gone; then delete its line. The goal is an empty list.
 * [from, to, rule]
 */
const KNOWN_BACK_EDGES = [
  // the standalone gateway's control-plane client returns the edge's KeyRecord.
  ['src/gateway/discovery/control-feed.ts', 'src/gateway/edge/keys.ts', 'gateway-discovery-is-a-source'],
  // gateway tests build keys with the control plane's SQLite key store instead of an in-memory key source.
  ['src/gateway/edge/edge.test.ts', 'src/control/key-store.ts', 'gateway-is-the-data-plane-in-tests'],
  ['src/gateway/edge/key-resolver.test.ts', 'src/control/key-store.ts', 'gateway-is-the-data-plane-in-tests'],
  ['src/gateway/buffer/hold.test.ts', 'src/control/key-store.ts', 'gateway-is-the-data-plane-in-tests'],
  ['src/gateway/buffer/jobs/async-jobs.test.ts', 'src/control/key-store.ts', 'gateway-is-the-data-plane-in-tests'],
  // `karb load` reads the admin token through the CLI's client.
  ['src/loadgen/cli.ts', 'src/cli/client.ts', 'loadgen-is-a-tool'],
  // the flag parser reads durations with the resource's parser; a duration reader belongs in util (or flags above api).
  ['src/util/flags.ts', 'src/api/quantity.ts', 'foundation-imports-only-foundation'],
];

export default {
  forbidden: [
    ...layer('foundation-imports-only-foundation', '^src/(errors\\.ts$|util/)', [],
      'src/errors.ts and src/util/ are what every layer stands on; they import nothing of karb but each other.'),
    ...layer('api-imports-only-foundation', '^src/api/', ['api'],
      'The resource (schema, validation, revisions) is the vocabulary of every layer; it depends on none of them.'),
    ...layer('observability-imports-only-api', '^src/observability/', ['observability', 'api'],
      'L5 measures (signal hub, windows, histograms, counters); deciders read it, so it never reads a decider, the gateway or the control plane.'),
    ...layer('deciders-are-pure', '^src/(autoscaler|rollout|placement)/', ['$1', 'observability', 'api'],
      'Deciders are pure functions of (signals, spec, state, now): they read observability and the resource, never the control plane that acts on them, the runtime, the gateway, or another decider.'),
    ...layer('gateway-is-the-data-plane', '^src/gateway/', ['gateway', 'observability', 'api'],
      'The gateway reads only its routing table and reports to observability; the control plane, runtimes and deciders are above it and reach it through discovery.'),
    ...layer('serving-stands-alone', '^src/serving/', ['serving', 'api'],
      'L4 model server: runs as its own process (karb serve), so it imports nothing of the platform but the shared vocabulary (api).'),
    ...layer('runtime-imports-only-api-and-observability', '^src/runtime/', ['runtime', 'api', 'observability'],
      'Runtimes run revisions as replicas; the control plane drives them, so they never import it.'),
    ...layer('models-stand-alone', '^src/models/', ['models'],
      'The example models are generated by scripts/make-models.ts and read by tests; they import nothing of the platform.'),
    ...layer('loadgen-is-a-tool', '^src/loadgen/', ['loadgen', 'api'],
      'The open-loop load generator drives any gateway from outside; the CLI and the simulator import it, never the other way.'),
    ...layer('sim-uses-the-real-deciders', '^src/sim/', ['sim', 'autoscaler', 'loadgen', 'observability', 'api'],
      'The simulator runs the same deciders and arrival schedules as the real loop, never the control plane, runtime or gateway.'),
    ...layer('control-is-below-the-cli', '^src/control/', ['control', 'api', 'observability', 'autoscaler', 'rollout', 'placement', 'gateway', 'runtime'],
      'The control plane acts on the deciders and drives runtime and gateway; only the CLI (and the simulator, loadgen) sit above it.'),

    // Inside the gateway: rooms follow the request. Production code only; tests may import any room.
    {
      name: 'gateway-edge-runs-first',
      comment: 'L1 runs before routing and buffering and knows nothing of where a request goes next.',
      severity: 'error',
      from: { path: '^src/gateway/edge/', pathNot: TEST },
      to: { path: '^src/gateway/(router|buffer)/' },
    },
    {
      name: 'gateway-buffer-below-router',
      comment: 'The router places requests in the buffer (admission queue, hold); the buffer reaches the router only through the job dispatch server, never by import.',
      severity: 'error',
      from: { path: '^src/gateway/buffer/', pathNot: TEST },
      to: { path: '^src/gateway/router/' },
    },
    {
      name: 'gateway-discovery-is-a-source',
      comment: 'Discovery says where routes and endpoints are; it is read by the rooms and imports none of them.',
      severity: 'error',
      from: { path: '^src/gateway/discovery/', pathNot: TEST },
      to: { path: '^src/gateway/(edge|router|buffer|server)/' },
    },
    {
      name: 'gateway-only-the-shell-assembles',
      comment: 'server/gateway.ts assembles the rooms into startGateway; a room that imported it would import every other room.',
      severity: 'error',
      from: { path: '^src/gateway/(edge|router|buffer|discovery)/', pathNot: TEST },
      to: { path: '^src/gateway/server/(gateway|metrics-listener)\\.ts$' },
    },

    {
      name: 'production-never-imports-test-code',
      comment: 'Test support stays out of what karb runs.',
      severity: 'error',
      from: { path: '^src/', pathNot: TEST },
      to: { path: [`^src/.*${TEST}`, '^(test|bench|scripts)/'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    knownViolations: KNOWN_BACK_EDGES.map(([from, to, rule]) => ({
      type: 'dependency',
      from,
      to,
      rule: { name: rule, severity: 'error' },
    })),
  },
};
