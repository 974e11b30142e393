/**
 * A custom model server's argv names its port as `$PORT` or `${PORT}` (as the spec documents); each
 * runtime fills in the port it gives the replica: a free local port, or the container's.
 */
export function fillPort(argv: readonly string[], port: number): string[] {
  const text = String(port);
  return argv.map((a) => a.replaceAll('${PORT}', text).replaceAll('$PORT', text));
}
