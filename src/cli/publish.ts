import { type PublisherError, createPublisher } from '../publisher/index.js';
import { COMMON_OPTIONS, type Parsed, parse, parseJson, parseLevel, parseNumber, SESSION_OPTIONS } from './args.js';
import { CliError, usageError } from './cli-error.js';
import { PUBLISH_HELP } from './help.js';
import { describeHttpError, requestJson, unreachable } from './http.js';
import { endpoint, serverUrl } from './server-url.js';
import { sessionCookie, sessionOptions } from './sign-in.js';

const OPTIONS = {
  ...COMMON_OPTIONS,
  ...SESSION_OPTIONS,
  token: { type: 'string' },
  user: { type: 'string' },
  // log
  account: { type: 'string' },
  command: { type: 'string' },
  level: { type: 'string' },
  raw: { type: 'string' },
  response: { type: 'string' },
  duration: { type: 'string' },
  error: { type: 'string' },
  parsed: { type: 'string' },
  // job
  job: { type: 'string' },
  status: { type: 'string' },
  progress: { type: 'string' },
  name: { type: 'string' },
  'failed-reason': { type: 'string' },
  data: { type: 'string' },
} as const;

type Values = Parsed<typeof OPTIONS>['values'];

export interface CommandIO {
  argv: string[];
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/**
 * Attempts of the one POST `publish` makes: a server restarting (503, a refused connection) gets a
 * second and third chance, a person at the terminal does not wait long for an answer.
 */
const CLI_ATTEMPTS = 3;

/** `livetail publish [log|job] ...`: one POST, one line of output. Returns the exit code. */
export async function publish(io: CommandIO): Promise<number> {
  const { values, positionals } = parse('publish', io.argv, OPTIONS, true);
  if (values.help) {
    io.stdout.write(PUBLISH_HELP);
    return 0;
  }
  const kind = positionals[0] ?? 'log';
  if (positionals.length > 1 || (kind !== 'log' && kind !== 'job')) {
    throw usageError(`publish takes "log" (the default) or "job", not ${JSON.stringify(positionals.join(' '))}`, 'publish');
  }
  const server = serverUrl(values.url, io.env);
  const auth = await credentials(server, values, io.env);
  if (kind === 'log') {
    const answer = (await publishLog(server, auth.headers, logBody(values, auth.userId))) as { logs: Array<{ id: string }> };
    io.stdout.write(values.json ? `${JSON.stringify(answer)}\n` : `published log ${answer.logs[0]?.id}\n`);
  } else {
    // A job event is not a log: one POST of its own.
    const event = jobBody(values, auth.userId);
    const res = await requestJson(endpoint(server, '/api/jobs/events'), { method: 'POST', headers: auth.headers, body: event });
    if (res.status !== 201) throw new CliError(`publish failed: ${describeHttpError(res)}`);
    io.stdout.write(values.json ? `${JSON.stringify(res.body)}\n` : `published job event ${event.jobId} ${event.status}\n`);
  }
  return 0;
}

/** Sends one log through livetail/publisher (retries and all) and returns the server's answer, or throws the CliError it deserves. */
async function publishLog(server: URL, headers: Record<string, string>, entry: ReturnType<typeof logBody>): Promise<unknown> {
  const publisher = createPublisher({ url: server.toString(), headers, maxAttempts: CLI_ATTEMPTS, giveUpAfterMs: 10_000, requestTimeoutMs: 15_000, closeTimeoutMs: 30_000 });
  let answer: string | undefined;
  let failure: PublisherError | undefined;
  publisher.on('sent', (sent) => (answer = sent.body));
  publisher.on('error', (error) => (failure ??= error));
  publisher.publish(entry);
  await publisher.close();
  if (failure) throw failureOf(server, failure);
  if (answer === undefined) throw new CliError('publish failed: no answer from the server in time');
  return JSON.parse(answer);
}

function failureOf(server: URL, error: PublisherError): CliError {
  if (error.status === undefined && error.details.reason !== undefined) return unreachable(server.toString(), error.details.reason);
  if (error.status === undefined) return new CliError(`publish failed: ${error.message}`);
  let body: unknown = error.body;
  try {
    body = error.body ? JSON.parse(error.body) : undefined;
  } catch {
    // Not JSON (a proxy's error page): describeHttpError shows the text.
  }
  return new CliError(`publish failed: ${describeHttpError({ status: error.status, body, headers: new Headers() })}`);
}

/**
 * The service token (with --user naming the owner), or a session. A token on the command line or in
 * INGEST_TOKEN wins; --email/--password/--cookie act as that user.
 */
async function credentials(server: URL, values: Values, env: NodeJS.ProcessEnv): Promise<{ headers: Record<string, string>; userId?: string }> {
  const session = sessionOptions(values, env);
  const signIn = session.email !== undefined;
  const token = values.token ?? (signIn || session.cookie ? undefined : env.INGEST_TOKEN);
  if (token) {
    if (!values.user) throw usageError('--user <user id> is required with the service token (the console shows your user id)', 'publish');
    return { headers: { authorization: `Bearer ${token}` }, userId: values.user };
  }
  if (!signIn && !session.cookie) {
    throw usageError('No credentials: set INGEST_TOKEN (or --token) with --user, or sign in with --email/--password or --cookie', 'publish');
  }
  const cookie = await sessionCookie(server, session);
  // A session acts as its own user; a --user here must match it (the server answers 403 otherwise).
  return { headers: { cookie, origin: values.origin ?? server.origin }, userId: values.user };
}

function logBody(values: Values, userId: string | undefined) {
  if (!values.account) throw usageError('--account <email account id> is required for a log', 'publish');
  if (!values.command) throw usageError('--command <name> is required for a log (e.g. FETCH)', 'publish');
  const data: Record<string, unknown> = {};
  if (values.raw !== undefined) data.raw = values.raw;
  if (values.parsed !== undefined) data.parsed = parseJson('parsed', values.parsed, 'publish');
  if (values.response !== undefined) data.response = values.response;
  if (values.duration !== undefined) data.duration = parseNumber('duration', values.duration, 'publish');
  if (values.error !== undefined) data.error = values.error;
  return {
    ...(userId ? { userId } : {}),
    emailAccountId: values.account,
    level: parseLevel(values.level, 'publish') ?? 'info',
    command: values.command,
    data,
  };
}

function jobBody(values: Values, userId: string | undefined) {
  if (!values.job) throw usageError('--job <job id> is required for a job event', 'publish');
  if (!values.status) throw usageError('--status <status> is required for a job event (e.g. active, completed, failed)', 'publish');
  const extra = parseJson('data', values.data, 'publish');
  if (extra !== undefined && (extra === null || typeof extra !== 'object' || Array.isArray(extra))) {
    throw usageError('--data must be a JSON object, e.g. {"queue":"imports"}', 'publish');
  }
  return {
    ...(extra as Record<string, unknown> | undefined),
    ...(userId ? { userId } : {}),
    jobId: values.job,
    status: values.status,
    ...(values.progress !== undefined ? { progress: parseNumber('progress', values.progress, 'publish', 0, 100) } : {}),
    ...(values.name !== undefined ? { name: values.name } : {}),
    ...(values['failed-reason'] !== undefined ? { failedReason: values['failed-reason'] } : {}),
  };
}
