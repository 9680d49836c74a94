import { createClient } from '../client/index.js';
import { passesLevel } from '../logs/levels.js';
import { clockTime } from '../util/local-time.js';
import type { LogEntry } from '../protocol/log-entry.js';
import { COMMON_OPTIONS, parse, parseLevel, SESSION_OPTIONS } from './args.js';
import { EXIT } from './cli-error.js';
import { colors, shouldColor } from './colors.js';
import { formatJobLine, formatLogLine } from './format-line.js';
import { TAIL_HELP } from './help.js';
import type { CommandIO } from './publish.js';
import { serverUrl, socketUrl } from './server-url.js';
import { sessionCookie, sessionOptions } from './sign-in.js';

const OPTIONS = {
  ...COMMON_OPTIONS,
  ...SESSION_OPTIONS,
  level: { type: 'string' },
  account: { type: 'string', multiple: true },
  since: { type: 'string' },
  jobs: { type: 'boolean' },
  color: { type: 'boolean' },
  'no-color': { type: 'boolean' },
} as const;

export interface TailIO extends CommandIO {
  /** Where Ctrl-C comes from: process in production, an emitter in tests. */
  signals: { once(signal: 'SIGINT' | 'SIGTERM', listener: () => void): unknown; off(signal: 'SIGINT' | 'SIGTERM', listener: () => void): unknown };
}

/**
 * `livetail tail`: signs in, then prints every log of the user as it arrives, through the SDK (which
 * reconnects and resumes after the last delivered log). Resolves with the exit code when Ctrl-C stops
 * it (0) or the session ends (3).
 */
export async function tail(io: TailIO): Promise<number> {
  const { values } = parse('tail', io.argv, OPTIONS);
  if (values.help) {
    io.stdout.write(TAIL_HELP);
    return EXIT.OK;
  }
  const minLevel = parseLevel(values.level, 'tail');
  const accounts = values.account?.length ? new Set(values.account) : undefined;
  const server = serverUrl(values.url, io.env);
  const colorFlag = values['no-color'] ? false : values.color;
  const out = colors(!values.json && shouldColor(colorFlag, io.stdout as { isTTY?: boolean }, io.env));
  const err = colors(shouldColor(colorFlag, io.stderr as { isTTY?: boolean }, io.env));
  const say = (text: string) => io.stderr.write(`${err.dim(text)}\n`);

  const cookie = await sessionCookie(server, sessionOptions(values, io.env));

  const wanted = (log: LogEntry) => (!minLevel || passesLevel(log.level, minLevel)) && (!accounts || accounts.has(log.emailAccountId));
  const client = createClient({ url: socketUrl(server), headers: { cookie }, ...(values.since ? { since: values.since } : {}) });

  return new Promise<number>((resolve) => {
    let connectedOnce = false;
    const stop = (code: number) => {
      io.signals.off('SIGINT', onSignal);
      io.signals.off('SIGTERM', onSignal);
      client.close();
      resolve(code);
    };
    const onSignal = () => stop(EXIT.OK);
    io.signals.once('SIGINT', onSignal);
    io.signals.once('SIGTERM', onSignal);
    // `livetail tail | head`: the reader went away, which is a normal way to stop.
    io.stdout.on('error', () => stop(EXIT.OK));

    client.on('log', (log) => {
      if (!wanted(log)) return;
      io.stdout.write(values.json ? `${JSON.stringify(log)}\n` : `${formatLogLine(log, out)}\n`);
    });
    if (values.jobs) {
      client.on('job-event', (event) => {
        io.stdout.write(values.json ? `${JSON.stringify({ type: 'job-event', data: event })}\n` : `${formatJobLine(event, out)}\n`);
      });
    }
    client.on('logs-cleared', () => say('-- logs cleared --'));
    client.on('reset', () => say('-- the server no longer has the logs after the last one shown; continuing from its latest logs --'));
    client.on('error', (error) => {
      if (error.code === 'PROTOCOL_ERROR') say(`server error: ${error.message}`);
      // A refused upgrade says why (503…); 401, 403 and 429 are explained by the state that follows
      // (with the server's reason), and a plain socket failure by the "reconnecting" line.
      else if (error.code === 'UPGRADE_REFUSED' && !/\b(401|403|429)\b/.test(error.message)) say(`connection refused: ${error.message}`);
    });
    client.on('state', (state) => {
      if (state.state === 'open') {
        say(connectedOnce ? 'reconnected: resuming after the last log shown' : `following ${server.origin} (Ctrl-C to stop)`);
        connectedOnce = true;
      } else if (state.state === 'reconnecting') {
        const seconds = state.retryAt === undefined ? undefined : Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
        say(`connection lost: reconnecting${seconds === undefined ? '' : ` in ${seconds} s`}${state.attempt ? ` (attempt ${state.attempt})` : ''}`);
      } else if (state.state === 'rate-limited') {
        const at = state.retryAt === undefined ? 'later' : `at ${clockTime(state.retryAt)}`;
        say(`too many connection attempts: retrying ${at}`);
      } else if (state.state === 'forbidden') {
        io.stderr.write(`livetail tail: ${err.red(`refused by the server: ${state.reason?.message ?? 'origin not allowed'}`)}\n`);
        stop(EXIT.FAILURE);
      } else if (state.state === 'unauthenticated') {
        // Refused at the first connect: the credentials never worked. Later: the session ended under us.
        if (!connectedOnce) {
          io.stderr.write(`livetail tail: ${err.red('not signed in: the session cookie is invalid or expired (sign in with --email and --password)')}\n`);
          return stop(EXIT.FAILURE);
        }
        io.stderr.write(`${err.red('session ended: signed out, revoked or expired. Sign in again.')}\n`);
        stop(EXIT.SESSION_ENDED);
      }
    });
  });
}
