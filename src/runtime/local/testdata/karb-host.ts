/**
 * Stands in for a karb process in the adoption tests: runs a LocalRuntime on
 * `stateDir`, ensures the replicas of the template it is given, prints one JSON
 * line `{ "pids": [...] }` once they are all Ready, then idles until killed.
 * Usage: karb-host.ts <stateDir> <template JSON> <replicas>
 */
import { LocalRuntime } from '../local-runtime.ts';

const [stateDir, templateJson, count] = process.argv.slice(2);
const runtime = new LocalRuntime({ stateDir: stateDir! });
const replicas = Number(count);
await runtime.ensureRevision(JSON.parse(templateJson!), replicas);
const timer = setInterval(() => {
  const endpoints = runtime.endpoints();
  if (endpoints.length === replicas) {
    clearInterval(timer);
    process.stdout.write(`${JSON.stringify({ pids: runtime.replicas().map((r) => r.pid) })}\n`);
  }
}, 50);
