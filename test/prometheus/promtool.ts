/** Runs Prometheus' promtool (Debian's package) for the tests here: its exit code and all it printed. */
import { execFile } from 'node:child_process';

export function promtool(args: string[], options: { cwd?: string; input?: string } = {}): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile('promtool', args, { cwd: options.cwd, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1;
      resolve({ code, output: `${stdout}${stderr}` });
    });
    child.stdin!.end(options.input ?? '');
  });
}

/** `promtool check metrics`: lints an exposition's names, types and help (stdin). */
export function promtoolCheckMetrics(text: string): Promise<{ code: number; output: string }> {
  return promtool(['check', 'metrics'], { input: text });
}
