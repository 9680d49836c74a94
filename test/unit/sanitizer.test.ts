import { describe, expect, it } from 'vitest';
import { CONTENT_REDACTED, MASK, sanitizeEntry, sanitizeJobEvent, sanitizeLine, sanitizeParsed } from '../../src/sanitizer/sanitizer.js';

const line = (text: string) => sanitizeLine(text).text;
const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

describe('sanitizeLine', () => {
  describe('LOGIN', () => {
    it('masks an atom password', () => {
      expect(line('A001 LOGIN alice hunter2')).toBe(`A001 LOGIN alice ${MASK}`);
    });
    it('masks a quoted password with spaces and escapes', () => {
      expect(line('A001 LOGIN "alice@example.com" "p a\\"ss"')).toBe(`A001 LOGIN "alice@example.com" ${MASK}`);
    });
    it('masks a literal password', () => {
      expect(line('A001 LOGIN {5}\r\nalice {8}\r\nsecret!!')).toBe(`A001 LOGIN {5}\r\nalice ${MASK}`);
    });
    it('is case-insensitive and works without a tag', () => {
      expect(line('login bob s3cr3t')).toBe(`login bob ${MASK}`);
    });
    it('reports the secret so it can be scrubbed elsewhere', () => {
      expect(sanitizeLine('A1 LOGIN bob "s3 cret"').secrets).toContain('s3 cret');
    });
    it('leaves a LOGIN with no password alone', () => {
      expect(line('A1 LOGIN')).toBe('A1 LOGIN');
    });

    describe('literals count UTF-8 bytes, not characters', () => {
      it('masks the password after a user literal of CJK characters', () => {
        expect(line('A1 LOGIN {6}\r\n李雷 {8}\r\nhunter22')).toBe(`A1 LOGIN {6}\r\n李雷 ${MASK}`);
      });
      it('masks the password after a user literal of two-byte characters and keeps the next command intact', () => {
        expect(line('A1 LOGIN {6}\r\nbøbø {8}\r\nhunter22\r\nA2 SELECT INBOX')).toBe(`A1 LOGIN {6}\r\nbøbø ${MASK}\r\nA2 SELECT INBOX`);
      });
      it('masks a UTF-8 password literal whole, with an emoji (four bytes) in it', () => {
        const password = 'pässwörd😀';
        const out = line(`A1 LOGIN bob {${Buffer.byteLength(password)}}\r\n${password}\r\nA2 NOOP`);
        expect(out).toBe(`A1 LOGIN bob ${MASK}\r\nA2 NOOP`);
      });
      it('reads LITERAL+ ({n+}) and literal8 (~{n}) arguments', () => {
        expect(line('A1 LOGIN {6+}\r\nbøbø {8+}\r\nhunter22')).toBe(`A1 LOGIN {6+}\r\nbøbø ${MASK}`);
        expect(line('A1 LOGIN ~{6}\r\nbøbø ~{8}\r\nhunter22')).toBe(`A1 LOGIN ~{6}\r\nbøbø ${MASK}`);
      });
      it('skips the server continuation a transcript shows after a synchronizing literal', () => {
        expect(line('A1 LOGIN {5}\r\n+ Ready\r\nalice {8}\r\n+ OK\r\nhunter22')).toBe(`A1 LOGIN {5}\r\n+ Ready\r\nalice ${MASK}`);
      });
      it('reports the password literal content as a secret', () => {
        expect(sanitizeLine('A1 LOGIN {6}\r\n李雷 {8}\r\nhunter22').secrets).toContain('hunter22');
      });
    });

    describe('malformed lines hide more, never less', () => {
      it('masks what follows the password on its line', () => {
        expect(line('A1 LOGIN bob hunter22 trailing junk\r\nA2 NOOP')).toBe(`A1 LOGIN bob ${MASK}\r\nA2 NOOP`);
      });
      it('masks the rest of the line after a user literal that announces too few bytes', () => {
        expect(line('A1 LOGIN {3}\r\nalice hunter22')).toBe(`A1 LOGIN {3}\r\nali${MASK}`);
      });
      it('masks a user literal or quoted string that runs past the end (it swallowed the password)', () => {
        expect(line('A1 LOGIN {100}\r\nalice hunter22')).toBe(`A1 LOGIN ${MASK}`);
        expect(line('A1 LOGIN "alice hunter22')).toBe(`A1 LOGIN ${MASK}`);
      });
    });

    it('does not take capabilities for a LOGIN', () => {
      const text = '* CAPABILITY IMAP4rev1 AUTH=LOGIN AUTH=PLAIN LOGINDISABLED LOGIN-REFERRALS IDLE';
      expect(line(text)).toBe(text);
    });
  });

  describe('AUTHENTICATE', () => {
    it('masks the initial response', () => {
      expect(line('A2 AUTHENTICATE PLAIN AGFsaWNlAGh1bnRlcjI=')).toBe(`A2 AUTHENTICATE PLAIN ${MASK}`);
    });
    it('masks an XOAUTH2 bearer token', () => {
      const out = line('A2 AUTHENTICATE XOAUTH2 dXNlcj1hbGljZUBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZ');
      expect(out).toBe(`A2 AUTHENTICATE XOAUTH2 ${MASK}`);
    });
    it('keeps the mechanism when there is no initial response', () => {
      expect(line('A2 AUTHENTICATE PLAIN')).toBe('A2 AUTHENTICATE PLAIN');
    });

    const plain = base64('\0bob\0hunter22');
    it('masks the base64 the client sends on its own continuation line, and keeps the server lines', () => {
      expect(line(`A2 AUTHENTICATE PLAIN\r\n${plain}`)).toBe(`A2 AUTHENTICATE PLAIN\r\n${MASK}`);
      expect(line(`A2 AUTHENTICATE PLAIN\r\n+ \r\n${plain}\r\nA2 OK done\r\nA3 SELECT INBOX`)).toBe(
        `A2 AUTHENTICATE PLAIN\r\n+ \r\n${MASK}\r\nA2 OK done\r\nA3 SELECT INBOX`,
      );
    });
    it('reports the decoded PLAIN password, so copies of it are scrubbed', () => {
      expect(sanitizeLine(`A2 AUTHENTICATE PLAIN\r\n${plain}`).secrets).toEqual(expect.arrayContaining([plain, 'hunter22']));
    });
    it('masks both responses of the LOGIN mechanism and reports the decoded password', () => {
      const result = sanitizeLine(`A2 AUTHENTICATE LOGIN\r\n+ VXNlcm5hbWU6\r\n${base64('bob')}\r\n+ UGFzc3dvcmQ6\r\n${base64('hunter22')}`);
      expect(result.text).toBe(`A2 AUTHENTICATE LOGIN\r\n+ VXNlcm5hbWU6\r\n${MASK}\r\n+ UGFzc3dvcmQ6\r\n${MASK}`);
      expect(result.secrets).toContain('hunter22');
    });
    it('masks a quoted or literal initial response (SASL-IR)', () => {
      expect(line(`A2 AUTHENTICATE PLAIN "${plain}"`)).toBe(`A2 AUTHENTICATE PLAIN ${MASK}`);
      expect(line(`A2 AUTHENTICATE PLAIN {${plain.length}+}\r\n${plain}\r\nA3 NOOP`)).toBe(`A2 AUTHENTICATE PLAIN ${MASK}\r\nA3 NOOP`);
    });
    it('masks the continuation of a response that starts inside the exchange (sasl option)', () => {
      expect(sanitizeLine(`+ \r\n${plain}\r\nA2 OK`, { sasl: true }).text).toBe(`+ \r\n${MASK}\r\nA2 OK`);
      expect(sanitizeLine('A2 OK LOGIN completed', { sasl: true }).text).toBe('A2 OK LOGIN completed');
    });
  });

  describe('SASL messages, base64 or decoded', () => {
    const xoauth2 = 'user=bob@example.com\x01auth=Bearer ya29.a0AfH6SMBxLiveToken\x01\x01';
    const oauthbearer = 'n,a=bob@example.com,\x01host=imap.example.com\x01port=993\x01auth=Bearer ya29.a0AfH6SMBxLiveToken\x01\x01';
    it('masks the token of a decoded XOAUTH2 or OAUTHBEARER message', () => {
      expect(line(xoauth2)).toBe(`user=bob@example.com\x01auth=Bearer ${MASK}\x01\x01`);
      expect(line(oauthbearer)).not.toContain('ya29');
      expect(sanitizeLine(xoauth2).secrets).toContain('ya29.a0AfH6SMBxLiveToken');
    });
    it('masks XOAUTH2, OAUTHBEARER and PLAIN messages in base64 wherever they appear', () => {
      for (const message of [xoauth2, oauthbearer, '\0bob\0hunter22']) {
        const result = sanitizeLine(`auth failed for ${base64(message)} (retrying)`);
        expect(result.text).toBe(`auth failed for ${MASK} (retrying)`);
        expect(result.secrets.join(' ')).toMatch(/ya29\.a0AfH6SMBxLiveToken|hunter22/);
      }
    });
    it('masks the password of a decoded PLAIN message', () => {
      expect(line('\0bob\0hunter22')).toBe(`\0bob\0${MASK}`);
      expect(line('bob\0bob\0hunter 22\r\nA2 NOOP')).toBe(`bob\0bob\0${MASK}\r\nA2 NOOP`);
    });
    it('masks any Bearer credential', () => {
      expect(line('refresh failed: Bearer ya29.a0AfH6SMBx rejected')).toBe(`refresh failed: Bearer ${MASK} rejected`);
    });
    it('leaves base64 that is no SASL message alone', () => {
      const text = `X-GM-MSGID ${base64('just some ordinary bytes here')}`;
      expect(line(text)).toBe(text);
    });
  });

  describe('key=value in text', () => {
    it('masks the value of a sensitive key, in query, header and JSON forms', () => {
      expect(line('GET /cb?code=1&access_token=abcdefgh123&x=1')).toBe(`GET /cb?code=1&access_token=${MASK}&x=1`);
      expect(line('Password: hunter 22')).toBe(`Password: ${MASK}`);
      expect(line('{"user":"bob","password":"hun\\"ter22","ok":true}')).toBe(`{"user":"bob","password":"${MASK}","ok":true}`);
      expect(line('{\\"apiKey\\":\\"k-123456789\\"}')).toBe(`{\\"apiKey\\":\\"${MASK}\\"}`);
    });
    it('masks the password of a URL', () => {
      expect(line('connect imaps://bob:hunter22@imap.example.com:993 failed')).toBe(`connect imaps://bob:${MASK}@imap.example.com:993 failed`);
    });
    it('leaves other keys, times and sequence sets alone', () => {
      const text = 'A1 UID FETCH 1:* (FLAGS) user=bob at 21:52:25 mode=fast';
      expect(line(text)).toBe(text);
    });
  });

  describe('AUTH=', () => {
    it('masks base64 data', () => {
      expect(line('user=alice AUTH=dGhpcyBpcyBhIHNlY3JldA==')).toBe(`user=alice AUTH=${MASK}`);
    });
    it('keeps capability mechanism names', () => {
      expect(line('* CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 AUTH=SCRAM-SHA-256')).toBe(
        '* CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 AUTH=SCRAM-SHA-256',
      );
    });
  });

  describe('FETCH bodies', () => {
    it('redacts a BODY[] literal, counting bytes not characters', () => {
      const body = 'Héllo wörld'; // 13 bytes in UTF-8
      const text = `* 1 FETCH (UID 7 BODY[] {${Buffer.byteLength(body)}}\r\n${body} FLAGS (\\Seen))`;
      expect(line(text)).toBe(`* 1 FETCH (UID 7 BODY[] {13}\r\n${CONTENT_REDACTED} FLAGS (\\Seen))`);
    });
    it('redacts BODY.PEEK[TEXT] with a partial range', () => {
      expect(line('* 2 FETCH (BODY[TEXT]<0> {5}\r\nhello)')).toBe(`* 2 FETCH (BODY[TEXT]<0> {5}\r\n${CONTENT_REDACTED})`);
    });
    it('redacts a quoted body', () => {
      expect(line('* 3 FETCH (BODY[1] "secret text")')).toBe(`* 3 FETCH (BODY[1] "${CONTENT_REDACTED}")`);
    });
    it('redacts RFC822 and BINARY items', () => {
      expect(line('* 4 FETCH (RFC822 {3}\r\nabc)')).toBe(`* 4 FETCH (RFC822 {3}\r\n${CONTENT_REDACTED})`);
      expect(line('* 5 FETCH (BINARY[1] {3}\r\nxyz)')).toBe(`* 5 FETCH (BINARY[1] {3}\r\n${CONTENT_REDACTED})`);
    });
    it('redacts every message of a multi-message response', () => {
      const text = '* 1 FETCH (BODY[] {5}\r\nfirst)\r\n* 2 FETCH (BODY[] {6}\r\nsecond)\r\nA1 OK done';
      const out = line(text);
      expect(out).not.toContain('first');
      expect(out).not.toContain('second');
      expect(out).toContain('A1 OK done');
    });
    it('keeps BODYSTRUCTURE and NIL bodies', () => {
      const text = '* 6 FETCH (BODYSTRUCTURE ("TEXT" "PLAIN" NIL) BODY ("TEXT" "PLAIN") BODY[] NIL)';
      expect(line(text)).toBe(text);
    });
    it('redacts to the end of a truncated literal', () => {
      expect(line('* 7 FETCH (BODY[] {100}\r\nonly part')).toBe(`* 7 FETCH (BODY[] {100}\r\n${CONTENT_REDACTED}`);
    });
    it('redacts literal8 content (the form BINARY responses use), counting bytes', () => {
      const content = 'bïnäry\x00dätâ'; // 15 bytes
      const text = `* 8 FETCH (BINARY[1] ~{${Buffer.byteLength(content)}}\r\n${content} UID 9)\r\nA1 OK done`;
      expect(line(text)).toBe(`* 8 FETCH (BINARY[1] ~{15}\r\n${CONTENT_REDACTED} UID 9)\r\nA1 OK done`);
      expect(line('* 9 FETCH (BINARY.PEEK[1]<0> ~{5}\r\nhello)')).toBe(`* 9 FETCH (BINARY.PEEK[1]<0> ~{5}\r\n${CONTENT_REDACTED})`);
    });
    it('keeps what follows a body literal of multi-byte characters', () => {
      const body = '李雷 says hi'; // 14 bytes, 10 characters
      expect(line(`* 1 FETCH (BODY[] {14}\r\n${body} UID 5)`)).toBe(`* 1 FETCH (BODY[] {14}\r\n${CONTENT_REDACTED} UID 5)`);
      expect(Buffer.byteLength(body)).toBe(14);
    });
    it('redacts the messages of APPEND (literal, literal8, several at once)', () => {
      expect(line('A1 APPEND INBOX (\\Seen) "7-Feb-1994 21:52:25 -0800" {5}\r\nhello\r\nA2 NOOP')).toBe(
        `A1 APPEND INBOX (\\Seen) "7-Feb-1994 21:52:25 -0800" {5}\r\n${CONTENT_REDACTED}\r\nA2 NOOP`,
      );
      expect(line('A1 APPEND {5}\r\nINBOX ~{3}\r\nabc {4+}\r\nwxyz')).toBe(`A1 APPEND {5}\r\nINBOX ~{3}\r\n${CONTENT_REDACTED} {4+}\r\n${CONTENT_REDACTED}`);
    });
  });

  it('leaves ordinary lines untouched', () => {
    expect(line('A3 SELECT INBOX')).toBe('A3 SELECT INBOX');
    expect(line('')).toBe('');
  });
});

