#!/usr/bin/env node
/**
 * The `karb` command: picks the sub-command and hands off to its module.
 * Exit codes: 0 success, 1 failure, 2 usage error. Errors print one line.
 */
import { UsageError } from '../errors.ts';
import { HELP } from './usage.ts';
import { readFileSync } from 'node:fs';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    // Each command loads only its own modules: a replica (`serve`) starts without the control plane's code.
    case 'up':
      return (await import('./up.ts')).upCommand(rest);
    case 'apply':
      return (await import('./commands.ts')).applyCommand(rest, process.stdout);
    case 'get':
      return (await import('./commands.ts')).getCommand(rest, process.stdout);
    case 'delete':
      return (await import('./commands.ts')).deleteCommand(rest, process.stdout);
    case 'rollout':
      return (await import('./rollout.ts')).rolloutCommand(rest, process.stdout);
    case 'keys':
      return (await import('./keys.ts')).keysCommand(rest, process.stdout, process.stderr);
    case 'tokens':
      return (await import('./tokens.ts')).tokensCommand(rest, process.stdout, process.stderr);
    case 'audit':
      return (await import('./audit.ts')).auditCommand(rest, process.stdout);
    case 'gateway':
      return (await import('./gateway.ts')).gatewayCommand(rest);
    case 'controller':
      return (await import('./controller.ts')).controllerCommand(rest);
    case 'serve':
      return (await import('../serving/cli.ts')).runServeCommand(rest);
    case 'reserve':
      return (await import('./reserve.ts')).reserveCommand(rest, process.stdout);
    case 'load':
      return (await import('./load.ts')).runLoadCommand(rest);
    case 'simulate':
      return (await import('../sim/cli.ts')).runSimulateCommand(rest);
    case 'install':
      return (await import('./install.ts')).installCommand(rest, process.stdout);
    case 'render':
      return (await import('./render.ts')).renderCommand(rest, process.stdout);
    case 'version':
    case '--version':
      process.stdout.write(`karb ${JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command '${command}'; run 'karb help' for the list`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`karb: ${message}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
