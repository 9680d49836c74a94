import { CliError, EXIT, usageError } from './cli-error.js';
import { MAIN_HELP } from './help.js';
import { publish } from './publish.js';
import { tail, type TailIO } from './tail.js';

/**
 * The `livetail` command: `tail` or `publish`. Returns the exit code; every failure is reported as
 * one line on stderr (no stack trace), bad command lines with a pointer to --help.
 */
export async function main(argv: string[], io: Omit<TailIO, 'argv'> = processIO()): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'tail':
        return await tail({ ...io, argv: rest });
      case 'publish':
        return await publish({ ...io, argv: rest });
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.stdout.write(MAIN_HELP);
        return command === undefined ? EXIT.USAGE : EXIT.OK;
      default:
        throw usageError(`Unknown command ${JSON.stringify(command)}: livetail has tail and publish`);
    }
  } catch (error) {
    if (error instanceof CliError) {
      io.stderr.write(`livetail${command === 'tail' || command === 'publish' ? ` ${command}` : ''}: ${error.message}\n`);
      return error.exitCode;
    }
    io.stderr.write(`livetail: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return EXIT.FAILURE;
  }
}

function processIO(): Omit<TailIO, 'argv'> {
  return { env: process.env, stdout: process.stdout, stderr: process.stderr, signals: process };
}