describe('sanitizeParsed', () => {
  it('masks sensitive keys at any depth, case-insensitively', () => {
    const out = sanitizeParsed({
      user: 'alice',
      Password: 'x',
      nested: { deeper: [{ accessToken: 'y', apiSecret: 'z', passwd: 'w', authorization: 'v' }] },
    });
    expect(out).toEqual({
      user: 'alice',
      Password: MASK,
      nested: { deeper: [{ accessToken: MASK, apiSecret: MASK, passwd: MASK, authorization: MASK }] },
    });
  });
  it('masks whole subtrees under a sensitive key', () => {
    expect(sanitizeParsed({ auth: { user: 'a', pass: 'b' } })).toEqual({ auth: MASK });
  });
  it.each([
    'pass', 'pwd', 'passphrase', 'apiKey', 'api_key', 'API-KEY', 'x-api-key', 'privateKey', 'private_key', 'credentials',
    'cookie', 'Set-Cookie', 'sessionId', 'session_id', 'JSESSIONID', 'pin', 'PIN', 'simPin', 'user_pass', 'dbPass', 'passcode',
    'PASSWORD', 'pass_word', 'client-secret', 'refreshToken', 'oauth', 'Authorization',
  ])('masks the value of %s', (key) => {
    expect(sanitizeParsed({ [key]: 'value-1234', keep: 'k' })).toEqual({ [key]: MASK, keep: 'k' });
  });
  it('masks credentials as a whole object', () => {
    expect(sanitizeParsed({ credentials: { user: 'bob', secretPart: { nested: 'x' } }, n: 1 })).toEqual({ credentials: MASK, n: 1 });
  });
  it.each(['author', 'authors', 'authorId', 'authority', 'tokenizer', 'bypass', 'passive', 'compass', 'passed', 'pinned', 'mapping', 'shipping', 'spinner'])(
    'keeps %s (no secret, though it looks like one)',
    (key) => {
      expect(sanitizeParsed({ [key]: 'value' })).toEqual({ [key]: 'value' });
    },
  );
  it('sanitizes string values as lines, at any depth', () => {
    const out = sanitizeParsed({ lines: ['A1 LOGIN bob hunter22', { sent: `A2 AUTHENTICATE PLAIN ${base64('\0bob\0hunter33')}` }], note: 'user=bob\x01auth=Bearer ya29.tokentoken\x01\x01' });
    expect(JSON.stringify(out)).not.toMatch(/hunter22|hunter33|ya29/);
    expect(out).toEqual({ lines: [`A1 LOGIN bob ${MASK}`, { sent: `A2 AUTHENTICATE PLAIN ${MASK}` }], note: `user=bob\x01auth=Bearer ${MASK}\x01\x01` });
  });
  it('scrubs a secret found in one string from every other string and key', () => {
    const out = sanitizeParsed({ line: 'A1 LOGIN bob hunter22', args: ['bob', 'hunter22'], hunter22: 'key' });
    expect(out).toEqual({ line: `A1 LOGIN bob ${MASK}`, args: ['bob', MASK], [MASK]: 'key' });
  });
  it('scrubs a long value masked by its key from the rest, but not a short one', () => {
    expect(sanitizeParsed({ password: 'hunter22hunter22', echo: 'was hunter22hunter22', authMethod: 'PLAIN', mech: 'PLAIN' })).toEqual({
      password: MASK,
      echo: `was ${MASK}`,
      authMethod: MASK,
      mech: 'PLAIN',
    });
  });
  it('keeps an own __proto__ key as data without touching any prototype', () => {
    const input = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}');
    const out = sanitizeParsed(input) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.stringify(out)).toBe('{"__proto__":{"polluted":true},"a":1}');
  });
  it('passes scalars and null through', () => {
    expect(sanitizeParsed(null)).toBeNull();
    expect(sanitizeParsed(3)).toBe(3);
    expect(sanitizeParsed('s')).toBe('s');
  });
});

