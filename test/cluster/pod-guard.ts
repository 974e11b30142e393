/**
 * Preloaded (`node --import`) into every process the test node agent starts for a pod: the
 * process ends when the agent's process does, however it ends (even by SIGKILL), so a killed
 * test run leaves no pod processes behind. It checks its parent once a second (Linux:
 * /proc/self/stat; elsewhere: whether the parent's pid still answers) and never keeps the
 * process alive by itself.
 */
import { readFileSync } from 'node:fs';

const agent = process.ppid;

function parentGone(): boolean {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return ppid !== agent;
  } catch {
    try {
      process.kill(agent, 0);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code !== 'EPERM';
    }
  }
}

setInterval(() => {
  if (parentGone()) process.kill(process.pid, 'SIGKILL');
}, 1_000).unref();
