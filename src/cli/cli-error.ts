/** Exit codes of the `livetail` command. */
export const EXIT = {
  OK: 0,
  /** The server refused or could not be reached; the session ended. */
  FAILURE: 1,
  /** Bad command line: unknown command or option, missing or malformed value. */
  USAGE: 2,
  /** tail: the session was signed out or revoked while streaming. */
  SESSION_ENDED: 3,
} as const;

/** An error the CLI reports as one line on stderr (no stack trace) before exiting with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.FAILURE,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A command-line mistake: the message ends with a pointer to the help. */
export function usageError(message: string, command?: string): CliError {
  return new CliError(`${message}\nRun: livetail ${command ? `${command} ` : ''}--help`, EXIT.USAGE);
}