describe('sanitizeEntry', () => {
  it('leaves no trace of a LOGIN password anywhere in the entry', () => {
    const entry = {
      command: 'LOGIN',
      data: {
        raw: 'A1 LOGIN alice "tr0ub4dor&3"',
        parsed: { args: ['alice', 'tr0ub4dor&3'], note: 'password was tr0ub4dor&3' },
        response: 'A1 NO [AUTHENTICATIONFAILED] tr0ub4dor&3 rejected',
        error: 'login failed for alice with tr0ub4dor&3',
        duration: 5,
      },
    };
    const clean = sanitizeEntry(entry);
    expect(JSON.stringify(clean)).not.toContain('tr0ub4dor&3');
    expect(clean.data.raw).toBe(`A1 LOGIN alice ${MASK}`);
    expect(clean.data.parsed).toEqual({ args: ['alice', MASK], note: `password was ${MASK}` });
    expect(clean.data.duration).toBe(5);
  });
  it('does not mutate its input', () => {
    const entry = { command: 'LOGIN', data: { raw: 'A1 LOGIN a b', parsed: { password: 'p' } } };
    const copy = structuredClone(entry);
    sanitizeEntry(entry);
    expect(entry).toEqual(copy);
  });
  it('masks the SASL continuation in the response of an AUTHENTICATE entry and scrubs the decoded password', () => {
    const plain = base64('\0bob\0hunter22');
    const clean = sanitizeEntry({
      command: 'AUTHENTICATE',
      data: { raw: 'A1 AUTHENTICATE PLAIN', response: `+ \r\n${plain}\r\nA1 OK Success`, parsed: { mechanism: 'PLAIN', user: 'bob', copy: 'hunter22' } },
    });
    expect(clean.data.response).toBe(`+ \r\n${MASK}\r\nA1 OK Success`);
    expect(clean.data.parsed).toEqual({ mechanism: 'PLAIN', user: 'bob', copy: MASK });
    expect(JSON.stringify(clean)).not.toMatch(new RegExp(`hunter22|${plain}`));
  });
  it('masks a raw line that is only the continuation when the command is AUTHENTICATE', () => {
    const plain = base64('\0bob\0hunter22');
    expect(sanitizeEntry({ command: 'AUTHENTICATE', data: { raw: plain, response: 'A1 OK' } }).data).toEqual({ raw: MASK, response: 'A1 OK' });
  });
  it('scrubs a found secret from emailAccountId too', () => {
    const clean = sanitizeEntry({ emailAccountId: 'acct-hunter22', command: 'LOGIN', data: { raw: 'A1 LOGIN bob hunter22' } });
    expect(clean.emailAccountId).toBe(`acct-${MASK}`);
  });
  it('takes an entry with a hundred thousand secrets in it (no stack overflow)', () => {
    const clean = sanitizeEntry({ command: 'LOGIN', data: { raw: 'A1 LOGIN bob hunter22\n'.repeat(70_000) } });
    expect(clean.data.raw).not.toContain('hunter22');
  });
  it('keeps a null error and absent fields absent', () => {
    const clean = sanitizeEntry({ command: 'NOOP', data: { error: null } });
    expect(clean.data).toEqual({ error: null });
  });
});

