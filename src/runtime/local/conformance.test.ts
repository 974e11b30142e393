/** The local runtime against the Runtime conformance suite, with the fixture replica as its server. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeRuntime } from '../runtime-conformance.ts';
import { LocalRuntime } from './local-runtime.ts';
import { fixtureTemplate, scratch } from './testdata/helpers.ts';

describeRuntime('local', {
  async create(t) {
    const { dir, track } = scratch(t);
    const runtime = track(new LocalRuntime({ stateDir: dir, probe: { readyIntervalMs: 100 }, restartBackoff: { initialMs: 50, maxMs: 400 } }));
    // While this file exists the fixture answers its readiness probe with 503.
    const unready = join(dir, 'unready');
    writeFileSync(unready, '');
    return {
      runtime,
      template: (revision, { ready = true } = {}) => fixtureTemplate(revision, ready ? [] : ['--unready-file', unready]),
      settled: () => runtime.settled(),
    };
  },
});
