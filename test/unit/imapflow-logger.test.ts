import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../src/imapflow/command-parser.js';
import { type CapturedEntry, type ImapflowLoggerOptions, imapflowLogger } from '../../src/imapflow/index.js';

/**
 * The adapter fed the calls ImapFlow makes (shapes read from imapflow's source: `{ src: 'c' | 's', msg, cid }`
 * for traffic, `{ err, cid }` for connection errors, `{ msg: 'Connection closed', cid }` at the end), with
 * a clock the test moves and a sink that keeps what it is given.
 */
function harness(options: Partial<ImapflowLoggerOptions> = {}) {
  const entries: CapturedEntry[] = [];
  let now = 1000;
  const logger = imapflowLogger({ sink: { publish: (e) => entries.push(e) }, userId: 'u1', emailAccountId: 'acct', now: () => now, fetchResponses: true, ...options });
  const cid = 'conn-1';
  return {
    entries,
    logger,
    advance: (ms: number) => (now += ms),
    client: (msg: string) => logger.debug({ src: 'c', msg, cid }),
    server: (msg: string, level: 'debug' | 'trace' = 'debug') => logger[level]!({ src: 's', msg, cid }),
    error: (err: unknown) => logger.error({ err, cid }),
    closed: () => logger.debug({ msg: 'Connection closed', cid }),
  };
}