describe('sanitizeJobEvent', () => {
  it('masks password, apiToken and a LOGIN line in the data, keeping userId, jobId and status', () => {
    const event = {
      userId: 'user-1',
      jobId: 'sync-42',
      status: 'failed',
      password: 'hunter22hunter22',
      apiToken: 'tok-123',
      progress: 60,
      error: 'A1 LOGIN bob hunter33 failed',
      result: { lastCommand: 'A1 LOGIN bob hunter33', note: 'retry with hunter22hunter22' },
    };
    const clean = sanitizeJobEvent(event);
    expect(clean).toEqual({
      userId: 'user-1',
      jobId: 'sync-42',
      status: 'failed',
      password: MASK,
      apiToken: MASK,
      progress: 60,
      error: `A1 LOGIN bob ${MASK}`,
      result: { lastCommand: `A1 LOGIN bob ${MASK}`, note: `retry with ${MASK}` },
    });
    expect(Object.keys(clean)).toEqual(Object.keys(event));
  });
  it('sanitizes jobId and status as lines but never masks them by key; keeps userId exactly', () => {
    const clean = sanitizeJobEvent({ userId: 'hunter22-owner', jobId: 'A1 LOGIN bob hunter22', status: 'token=abcdefgh1' });
    expect(clean).toEqual({ userId: 'hunter22-owner', jobId: `A1 LOGIN bob ${MASK}`, status: `token=${MASK}` });
  });
  it('does not mutate its input and keeps an own __proto__ key as data', () => {
    const event = JSON.parse('{"userId":"u","jobId":"j","status":"s","__proto__":{"password":"p"},"secret":"x"}');
    const copy = structuredClone(event);
    const clean = sanitizeJobEvent(event) as Record<string, unknown>;
    expect(event).toEqual(copy);
    expect(Object.getPrototypeOf(clean)).toBe(Object.prototype);
    expect(JSON.stringify(clean)).toBe(`{"userId":"u","jobId":"j","status":"s","__proto__":{"password":"${MASK}"},"secret":"${MASK}"}`);
  });
});
