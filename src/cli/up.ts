/** `karb up`: runs the embedded platform in the foreground until SIGINT/SIGTERM. */
import { parseArgs } from 'node:util';
import { startPlatform } from '../control/platform.ts';
import { jsonLogger } from '../util/log.ts';
import { applyCommand } from './commands.ts';
import { UsageError } from './usage.ts';

const USAGE = `Usage: karb up [flags]

  --port N            control plane API and dashboard port (default 8081)
  --gateway-port N    gateway port (default 8080)
  --host ADDR         address to listen on (default 127.0.0.1)
  --state-dir DIR     database, replica records and logs (default .karb)
  -f, --filename F    apply these manifests once the platform is up (repeatable)
`;

function port(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${flag} must be a port number from 0 to 65535 (got ${value})`);
  return n;
}

export async function upCommand(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        port: { type: 'string' },
        'gateway-port': { type: 'string' },
        host: { type: 'string' },
        'state-dir': { type: 'string' },
        filename: { type: 'string', short: 'f', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const log = jsonLogger();
  const platform = await startPlatform({
    controlPort: port(values.port, '--port', 8081),
    gatewayPort: port(values['gateway-port'], '--gateway-port', 8080),
    ...(values.host ? { host: values.host } : {}),
    ...(values['state-dir'] ? { stateDir: values['state-dir'] } : {}),
    log,
  });
  process.stderr.write(`karb is up: gateway ${platform.gatewayUrl}, control plane ${platform.controlUrl}\n`);

  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log({ level: 'info', msg: 'stopping', signal });
      platform.close().then(resolve, resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });

  if (values.filename?.length) {
    const args = values.filename.flatMap((f) => ['-f', f]);
    const code = await applyCommand([...args, '--server', platform.controlUrl], process.stderr).catch((err: Error) => {
      process.stderr.write(`karb: ${err.message}\n`);
      return 1;
    });
    if (code !== 0) log({ level: 'warn', msg: 'some manifests were not applied; the platform keeps running' });
  }
  await stopped;
  return 0;
}
