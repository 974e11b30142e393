/**
 * `karb reserve`: the process of a capacity reservation's placeholder pod
 * (src/runtime/kubernetes/capacity-reservation.ts). The room is held by the pod's requests, not by
 * anything this process does: it waits, idle, until it is told to stop (SIGTERM when the scheduler
 * preempts the pod for a real replica or the reservation shrinks; SIGINT by hand) and exits 0.
 */
import { UsageError } from '../errors.ts';
import { parseFlags } from '../util/flags.ts';

export const RESERVE_USAGE = `Usage: karb reserve

The process of a capacity reservation's placeholder pod: it does nothing but wait for SIGTERM (or
SIGINT), then exits 0. karb controller runs it in the low-priority placeholder pods that hold room
for replicas GASCL asks nodes for ahead of need; their requests (the model replica's CPU, memory
and GPU) make a cluster autoscaler provision the nodes, and any real replica preempts them.
`;

/** What the command listens to: the process by default, a stand-in in tests. */
export type SignalSource = Pick<NodeJS.Process, 'once' | 'off'>;

export function reserveCommand(args: string[], out: NodeJS.WritableStream, signals: SignalSource = process): Promise<number> {
  const { values, positionals } = parseFlags({ args, options: { help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  if (values.help) {
    out.write(RESERVE_USAGE);
    return Promise.resolve(0);
  }
  if (positionals.length > 0) throw new UsageError(`reserve takes no arguments, got '${positionals[0]}'`);
  out.write('karb reserve: holding this pod’s room until SIGTERM\n');
  return new Promise((resolve) => {
    // Nothing else keeps the event loop alive: a timer that never fires does.
    const alive = setInterval(() => {}, 2 ** 30);
    const stop = (): void => {
      clearInterval(alive);
      signals.off('SIGTERM', stop);
      signals.off('SIGINT', stop);
      resolve(0);
    };
    signals.once('SIGTERM', stop);
    signals.once('SIGINT', stop);
  });
}
