import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ImapflowLoggerOptions, imapflowLogger } from '../../src/imapflow/index.js';
import type { LogEntry } from '../../src/protocol/index.js';
import { type Publisher, createPublisher } from '../../src/publisher/index.js';
import { Dovecot, dovecotAvailable } from '../helpers/dovecot.js';
import { signUp, type TestUser } from '../helpers/http.js';
import { INGEST_TOKEN, type TestServer, startTestServer } from '../helpers/server.js';
import { TestSocket } from '../helpers/ws-client.js';
import { TcpProxy } from '../multinode/tcp-proxy.js';

const PASSWORD = 'dovecot-pass-7f3a9c';
const ALICE = { user: 'alice', password: PASSWORD };
const MESSAGE = 'From: a@example.com\r\nTo: alice@example.com\r\nSubject: hello from the test\r\n\r\nbody\r\n';

/** The password and its SASL PLAIN encoding: neither may reach livetail in any form. */
const SECRETS = [PASSWORD, Buffer.from(`\0alice\0${PASSWORD}`).toString('base64')];

function isSubsequence(wanted: string[], all: string[]): boolean {
  let i = 0;
  for (const item of all) if (item === wanted[i]) i++;
  return i === wanted.length;
}

describe.skipIf(!dovecotAvailable())('livetail/imapflow against a real Dovecot', () => {
  let dovecot: Dovecot;
  let server: TestServer;
  const cleanups: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    [dovecot, server] = await Promise.all([Dovecot.start([ALICE]), startTestServer()]);
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    await Promise.all([dovecot?.stop(), server?.close()]);
  });

  /** A signed-up user following their logs, a publisher, and an ImapFlow client logging through the adapter. */
  async function session(overrides: Partial<ImapFlowOptions> = {}, port = dovecot.port, adapter: Partial<ImapflowLoggerOptions> = {}) {
    const user = await signUp(server.url);
    const socket = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    const publisher = createPublisher({ url: server.url, token: INGEST_TOKEN });
    // What ImapFlow itself logged as sent, through the adapter's pass-through: the commands' tags and names, continuations left out.
    const sent: string[] = [];
    const record = (call: { src?: string; msg?: string }) => {
      if (call.src === 'c' && /^\w+ [A-Z]/.test(call.msg ?? '')) sent.push(call.msg!.split(' ').slice(0, 2).join(' '));
    };
    const logger = imapflowLogger({ sink: publisher, userId: user.userId, emailAccountId: 'alice@dovecot.test', logger: { debug: record }, ...adapter });
    const client = new ImapFlow({
      host: '127.0.0.1',
      port,
      secure: false,
      auth: { user: ALICE.user, pass: ALICE.password },
      logger,
      disableAutoIdle: true,
      ...overrides,
    });
    client.on('error', () => {}); // a dropped connection is reported here too; the test reads the entries
    cleanups.push(() => socket.close(), () => publisher.close(), async () => client.close());
    return { user, socket, publisher, logger, client, sent };
  }

  /** Flushes the publisher and waits until the user's socket received every entry the adapter made. */
  async function received(s: { socket: TestSocket; publisher: Publisher; logger: { stats(): { entries: number } } }): Promise<LogEntry[]> {
    await s.publisher.flush();
    const messages = await s.socket.until('log', s.logger.stats().entries);
    return messages.map((m) => m.log);
  }

  const commands = (logs: LogEntry[]) => logs.map((l) => l.command);
  const one = (logs: LogEntry[], predicate: (l: LogEntry) => boolean) => {
    const found = logs.filter(predicate);
    expect(found).toHaveLength(1);
    return found[0]!;
  };

  it('streams a scripted session to the user socket: one entry per command, in order, with durations, redacted credentials and the NO', async () => {
    const s = await session({ auth: { user: ALICE.user, pass: ALICE.password, loginMethod: 'LOGIN' } }, dovecot.port, { fetchResponses: true });
    const { client } = s;
    await client.connect();
    await client.list();
    await client.mailboxOpen('INBOX');
    await client.append('INBOX', MESSAGE, ['\\Seen']);
    for await (const _message of client.fetch('1:*', { flags: true, envelope: true })) {
      // draining the rows
    }
    expect(await client.search({ subject: 'hello' })).toEqual([1]);
    await expect(client.mailboxOpen('No/Such/Mailbox')).rejects.toThrow();
    await client.mailboxOpen('INBOX');
    const idling = client.idle();
    await new Promise((resolve) => setTimeout(resolve, 150)); // how long IDLE lasts is the point here
    await client.noop(); // breaks IDLE with DONE
    await idling;
    await client.logout();

    const logs = await received(s);
    // One entry per command ImapFlow sent, in the order sent (its own ID, NAMESPACE, ENABLE, LSUB and LISTs included)…
    expect(logs.map((l) => l.data.raw!.split(' ').slice(0, 2).join(' '))).toEqual(s.sent);
    // …among them the script's.
    const scripted = ['LOGIN', 'LIST', 'SELECT', 'APPEND', 'FETCH', 'SEARCH', 'SELECT', 'SELECT', 'IDLE', 'NOOP', 'LOGOUT'];
    expect(isSubsequence(scripted, commands(logs))).toBe(true);
    for (const log of logs) {
      expect(log).toMatchObject({ emailAccountId: 'alice@dovecot.test', userId: s.user.userId });
      expect(log.data.duration).toBeGreaterThanOrEqual(0);
      expect(log.data.duration).toBeLessThan(10_000);
    }

    const login = one(logs, (l) => l.command === 'LOGIN');
    expect(login.data.raw).toMatch(/^\w+ LOGIN "alice" \*\*\*\*$/);
    expect(login.data.parsed).toEqual({ user: 'alice' });
    expect(login).toMatchObject({ level: 'info', data: { error: null } });
    expect(login.data.response).toMatch(/^\w+ OK .*Logged in/);

    const append = one(logs, (l) => l.command === 'APPEND');
    expect(append.data.parsed).toEqual({ mailbox: 'INBOX', flags: ['\\Seen'], bytes: Buffer.byteLength(MESSAGE) });
    expect(append.data.response).toMatch(/OK \[APPENDUID \d+ 1\]/);

    const fetch = one(logs, (l) => l.command === 'FETCH');
    expect(fetch.data.parsed).toMatchObject({ sequence: '1:*', uid: false, items: expect.arrayContaining(['FLAGS', 'ENVELOPE']) });
    expect(fetch.data.response).toMatch(/^\w+ OK Fetch completed.*\n\* 1 FETCH \(.*"hello from the test"/s);

    const search = one(logs, (l) => l.command === 'SEARCH');
    expect(search.data.response).toContain('* SEARCH 1');

    const failed = one(logs, (l) => l.level === 'error');
    expect(failed).toMatchObject({ command: 'SELECT', data: { parsed: { mailbox: 'No/Such/Mailbox' } } });
    expect(failed.data.error).toMatch(/^NO .*(doesn't exist|not exist|invalid)/i);

    const idle = one(logs, (l) => l.command === 'IDLE');
    expect(idle.data.duration).toBeGreaterThanOrEqual(140);
    expect(idle.data.response).toMatch(/^\w+ OK Idle completed/);

    const logout = one(logs, (l) => l.command === 'LOGOUT');
    expect(logout).toMatchObject({ level: 'info', data: { error: null } });
    expect(logout.data.response).toContain('* BYE');

    const everything = JSON.stringify(s.socket.messages);
    for (const secret of SECRETS) expect(everything).not.toContain(secret);
    expect(dovecot.log()).toContain('Login: user=<alice>, method=PLAIN'); // Dovecot's name for LOGIN's check
  });

  it('keeps AUTHENTICATE PLAIN credentials out of every entry', async () => {
    const s = await session(); // Dovecot offers AUTH=PLAIN, which ImapFlow prefers
    await s.client.connect();
    await s.client.logout();
    const logs = await received(s);
    const auth = one(logs, (l) => l.command === 'AUTHENTICATE');
    expect(auth.data.raw).toMatch(/^\w+ AUTHENTICATE PLAIN$/);
    expect(auth.data.parsed).toEqual({ mechanism: 'PLAIN' });
    const everything = JSON.stringify(s.socket.messages);
    for (const secret of SECRETS) expect(everything).not.toContain(secret);
  });

  it('logs a command still running when the connection drops, with the error', async () => {
    const proxy = await TcpProxy.start([{ host: '127.0.0.1', port: dovecot.port }]);
    cleanups.push(() => proxy.close());
    const s = await session({}, proxy.port);
    await s.client.connect();
    await s.client.mailboxOpen('INBOX');
    const closed = new Promise((resolve) => s.client.once('close', resolve));
    const idling = s.client.idle().catch((error: Error) => error);
    await new Promise((resolve) => setTimeout(resolve, 50)); // IDLE on the wire
    await proxy.close(); // the network drops
    await closed;
    await idling;
    const logs = await received(s);
    const idle = one(logs, (l) => l.command === 'IDLE');
    expect(idle).toMatchObject({ level: 'error', data: { error: expect.stringMatching(/connection/i) } });
    expect(idle.data.response).toBeUndefined();
    expect(commands(logs).at(-1)).toBe('IDLE');
  });

  it('logs into the embedded server through lt.logs, the in-process API', async () => {
    const user: TestUser = await signUp(server.url);
    const socket = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    const logger = imapflowLogger({ sink: server.node.app.logs, userId: user.userId, emailAccountId: 'alice@dovecot.test' });
    const client = new ImapFlow({ host: '127.0.0.1', port: dovecot.port, secure: false, auth: { user: ALICE.user, pass: ALICE.password }, logger, disableAutoIdle: true });
    cleanups.push(() => socket.close(), async () => client.close());
    await client.connect();
    await client.mailboxOpen('INBOX');
    await client.append('INBOX', MESSAGE);
    await client.fetchOne('*', { flags: true });
    await client.logout();
    const logs = (await socket.until('log', logger.stats().entries)).map((m) => m.log);
    expect(commands(logs)).toEqual(expect.arrayContaining(['AUTHENTICATE', 'SELECT', 'APPEND', 'FETCH', 'LOGOUT']));
    expect(logger.stats().sinkErrors).toBe(0);
    // By default FETCH rows are not followed (ImapFlow would format each one for the logger): the tagged line only.
    expect(one(logs, (l) => l.command === 'FETCH').data.response).toMatch(/^\w+ OK Fetch completed[^\n]*$/);
  });

  it('reports a refused login as an error entry with the server text', async () => {
    const s = await session({ auth: { user: ALICE.user, pass: 'wrong-password-123', loginMethod: 'LOGIN' } });
    await expect(s.client.connect()).rejects.toThrow();
    const logs = await received(s);
    const login = one(logs, (l) => l.command === 'LOGIN');
    expect(login.level).toBe('error');
    expect(login.data.error).toMatch(/^NO .*Authentication failed/i);
    expect(JSON.stringify(s.socket.messages)).not.toContain('wrong-password-123');
  });
});
