import { describe, expect, it } from 'vitest';
import { CONTENT_REDACTED, MASK, sanitizeEntry, sanitizeLine, sanitizeParsed } from '../../src/logs/sanitizer.js';

const line = (text: string) => sanitizeLine(text).text;

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
  it('keeps a null error and absent fields absent', () => {
    const clean = sanitizeEntry({ command: 'NOOP', data: { error: null } });
    expect(clean.data).toEqual({ error: null });
  });
});
