import { parseArgs, type ParseArgsConfig } from 'node:util';
import { LOG_LEVELS, type LogLevel } from '../protocol/constants.js';
import { usageError } from './cli-error.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Options every command takes. */
export const COMMON_OPTIONS = {
  url: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
} as const satisfies Options;

/** How to act as a user: a session cookie, or an email and password to sign in with. */
export const SESSION_OPTIONS = {
  email: { type: 'string' },
  password: { type: 'string' },
  cookie: { type: 'string' },
  origin: { type: 'string' },
} as const satisfies Options;

/** What `parse()` returns: the option values typed from the option table, and the positionals. */
export type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: true }>>;

/**
 * node:util parseArgs in strict mode, with its errors ("Unknown option '--x'") turned into a usage
 * error that points at the command's help.
 */
export function parse<O extends Options>(command: string, argv: string[], options: O, allowPositionals = false): Parsed<O> {
  let parsed: Parsed<O>;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (error) {
    throw usageError(error instanceof Error ? error.message : String(error), command);
  }
  if (!allowPositionals && parsed.positionals.length > 0) {
    throw usageError(`Unexpected argument ${JSON.stringify(parsed.positionals[0])}: livetail ${command} takes only options`, command);
  }
  return parsed;
}

export function parseLevel(value: string | undefined, command: string): LogLevel | undefined {
  if (value === undefined) return undefined;
  if (!(LOG_LEVELS as readonly string[]).includes(value)) {
    throw usageError(`--level ${JSON.stringify(value)} is not a level (expected ${LOG_LEVELS.join(', ')})`, command);
  }
  return value as LogLevel;
}

export function parseNumber(name: string, value: string | undefined, command: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw usageError(`--${name} ${JSON.stringify(value)} is not a number from ${min} to ${max}`, command);
  }
  return n;
}

export function parseJson(name: string, value: string | undefined, command: string): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (error) {
    throw usageError(`--${name} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`, command);
  }
}
