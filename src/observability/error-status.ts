/**
 * Which finished requests count as errors in the signals: one definition for
 * the autoscaler's windows, the rollout counters (and so canary analysis), a
 * standalone gateway's reports and the simulator, so that an error rate means
 * the same wherever it is read.
 *
 * | status              | error | why                                                             |
 * | ------------------- | ----- | --------------------------------------------------------------- |
 * | 0                   | yes   | no response at all: connect error, reset, a try that timed out  |
 * | 1xx, 2xx, 3xx       | no    | answered                                                        |
 * | 4xx other than 429  | no    | the caller's mistake, or 499: the caller left before the answer |
 * | 429                 | yes   | shed: the service turned load away (a full queue, a rate limit) |
 * | 5xx                 | yes   | the service failed: 500, 502, 503 (overloaded), 504 (timed out) |
 *
 * Other places judge statuses for their own purposes and keep their own rules;
 * none of them feeds a decider: the router's outlier ejection counts only 5xx
 * against an endpoint (a 429 is a replica pushing back, not a broken one), the
 * mirror's outcome metric calls anything but 2xx an error, the load generator's
 * report counts every 4xx and 5xx as failed, and the failure log and the OpenAI
 * error types tell client errors from server errors.
 */

/** Whether a finished request with this HTTP status (0 = no response) counts against the service. */
export function isErrorStatus(status: number): boolean {
  return status === 0 || status === 429 || status >= 500;
}
