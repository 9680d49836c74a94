import { type Token, literalBytes, readTokens, splitWord, tokenText } from './imap-tokens.js';

/** What the adapter can tell of a command from its line: its name, and `parsed` (mailbox, sequence set, items, UID or not…). */
export interface ParsedCommand {
  /** The command name, upper case, without the UID prefix: FETCH for `UID FETCH`. */
  command: string;
  parsed: Record<string, unknown>;
}

/** Commands that act on messages and so say whether their numbers are UIDs. */
const MESSAGE_COMMANDS = new Set(['FETCH', 'STORE', 'COPY', 'MOVE', 'SEARCH', 'EXPUNGE', 'SORT', 'THREAD']);

const MAILBOX_ONLY = new Set(['SELECT', 'EXAMINE', 'CREATE', 'DELETE', 'SUBSCRIBE', 'UNSUBSCRIBE', 'GETQUOTAROOT', 'MYRIGHTS', 'GETACL']);

/** Reads the command of a client line that follows its tag (`UID FETCH 1:* (FLAGS)`). */
export function parseCommand(afterTag: string): ParsedCommand {
  let [name, rest] = splitWord(afterTag);
  let uid = false;
  if (name.toUpperCase() === 'UID') {
    uid = true;
    [name, rest] = splitWord(rest);
  }
  const command = name.toUpperCase().slice(0, 64) || 'UNKNOWN';
  const args = readTokens(rest, 64);
  const parsed = parseArguments(command, args);
  if (MESSAGE_COMMANDS.has(command)) parsed.uid = uid;
  return { command, parsed };
}

function parseArguments(command: string, args: Token[]): Record<string, unknown> {
  const text = (i: number) => (typeof args[i] === 'string' ? (args[i] as string) : undefined);
  if (MAILBOX_ONLY.has(command)) return defined({ mailbox: text(0) });
  switch (command) {
    case 'LOGIN':
      // The user name only: the password is never read into `parsed`.
      return defined({ user: text(0) });
    case 'AUTHENTICATE':
      return defined({ mechanism: text(0)?.toUpperCase() });
    case 'RENAME':
      return defined({ mailbox: text(0), newMailbox: text(1) });
    case 'STATUS':
      return defined({ mailbox: text(0), items: names(args[1]) });
    case 'LIST':
    case 'LSUB':
      return parseList(args);
    case 'APPEND':
      return parseAppend(args);
    case 'FETCH':
      return defined({ sequence: text(0), items: names(args[1]), modifiers: args[2] === undefined ? undefined : tokenText(args[2]) });
    case 'STORE':
      return parseStore(args);
    case 'COPY':
    case 'MOVE':
      return defined({ sequence: text(0), mailbox: text(1) });
    case 'EXPUNGE':
      return defined({ sequence: text(0) });
    case 'SEARCH':
    case 'SORT':
    case 'THREAD':
      return { criteria: args.map(tokenText).join(' ').slice(0, 1000) };
    case 'ENABLE':
      return { capabilities: args.filter((a): a is string => typeof a === 'string') };
    case 'COMPRESS':
      return defined({ mechanism: text(0) });
    default:
      return {};
  }
}

/** `LIST [(selection)] reference pattern [RETURN (options)]`. */
function parseList(args: Token[]): Record<string, unknown> {
  let i = 0;
  const selection = Array.isArray(args[0]) ? names(args[i++]) : undefined;
  const reference = typeof args[i] === 'string' ? (args[i++] as string) : undefined;
  const pattern = args[i] === undefined ? undefined : tokenText(args[i++]!);
  const returns = typeof args[i] === 'string' && (args[i] as string).toUpperCase() === 'RETURN' ? names(args[i + 1]) : undefined;
  return defined({ selection, reference, pattern, return: returns });
}

/** `APPEND mailbox [(flags)] [date] literal`. */
function parseAppend(args: Token[]): Record<string, unknown> {
  const mailbox = typeof args[0] === 'string' ? args[0] : undefined;
  let flags: string[] | undefined;
  let internalDate: string | undefined;
  let bytes: number | undefined;
  for (const token of args.slice(1)) {
    if (Array.isArray(token)) flags = names(token);
    else if (literalBytes(token) !== undefined) bytes = literalBytes(token);
    else if (typeof token === 'string' && /\d{4}/.test(token)) internalDate = token;
  }
  return defined({ mailbox, flags, internalDate, bytes });
}

/** `STORE sequence [(UNCHANGEDSINCE n)] action flags`. */
function parseStore(args: Token[]): Record<string, unknown> {
  const sequence = typeof args[0] === 'string' ? args[0] : undefined;
  let i = 1;
  const modifiers = Array.isArray(args[i]) ? tokenText(args[i++]!) : undefined;
  const action = typeof args[i] === 'string' ? (args[i++] as string).toUpperCase() : undefined;
  const flags = args[i] === undefined ? undefined : Array.isArray(args[i]) ? names(args[i]) : [tokenText(args[i]!)];
  return defined({ sequence, modifiers, action, flags });
}

/** A list of item names (`(FLAGS ENVELOPE)` → ['FLAGS', 'ENVELOPE']); an atom alone is a list of one (`ALL`). */
function names(token: Token | undefined): string[] | undefined {
  if (token === undefined) return undefined;
  if (!Array.isArray(token)) return [token];
  return token.map(tokenText);
}

function defined(o: Record<string, unknown>): Record<string, unknown> {
  for (const key of Object.keys(o)) if (o[key] === undefined) delete o[key];
  return o;
}