describe('imapflowLogger', () => {
  it('makes one entry per tagged command, with its response, duration and level', () => {
    const h = harness();
    h.client('A1 SELECT INBOX');
    h.server('* 3 EXISTS');
    h.server('* OK [UIDVALIDITY 42] UIDs valid');
    h.advance(12.5);
    h.server('A1 OK [READ-WRITE] Select completed');
    expect(h.entries).toEqual([
      {
        userId: 'u1',
        emailAccountId: 'acct',
        level: 'info',
        command: 'SELECT',
        data: {
          raw: 'A1 SELECT INBOX',
          parsed: { mailbox: 'INBOX' },
          response: 'A1 OK [READ-WRITE] Select completed\n* 3 EXISTS\n* OK [UIDVALIDITY 42] UIDs valid',
          duration: 12.5,
          error: null,
        },
      },
    ]);
  });

  it('logs NO and BAD at error with their text', () => {
    const h = harness();
    h.client('A1 SELECT Missing');
    h.server('A1 NO [NONEXISTENT] Mailbox does not exist');
    h.client('A2 FOO');
    h.server('A2 BAD Unknown command');
    expect(h.entries.map((e) => [e.command, e.level, e.data!.error])).toEqual([
      ['SELECT', 'error', 'NO [NONEXISTENT] Mailbox does not exist'],
      ['FOO', 'error', 'BAD Unknown command'],
    ]);
  });

  describe('credentials', () => {
    it('masks a LOGIN password logged in clear, wherever it would appear', () => {
      const h = harness();
      h.client('A1 LOGIN "alice" "hunter2-secret"');
      h.server('A1 NO [AUTHENTICATIONFAILED] Invalid credentials for hunter2-secret');
      const [entry] = h.entries;
      expect(entry!.data!.raw).toBe('A1 LOGIN "alice" ****');
      expect(entry!.data!.parsed).toEqual({ user: 'alice' });
      expect(JSON.stringify(h.entries)).not.toContain('hunter2-secret');
    });

    it('masks the initial response of AUTHENTICATE XOAUTH2 and never keeps its continuation lines', () => {
      const token = Buffer.from('user=alice\x01auth=Bearer ya29.secret-token\x01\x01').toString('base64');
      const h = harness();
      h.client(`A1 AUTHENTICATE XOAUTH2 ${token}`);
      h.server('A1 OK Logged in');
      h.client('A2 AUTHENTICATE PLAIN');
      h.server('+ ');
      h.client(Buffer.from('\0alice\0clear-password').toString('base64')); // the SASL response, a continuation
      h.server('A2 OK Logged in');
      expect(h.entries.map((e) => e.data!.raw)).toEqual(['A1 AUTHENTICATE XOAUTH2 ****', 'A2 AUTHENTICATE PLAIN']);
      expect(h.entries.map((e) => e.data!.parsed)).toEqual([{ mechanism: 'XOAUTH2' }, { mechanism: 'PLAIN' }]);
      const all = JSON.stringify(h.entries);
      expect(all).not.toContain(token);
      expect(all).not.toContain('ya29');
      expect(all).not.toContain(Buffer.from('\0alice\0clear-password').toString('base64'));
    });

    it('redacts message contents in untagged FETCH data', () => {
      const h = harness();
      h.client('A1 FETCH 1 (BODY[TEXT])');
      h.server('* 1 FETCH (BODY[TEXT] "the private body")', 'trace');
      h.server('A1 OK Fetch completed');
      expect(h.entries[0]!.data!.response).not.toContain('the private body');
      expect(h.entries[0]!.data!.response).toContain('[MESSAGE CONTENT REDACTED]');
    });
  });

  it('keeps the untagged data of a large FETCH bounded: the first lines, then a count', () => {
    const h = harness();
    h.client('A1 UID FETCH 1:* (FLAGS)');
    for (let i = 1; i <= 5000; i++) h.server(`* ${i} FETCH (UID ${i} FLAGS (\\Seen))`, 'trace');
    h.server('* 5001 EXISTS');
    h.server('A1 OK Fetch completed');
    const lines = h.entries[0]!.data!.response!.split('\n');
    expect(lines).toHaveLength(1 + 10 + 1);
    expect(lines[1]).toBe('* 1 FETCH (UID 1 FLAGS (\\Seen))');
    expect(lines.at(-1)).toBe('… and 4,991 more untagged: FETCH 4,990, EXISTS 1');
    expect(h.entries[0]!.data!.parsed).toEqual({ sequence: '1:*', items: ['FLAGS'], uid: true });
  });

  it('makes IDLE one entry from its line to the tagged completion after DONE', () => {
    const h = harness();
    h.client('A5 IDLE');
    h.server('+ idling');
    h.advance(1000);
    h.server('* 4 EXISTS');
    h.advance(500);
    h.client('DONE');
    h.server('A5 OK Idle completed');
    expect(h.entries).toHaveLength(1);
    expect(h.entries[0]).toMatchObject({ command: 'IDLE', level: 'info', data: { duration: 1500, response: 'A5 OK Idle completed\n* 4 EXISTS', error: null } });
  });

  describe('when the connection ends', () => {
    it('logs the command still running with the connection error', () => {
      const h = harness();
      h.client('A7 IDLE');
      h.server('+ idling');
      h.advance(30);
      h.error(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
      h.closed();
      expect(h.entries).toEqual([expect.objectContaining({ command: 'IDLE', level: 'error', data: expect.objectContaining({ duration: 30, error: 'read ECONNRESET' }) })]);
    });

    it('gives a running command the text of the BYE that preceded the close', () => {
      const h = harness();
      h.client('A1 FETCH 1:* (FLAGS)');
      h.server('* BYE Server shutting down');
      h.closed();
      expect(h.entries[0]).toMatchObject({ level: 'error', data: { error: 'BYE Server shutting down', response: '* BYE Server shutting down' } });
    });

    it('does not count a LOGOUT answered by BYE as failed, nor a BYE after it', () => {
      const h = harness();
      h.client('A9 LOGOUT');
      h.server('* BYE Logging out');
      h.closed();
      expect(h.entries.map((e) => [e.command, e.level, e.data!.error])).toEqual([['LOGOUT', 'info', null]]);
    });

    it('reports a connection that failed while no command ran as a CONNECTION entry', () => {
      const h = harness();
      h.error(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:143'), { code: 'ECONNREFUSED' }));
      h.closed();
      expect(h.entries).toEqual([{ userId: 'u1', emailAccountId: 'acct', level: 'error', command: 'CONNECTION', data: { error: 'connect ECONNREFUSED 127.0.0.1:143' } }]);
    });

    it('forgets an error the connection recovered from (a tagged answer came after it)', () => {
      const h = harness();
      h.error(new Error('Failed to process untagged response'));
      h.client('A1 NOOP');
      h.server('A1 OK NOOP completed');
      h.closed();
      expect(h.entries.map((e) => e.command)).toEqual(['NOOP']);
    });
  });

  it('follows several connections of one logger apart, by cid', () => {
    const h = harness();
    h.logger.debug({ src: 'c', msg: '1 SELECT A', cid: 'x' });
    h.logger.debug({ src: 'c', msg: '1 SELECT B', cid: 'y' });
    h.logger.debug({ src: 's', msg: '1 OK done', cid: 'y' });
    h.logger.debug({ src: 's', msg: '1 OK done', cid: 'x' });
    expect(h.entries.map((e) => (e.data!.parsed as { mailbox: string }).mailbox)).toEqual(['B', 'A']);
  });

  it('logs chatter at chatterLevel, and builds nothing under minLevel', () => {
    const h = harness({ chatterLevel: 'debug' });
    h.client('A1 NOOP');
    h.server('A1 OK');
    h.client('A2 CAPABILITY');
    h.server('A2 OK');
    h.client('A3 SELECT INBOX');
    h.server('A3 OK');
    expect(h.entries.map((e) => [e.command, e.level])).toEqual([
      ['NOOP', 'debug'],
      ['CAPABILITY', 'debug'],
      ['SELECT', 'info'],
    ]);
    const quiet = harness({ chatterLevel: 'debug', minLevel: 'info' });
    quiet.client('A1 NOOP');
    quiet.server('A1 OK');
    expect(quiet.entries).toEqual([]);
    expect(quiet.logger.stats().entries).toBe(0);
  });

  it('has no trace method unless FETCH responses are followed (the default), so ImapFlow does not format them', () => {
    const sink = { publish() {} };
    expect(imapflowLogger({ sink, userId: 'u', emailAccountId: 'a' }).trace).toBeUndefined();
    expect(typeof imapflowLogger({ sink, userId: 'u', emailAccountId: 'a', fetchResponses: true }).trace).toBe('function');
    // Your logger asking for trace gets it, and the adapter then follows the rows it sees.
    expect(typeof imapflowLogger({ sink, userId: 'u', emailAccountId: 'a', logger: { trace() {} } }).trace).toBe('function');
    expect(imapflowLogger({ sink, userId: 'u', emailAccountId: 'a', logger: { trace() {}, isLevelEnabled: () => false } }).trace).toBeUndefined();
  });

  describe('never throws into ImapFlow', () => {
    it('survives a sink whose publish() throws and one whose log() rejects, reporting both to onError', async () => {
      const errors: unknown[] = [];
      const throwing = imapflowLogger({ sink: { publish: () => { throw new Error('boom'); } }, userId: 'u', emailAccountId: 'a', onError: (e) => errors.push(e) });
      const rejecting = imapflowLogger({ sink: { log: () => Promise.reject(new Error('store unavailable')) }, userId: 'u', emailAccountId: 'a', onError: (e) => errors.push(e) });
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        for (const logger of [throwing, rejecting]) {
          expect(() => {
            logger.debug({ src: 'c', msg: 'A1 NOOP', cid: 'c' });
            logger.debug({ src: 's', msg: 'A1 OK', cid: 'c' });
          }).not.toThrow();
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
        expect(errors.map((e) => (e as Error).message)).toEqual(['boom', 'store unavailable']);
        expect(throwing.stats()).toEqual({ entries: 1, sinkErrors: 1 });
        expect(unhandled).toEqual([]);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    });

    it('ignores calls it cannot read and survives your logger throwing', () => {
      const calls: unknown[][] = [];
      const h = harness({ logger: { debug: (...args: unknown[]) => { calls.push(args); throw new Error('inner'); } } });
      expect(() => {
        h.logger.debug('a string, not an object');
        h.logger.debug(null);
        h.logger.info({ msg: 'Established TCP connection', cid: 'conn-1' });
        h.logger.warn({ err: new Error('Command failed'), cid: 'conn-1' });
        h.client('A1 NOOP');
      }).not.toThrow();
      expect(calls).toEqual([['a string, not an object'], [null], [{ src: 'c', msg: 'A1 NOOP', cid: 'conn-1' }]]);
    });

    it('refuses a missing sink or identity at creation, with a message naming it', () => {
      expect(() => imapflowLogger({ sink: {} as never, userId: 'u', emailAccountId: 'a' })).toThrow(/needs a sink/);
      expect(() => imapflowLogger({ sink: { publish() {} }, userId: '', emailAccountId: 'a' })).toThrow(/userId/);
      expect(() => imapflowLogger({ sink: { publish() {} }, userId: 'u', emailAccountId: '' })).toThrow(/emailAccountId/);
    });
  });
});

describe('parseCommand', () => {
  it.each([
    ['UID FETCH 1:100 (UID FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.512>) (CHANGEDSINCE 7)', 'FETCH', { uid: true, sequence: '1:100', items: ['UID', 'FLAGS', 'BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.512>'], modifiers: '(CHANGEDSINCE 7)' }],
    ['FETCH 5 ALL', 'FETCH', { uid: false, sequence: '5', items: ['ALL'] }],
    ['UID STORE 4 (UNCHANGEDSINCE 9) +FLAGS.SILENT (\\Seen \\Flagged)', 'STORE', { uid: true, sequence: '4', modifiers: '(UNCHANGEDSINCE 9)', action: '+FLAGS.SILENT', flags: ['\\Seen', '\\Flagged'] }],
    ['UID MOVE 1,3:5 "Archive/2024"', 'MOVE', { uid: true, sequence: '1,3:5', mailbox: 'Archive/2024' }],
    ['COPY 2 Trash', 'COPY', { uid: false, sequence: '2', mailbox: 'Trash' }],
    ['UID EXPUNGE 1:3', 'EXPUNGE', { uid: true, sequence: '1:3' }],
    ['EXPUNGE', 'EXPUNGE', { uid: false }],
    ['UID SEARCH RETURN (ALL) SUBJECT "hello world" SINCE 1-Jan-2024', 'SEARCH', { uid: true, criteria: 'RETURN (ALL) SUBJECT hello world SINCE 1-Jan-2024' }],
    ['STATUS "INBOX" (MESSAGES UIDNEXT)', 'STATUS', { mailbox: 'INBOX', items: ['MESSAGES', 'UIDNEXT'] }],
    ['LIST (SPECIAL-USE) "" "*" RETURN (STATUS (MESSAGES))', 'LIST', { selection: ['SPECIAL-USE'], reference: '', pattern: '*', return: ['STATUS', '(MESSAGES)'] }],
    ['RENAME "Old" "New"', 'RENAME', { mailbox: 'Old', newMailbox: 'New' }],
    ['APPEND "Sent" (\\Seen) "14-Jul-2024 02:44:25 +0000" "(* 2048B literal *)"', 'APPEND', { mailbox: 'Sent', flags: ['\\Seen'], internalDate: '14-Jul-2024 02:44:25 +0000', bytes: 2048 }],
    ['EXAMINE Drafts', 'EXAMINE', { mailbox: 'Drafts' }],
    ['ENABLE CONDSTORE QRESYNC', 'ENABLE', { capabilities: ['CONDSTORE', 'QRESYNC'] }],
    ['login alice secret', 'LOGIN', { user: 'alice' }],
    ['XUNKNOWN a b c', 'XUNKNOWN', {}],
  ])('reads %s', (line, command, parsed) => {
    expect(parseCommand(line)).toEqual({ command, parsed });
  });
});
