import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidRequestError } from '../errors.ts';
import { LATENCY_BINS, latencyBin } from './latency-histogram.ts';
import { parseSignalReport, type SignalReport } from './signal-report.ts';
import { SignalReporter } from './signal-reporter.ts';

/** The 400 that `parseSignalReport` throws for `body`. */
function refusal(body: string): InvalidRequestError {
  try {
    parseSignalReport(body);
  } catch (err) {
    assert.ok(err instanceof InvalidRequestError, `not an InvalidRequestError: ${String(err)}`);
    return err;
  }
  assert.fail(`accepted ${body}`);
}

const valid: SignalReport = {
  gateway: 'gw-1',
  revisions: [{ service: 'svc', revision: 'svc-00001', requests: 3, errors: 1, latency: [[latencyBin(12), 3]], inFlight: 2, replicaQueue: 0 }],
  services: [{ service: 'svc', waiting: 1 }],
};

describe('parseSignalReport', () => {
  it('accepts what a SignalReporter sends, unchanged', () => {
    const r = new SignalReporter('gw-1');
    r.requestStarted('svc', 'svc-00001');
    r.requestStarted('svc', 'svc-00001');
    r.requestFinished('svc', 'svc-00001', 'http://a', 12, 200, 3);
    r.requestFinished('svc', 'svc-00001', 'http://b', 4_000, 503, -1);
    r.requestAnswered('svc', 'svc-00001', 200, 20);
    r.requestAnswered('svc', 'svc-00001', 503, 4_001);
    r.heldChanged('cold', 2);
    const report = r.take();
    assert.deepEqual(parseSignalReport(JSON.stringify(report)), report);
    assert.equal(report.sli?.length, 1);
    assert.deepEqual(parseSignalReport(JSON.stringify(valid)), valid, 'an older gateway’s report, without sli');
  });

  it('round-trips the wait histogram, and still accepts a report from a gateway older than it', () => {
    const r = new SignalReporter('gw-1');
    r.requestStarted('svc', 'svc-00001');
    r.requestStarted('svc', 'svc-00001');
    r.requestFinished('svc', 'svc-00001', 'http://a', 12, 200, 3, 7.5);
    r.requestFinished('svc', 'svc-00001', 'http://a', 2_500, 200, 0, 2_000);
    const report = r.take();
    const parsed = parseSignalReport(JSON.stringify(report));
    assert.deepEqual(parsed, report);
    assert.deepEqual(parsed.revisions[0]!.wait, [
      [latencyBin(7.5), 1],
      [latencyBin(2_000), 1],
    ]);
    const old = parseSignalReport(JSON.stringify(valid));
    assert.equal('wait' in old.revisions[0]!, false, 'no wait field: none is made up');
    assert.deepEqual(old, valid);
  });

  it('round-trips the refusals per service, and still accepts a report from a gateway older than them', () => {
    const r = new SignalReporter('gw-1');
    r.requestRefused('svc');
    r.requestRefused('svc');
    r.requestRefused('cold');
    r.heldChanged('held', 1);
    const report = r.take();
    const parsed = parseSignalReport(JSON.stringify(report));
    assert.deepEqual(parsed, report);
    const byService = new Map(parsed.services.map((s) => [s.service, s]));
    assert.equal(byService.get('svc')?.refused, 2);
    assert.equal(byService.get('cold')?.refused, 1);
    assert.equal('refused' in byService.get('held')!, false, 'none refused: the field is left out');
    const old = parseSignalReport(JSON.stringify(valid));
    assert.equal('refused' in old.services[0]!, false, 'no refused field: none is made up');
    assert.deepEqual(old, valid);
  });

  it('refuses a body that is not JSON with a 400 that says where the format is written', () => {
    const err = refusal('{"gateway":');
    assert.equal(err.status, 400);
    assert.equal(err.code, 'INVALID_SIGNAL_REPORT');
    assert.equal(err.message, 'a gateway report must be JSON (see src/observability/signal-report.ts)');
  });

  it('names the first field that is wrong', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ ...valid, revisions: [{ ...valid.revisions[0]!, requests: -1 }] }, /^gateway report: revisions\.0\.requests: /],
      [{ ...valid, revisions: [{ ...valid.revisions[0]!, latency: [[LATENCY_BINS, 1]] }] }, /^gateway report: revisions\.0\.latency\.0\.0: /],
      [{ ...valid, revisions: [{ ...valid.revisions[0]!, errors: 1.5 }] }, /^gateway report: revisions\.0\.errors: /],
      [{ ...valid, revisions: [{ ...valid.revisions[0]!, wait: [[0, -1]] }] }, /^gateway report: revisions\.0\.wait\.0\.1: /],
      [{ ...valid, revisions: [{ ...valid.revisions[0]!, wait: [[LATENCY_BINS, 1]] }] }, /^gateway report: revisions\.0\.wait\.0\.0: /],
      [{ ...valid, gateway: '' }, /^gateway report: gateway: /],
      [{ ...valid, sli: [{ service: 'svc', revision: 'svc-00001', requests: 1, serverErrors: -1, answered: [] }] }, /^gateway report: sli\.0\.serverErrors: /],
      [{ ...valid, services: [{ service: 'svc', waiting: 1, extra: true }] }, /^gateway report: services\.0: /],
      [{ ...valid, services: [{ service: 'svc', waiting: 1, refused: -1 }] }, /^gateway report: services\.0\.refused: /],
      [{ ...valid, services: [{ service: 'svc', waiting: 1, refused: 0.5 }] }, /^gateway report: services\.0\.refused: /],
      [{ ...valid, at: 5 }, /^gateway report: \(body\): /],
      [[], /^gateway report: \(body\): /],
    ];
    for (const [body, message] of cases) {
      const err = refusal(JSON.stringify(body));
      assert.equal(err.status, 400);
      assert.equal(err.code, 'INVALID_SIGNAL_REPORT');
      assert.match(err.message, message, JSON.stringify(body));
    }
  });
});
