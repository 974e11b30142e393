/**
 * Where the gateway reports each request's SLI outcome: once per request, when
 * its response closes, counted as the Prometheus series count it
 * (`karb_gateway_requests_total`). Not per attempt: a failed attempt that a
 * retry fixed is no error to the caller, and a 503 the gateway made itself (no
 * endpoint, a hold or queue timeout, a full queue) reaches no replica but is
 * one to the caller. The per-attempt signals (`SignalSink`, hub.ts) stay what
 * the autoscaler and the rollout analysis read.
 */

export interface SliSink {
  /**
   * A request of `service` finished: the revision it was routed to (the route's
   * main revision when the gateway answered before choosing one), its HTTP
   * status (0 = no answer, 499 = the caller left) and milliseconds since it
   * reached the gateway. Requests the SLIs leave out (the caller's own rate
   * limit) are not reported.
   */
  requestAnswered(service: string, revision: string, status: number, latencyMs: number): void;
}

/** One sink that tells each of `sinks` every outcome. */
export function teeSli(...sinks: SliSink[]): SliSink {
  return {
    requestAnswered(service, revision, status, latencyMs) {
      for (const s of sinks) s.requestAnswered(service, revision, status, latencyMs);
    },
  };
}
