import { type ParsedCommand, parseCommand } from './command-parser.js';
import { splitWord } from './imap-tokens.js';
import { type SummaryBounds, UntaggedSummary } from './untagged-summary.js';

/** A command from its line to its end: the tagged completion, or the connection's end. */
export interface FinishedCommand extends ParsedCommand {
  /** The command line as ImapFlow logged it (not sanitized yet). */
  raw: string;
  startedAt: number;
  endedAt: number;
  /** The tagged completion line, when one came. */
  tagged?: string;
  /** Untagged responses received while it ran, bounded. */
  untagged: string[];
  /** Why it failed: the NO / BAD text, a BYE, the connection error; undefined when it completed OK. */
  error?: string;
}

/** A command line after its tag: a name that starts with a letter. Continuations (base64, `DONE`, `(* 5B continuation *)`) have no such shape. */
const COMMAND_LINE = /^([^\s()"*+{]+) ([A-Za-z][A-Za-z0-9-]*)(?: |$)/;
/** imapflow runs one command at a time; more than this in flight means tagged answers went missing. */
const MAX_RUNNING = 32;

interface Running extends ParsedCommand {
  tag: string;
  raw: string;
  startedAt: number;
  untagged: UntaggedSummary;
}

/**
 * Follows one IMAP connection's traffic, line by line, and reports each command once, when it ends:
 * at its tagged completion (OK, NO, BAD), or, still running, when the connection closes (then with the
 * connection's error, a BYE's text, or "closed before the tagged response"). IDLE is one command from
 * its line to the tagged completion after DONE.
 */
export class ConnectionTracker {
  private readonly running = new Map<string, Running>();
  /** The text of the server's BYE, once one came. */
  private bye: string | undefined;
  /** The last error the connection logged, until a tagged answer shows it still works. */
  private failure: string | undefined;
  /** A LOGOUT completed: a BYE after it is the expected goodbye, not a failure. */
  private loggedOut = false;

  constructor(
    private readonly bounds: SummaryBounds,
    private readonly report: (done: FinishedCommand) => void,
    /** Told when the connection failed with no command running (a drop while nothing was asked). */
    private readonly reportConnection: (error: string, at: number) => void,
  ) {}

  /** A line the client sent. */
  client(line: string, now: number): void {
    const match = COMMAND_LINE.exec(line);
    if (!match || this.running.has(match[1]!)) return; // a continuation, DONE, or a line already seen
    if (this.running.size >= MAX_RUNNING) {
      const [oldest] = this.running.values();
      this.finish(oldest!, now, undefined, 'No tagged response was seen for this command');
    }
    const tag = match[1]!;
    this.running.set(tag, { tag, raw: line, startedAt: now, untagged: new UntaggedSummary(this.bounds), ...parseCommand(line.slice(tag.length + 1)) });
  }

  /** A line the server sent. */
  server(line: string, now: number): void {
    const [tag, rest] = splitWord(line);
    if (tag === '+') return;
    if (tag === '*') {
      const current = this.current();
      if (/^BYE\b/i.test(rest)) this.bye = rest;
      current?.untagged.add(line);
      return;
    }
    const command = this.running.get(tag);
    if (!command) return;
    // A tagged answer: whatever error was logged before, the connection still works.
    this.failure = undefined;
    const [status] = splitWord(rest);
    const failed = /^(NO|BAD)$/i.test(status);
    this.finish(command, now, line, failed ? rest : undefined);
  }

  /** The connection reported an error (a socket error, a protocol failure). */
  failed(error: string): void {
    this.failure = error;
  }

  /** The connection closed: every command still running ends now, with the reason. */
  closed(now: number): void {
    const reason = this.failure ?? this.bye ?? 'Connection closed before the tagged response';
    const wasRunning = this.running.size > 0;
    for (const command of [...this.running.values()]) {
      // A LOGOUT answered by BYE has done its job even if the tagged OK never came.
      const benign = command.command === 'LOGOUT' && this.bye !== undefined && this.failure === undefined;
      this.finish(command, now, undefined, benign ? undefined : reason);
    }
    if (!wasRunning && this.failure !== undefined) this.reportConnection(this.failure, now);
    else if (!wasRunning && this.bye !== undefined && !this.loggedOut) this.reportConnection(this.bye, now);
  }

  private current(): Running | undefined {
    let last: Running | undefined;
    for (const command of this.running.values()) last = command;
    return last;
  }

  private finish(command: Running, now: number, tagged: string | undefined, error: string | undefined): void {
    this.running.delete(command.tag);
    if (command.command === 'LOGOUT') this.loggedOut = true;
    this.report({
      command: command.command,
      parsed: command.parsed,
      raw: command.raw,
      startedAt: command.startedAt,
      endedAt: now,
      tagged,
      untagged: command.untagged.render(),
      error,
    });
  }
}
