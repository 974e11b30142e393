/**
 * Kubernetes's MicroTime (Lease renewals, events.k8s.io eventTime): RFC 3339 with six fractional
 * digits, where JavaScript dates give three.
 */
export function microTime(time: number | string | Date): string {
  return new Date(time).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
