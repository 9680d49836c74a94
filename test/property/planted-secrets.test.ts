import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MASK, sanitizeEntry, sanitizeJobEvent } from '../../src/sanitizer/sanitizer.js';

/**
 * Generated IMAP exchanges, `parsed` objects and job events, each with a secret planted where the
 * sanitizer must find it; the secret must never show in the sanitized result.
 *
 * Collisions are impossible by construction: every secret is cut by MARK every few characters
 * (`!ab!c!de!`) and nothing else generated contains MARK, nor does anything the sanitizer writes. So
 * the check is stronger than "the secret is absent": no MARK at all may survive, which also catches a
 * leaked part of a secret (a mis-parse that masks all but its end), its IMAP-quoted form (`\"` escapes)
 * and its JSON-escaped form.
 */
const MARK = '!';
const RUNS = 300;

const LOWER = [...'abcdefghijklmnopqrstuvwxyz0123456789'];
/** ATOM-CHAR (RFC 9051) without MARK. */
const ATOM = [...LOWER, ...'#$&+-./:;<=>?@^_|~'];
/** What a quoted string may hold (escaped where needed), non-ASCII included. */
const QUOTED = [...ATOM, ' ', '"', '\\', '(', ')', '{', '}', '%', '*', ']', 'é', 'ø', '李', '😀'];
/** What a literal may hold: anything, line breaks too. */
const LITERAL = [...QUOTED, '\r\n', '\n'];
/** A bearer token or a `key=value` value. */
const TOKEN = [...LOWER, ...'-._~+/'];
/** A URL's password: no `/`, `:`, `@`. */
const URL_PASSWORD = [...LOWER, ...'-._~+$'];

/** A secret over `alphabet`, at least 9 characters, cut by MARK every one to three characters. */
function secretOver(alphabet: string[]): fc.Arbitrary<string> {
  return fc
    .array(fc.string({ unit: fc.constantFrom(...alphabet), minLength: 1, maxLength: 3 }), { minLength: 4, maxLength: 7 })
    .map((parts) => `${MARK}${parts.join(MARK)}${MARK}`);
}

const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const bytes = (text: string) => Buffer.byteLength(text, 'utf8');
const quote = (text: string) => `"${text.replace(/[\\"]/g, '\\$&')}"`;

type Form = 'atom' | 'quoted' | 'literal' | 'literal+' | 'literal8';

/** An IMAP argument: `value` in `form`; a synchronizing literal in a transcript shows the server's `+` line. */
function encode(value: string, form: Form, transcript = false): string {
  switch (form) {
    case 'atom':
      return value;
    case 'quoted':
      return quote(value);
    case 'literal':
      return `{${bytes(value)}}\r\n${transcript ? '+ Ready for literal data\r\n' : ''}${value}`;
    case 'literal+':
      return `{${bytes(value)}+}\r\n${value}`;
    case 'literal8':
      return `~{${bytes(value)}}\r\n${value}`;
  }
}

const tag = fc.stringMatching(/^[A-Z][0-9]{1,4}$/);
/** Users: ASCII atoms, or UTF-8 (李雷, bøbø) in quoted strings and literals. */
const userValue = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@._'), minLength: 1, maxLength: 12 }),
  fc.constantFrom('李雷', 'bøbø', 'Ünïcødé@example.com', '韩梅梅 👩'),
);
const user = fc.tuple(userValue, fc.constantFrom<Form>('quoted', 'literal', 'literal+', 'atom')).map(([value, form]) => ({
  value,
  form: form === 'atom' && !/^[\x21-\x7e]+$/.test(value) ? ('quoted' as Form) : form,
}));

/** Lines around the interesting one; none holds MARK or anything the sanitizer changes. */
const filler = fc.constantFrom(
  'A0 ID ("name" "livetail" "version" "1.0" "vendor" "example")',
  '* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID IDLE AUTH=PLAIN AUTH=XOAUTH2 AUTH=LOGIN] ready',
  'A8 SELECT INBOX',
  'A9 UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)',
  '* 3 FETCH (UID 7 BODYSTRUCTURE ("TEXT" "PLAIN" NIL NIL NIL "7BIT" 12 1))',
  'A7 NOOP',
);
const fillers = fc.array(filler, { maxLength: 2 });

interface Case {
  entry: { command: string; emailAccountId: string; data: { raw?: string; response?: string; error?: string | null; parsed?: unknown } };
  /** Strings besides the secret that must not survive (base64 forms). */
  forbidden: string[];
  /** Text the sanitized raw must still hold (nothing around a secret is corrupted). */
  kept: string[];
}

const joinLines = (lines: string[]) => lines.join('\r\n');

/** LOGIN with every argument form, in raw or inside a string elsewhere, among other lines. */
const loginCase: fc.Arbitrary<Case> = fc
  .record({
    tag,
    user,
    password: fc.oneof(
      secretOver(ATOM).map((value) => ({ value, form: 'atom' as Form })),
      secretOver(QUOTED).map((value) => ({ value, form: 'quoted' as Form })),
      fc.tuple(secretOver(LITERAL), fc.constantFrom<Form>('literal', 'literal+', 'literal8')).map(([value, form]) => ({ value, form })),
    ),
    transcript: fc.boolean(),
    before: fillers,
    after: fillers,
    where: fc.constantFrom('raw', 'error', 'parsed'),
    echo: fc.boolean(),
  })
  .map(({ tag, user, password, transcript, before, after, where, echo }) => {
    const head = `${tag} LOGIN ${encode(user.value, user.form, transcript)}`;
    const text = joinLines([...before, `${head} ${encode(password.value, password.form, transcript)}`, ...after]);
    const data: Case['entry']['data'] = { response: `${tag} OK LOGIN completed` };
    if (where === 'raw') data.raw = text;
    else if (where === 'error') data.error = text;
    else data.parsed = { sent: [text] };
    // A parser that copied the arguments: the password must be scrubbed there too.
    if (echo && where === 'raw') data.parsed = { args: [user.value, password.value] };
    return { entry: { command: 'LOGIN', emailAccountId: 'acct-1', data }, forbidden: [], kept: where === 'raw' ? [...before, `${head} ${MASK}`, ...after] : [] };
  });

/** A SASL client message with a secret inside, and the mechanism that sends it. */
const saslMessage = fc.oneof(
  fc.tuple(userValue, secretOver(QUOTED), fc.boolean()).map(([u, secret, authzid]) => ({ mechanism: 'PLAIN', secret, responses: [`${authzid ? u : ''}\0${u}\0${secret}`] })),
  fc.tuple(userValue, secretOver(TOKEN)).map(([u, secret]) => ({ mechanism: 'XOAUTH2', secret, responses: [`user=${u}\x01auth=Bearer ${secret}\x01\x01`] })),
  fc.tuple(userValue, secretOver(TOKEN)).map(([u, secret]) => ({
    mechanism: 'OAUTHBEARER',
    secret,
    responses: [`n,a=${u},\x01host=imap.example.com\x01port=993\x01auth=Bearer ${secret}\x01\x01`],
  })),
  fc.tuple(userValue, secretOver(QUOTED)).map(([u, secret]) => ({ mechanism: 'LOGIN', secret, responses: [u, secret] })),
);

/** AUTHENTICATE with and without SASL-IR, the client's responses in raw, in response, or logged alone. */
const authenticateCase: fc.Arbitrary<Case> = fc
  .record({
    tag,
    message: saslMessage,
    form: fc.constantFrom('sasl-ir', 'raw-continuation', 'response-continuation', 'continuation-alone'),
    challenge: fc.boolean(),
    before: fillers,
    echo: fc.boolean(),
  })
  .map(({ tag, message, form, challenge, before, echo }) => {
    const encoded = message.responses.map(base64);
    const plus = challenge ? ['+ '] : [];
    const exchange = encoded.flatMap((line) => [...plus, line]);
    const command = `${tag} AUTHENTICATE ${message.mechanism}`;
    const done = `${tag} OK AUTHENTICATE completed`;
    let data: Case['entry']['data'];
    let entryCommand = 'AUTHENTICATE';
    if (form === 'sasl-ir') {
      const [first, ...rest] = encoded;
      data = { raw: joinLines([...before, `${command} ${first}`, ...rest.flatMap((line) => [...plus, line])]), response: done };
      entryCommand = 'IMAP';
    } else if (form === 'raw-continuation') {
      data = { raw: joinLines([...before, command, ...exchange]), response: done };
      entryCommand = 'IMAP';
    } else if (form === 'response-continuation') {
      data = { raw: command, response: joinLines([...(exchange.length > 0 && !challenge ? ['+ '] : []), ...exchange, done]) };
    } else {
      data = { raw: joinLines(encoded), response: done };
    }
    // A parser that decoded the exchange and kept the secret under a name that says nothing.
    if (echo) data.parsed = { mechanism: message.mechanism, decoded: [message.secret] };
    return { entry: { command: entryCommand, emailAccountId: 'acct-1', data }, forbidden: encoded.filter((e) => e.length >= 8), kept: [] };
  });

/** Message contents (literal, literal+, literal8, quoted) in FETCH responses and APPEND commands. */
const contentCase: fc.Arbitrary<Case> = fc
  .record({
    tag,
    content: secretOver(LITERAL),
    item: fc.constantFrom('BODY[]', 'BODY[TEXT]', 'BODY.PEEK[1]<0>', 'BINARY[1]', 'BINARY.PEEK[2]', 'RFC822', 'RFC822.TEXT'),
    literal: fc.constantFrom<Form>('literal', 'literal+', 'literal8'),
    append: fc.boolean(),
    after: fillers,
  })
  .map(({ tag, content, item, literal, append, after }) => {
    const kept = after;
    if (append) {
      const raw = joinLines([`${tag} APPEND INBOX (\\Seen) ${encode(content, literal === 'literal+' ? 'literal+' : literal)}`, ...after]);
      return { entry: { command: 'APPEND', emailAccountId: 'acct-1', data: { raw, response: `${tag} OK APPEND completed` } }, forbidden: [], kept };
    }
    const response = joinLines([`* 1 FETCH (UID 7 ${item} ${encode(content, literal === 'literal+' ? 'literal' : literal)} FLAGS (\\Seen))`, ...after, `${tag} OK FETCH completed`]);
    return { entry: { command: 'FETCH', emailAccountId: 'acct-1', data: { raw: `${tag} UID FETCH 7 (${item})`, response } }, forbidden: [], kept: [] };
  });

/** Keys that name a secret, the way people write them. */
const sensitiveKey = fc
  .tuple(
    fc.constantFrom('password', 'passwd', 'pass', 'pwd', 'passphrase', 'secret', 'token', 'auth', 'api key', 'private key', 'credentials', 'cookie', 'session id', 'pin', 'access token', 'client secret'),
    fc.constantFrom('', 'user', 'db', 'smtp', 'x'),
    fc.constantFrom('camel', 'snake', 'kebab', 'upper-snake', 'pascal'),
  )
  .map(([name, prefix, style]) => {
    const words = [...(prefix ? [prefix] : []), ...name.split(' ')];
    const cap = (w: string) => w[0]!.toUpperCase() + w.slice(1);
    switch (style) {
      case 'camel':
        return words[0] + words.slice(1).map(cap).join('');
      case 'pascal':
        return words.map(cap).join('');
      case 'snake':
        return words.join('_');
      case 'kebab':
        return words.join('-');
      default:
        return words.join('_').toUpperCase();
    }
  });

/** A string that holds a secret in a form the sanitizer recognizes wherever it is. */
const secretString: fc.Arbitrary<{ text: string; forbidden: string[] }> = fc.oneof(
  fc.tuple(tag, secretOver(ATOM)).map(([t, s]) => ({ text: `${t} LOGIN bob ${s}`, forbidden: [] })),
  fc.tuple(tag, secretOver(QUOTED)).map(([t, s]) => ({ text: `command was ${t} LOGIN {${bytes('李雷')}}\r\n李雷 ${quote(s)}`, forbidden: [] })),
  fc.tuple(userValue, secretOver(TOKEN)).map(([u, s]) => ({ text: `user=${u}\x01auth=Bearer ${s}\x01\x01`, forbidden: [] })),
  fc.tuple(userValue, secretOver(QUOTED)).map(([u, s]) => ({ text: `\0${u}\0${s}`, forbidden: [] })),
  fc.tuple(userValue, secretOver(QUOTED)).map(([u, s]) => ({ text: `initial response ${base64(`\0${u}\0${s}`)}`, forbidden: [base64(`\0${u}\0${s}`)] })),
  fc.tuple(userValue, secretOver(TOKEN)).map(([u, s]) => {
    const b64 = base64(`user=${u}\x01auth=Bearer ${s}\x01\x01`);
    return { text: b64, forbidden: [b64] };
  }),
  secretOver(TOKEN).map((s) => ({ text: `refresh failed: Authorization: Bearer ${s}`, forbidden: [] })),
  fc.tuple(sensitiveKey, secretOver(TOKEN), fc.constantFrom('=', ': ', '":"')).map(([k, s, sep]) => ({
    text: sep === '":"' ? `{"${k}":"${s}","ok":true}` : `${k}${sep}${s}`,
    forbidden: [],
  })),
  secretOver(URL_PASSWORD).map((s) => ({ text: `connect imaps://bob:${s}@imap.example.com:993 failed`, forbidden: [] })),
);

/** Anything else a producer puts in `parsed` or a job event; never MARK. */
const benignKey = fc.oneof(
  fc.constantFrom('sequence', 'items', 'mailbox', 'uid', 'flags', 'count', 'note', 'detail', 'args', 'result', 'progress', 'step', 'author', 'tokenizer', 'bypass'),
  fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'), minLength: 1, maxLength: 8 }),
);
const benignValue = fc.oneof(
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz ABCDEFG0123456789:*()'), maxLength: 20 }),
);
const benignObject = fc.dictionary(benignKey, fc.oneof(benignValue, fc.array(benignValue, { maxLength: 3 })), { maxKeys: 4 });

/** One planted member: a secret under a sensitive key (a string, inside an object or an array), or a secret string under any key. */
const plantedMember: fc.Arbitrary<{ key: string; value: unknown; forbidden: string[] }> = fc.oneof(
  fc.tuple(sensitiveKey, secretOver(QUOTED)).map(([key, s]) => ({ key, value: s, forbidden: [] })),
  fc.tuple(sensitiveKey, secretOver(QUOTED), benignObject).map(([key, s, rest]) => ({ key, value: { ...rest, value: s }, forbidden: [] })),
  fc.tuple(sensitiveKey, secretOver(QUOTED)).map(([key, s]) => ({ key, value: [s, 1], forbidden: [] })),
  fc.tuple(benignKey, secretString).map(([key, s]) => ({ key, value: s.text, forbidden: s.forbidden })),
  fc.tuple(benignKey, secretString).map(([key, s]) => ({ key, value: ['first', s.text], forbidden: s.forbidden })),
);

/** An object with the planted member at some depth among benign members. */
const plantedObject: fc.Arbitrary<{ value: Record<string, unknown>; forbidden: string[] }> = fc
  .tuple(benignObject, plantedMember, fc.array(fc.tuple(benignKey, benignObject, fc.boolean()), { maxLength: 3 }))
  .map(([outer, member, path]) => {
    let value: Record<string, unknown> = { ...outer, [member.key]: member.value };
    for (const [key, siblings, inArray] of path) value = { ...siblings, [key]: inArray ? [value] : value };
    return { value, forbidden: member.forbidden };
  });

const parsedCase: fc.Arbitrary<Case> = plantedObject.map(({ value, forbidden }) => ({
  entry: { command: 'FETCH', emailAccountId: 'acct-1', data: { raw: 'A1 UID FETCH 1:* (FLAGS)', parsed: value, response: 'A1 OK' } },
  forbidden,
  kept: ['A1 UID FETCH 1:* (FLAGS)'],
}));

/** Every form in which the secret (or a part of it) could show, as text that a user can read. */
function expectNoSecret(clean: unknown, forbidden: string[]): void {
  const serialized = JSON.stringify(clean);
  expect(serialized).not.toContain(MARK);
  for (const f of forbidden) {
    expect(serialized).not.toContain(f);
    expect(serialized).not.toContain(JSON.stringify(f).slice(1, -1));
  }
}

describe('planted secrets never survive the sanitizer (fast-check)', () => {
  it.each([
    ['LOGIN lines (atom, quoted, literal, LITERAL+, literal8, UTF-8 users, transcripts)', loginCase],
    ['AUTHENTICATE PLAIN / LOGIN / XOAUTH2 / OAUTHBEARER, with and without SASL-IR, continuations in raw or response', authenticateCase],
    ['message contents in FETCH (BODY, BINARY literal8, RFC822) and APPEND', contentCase],
    ['parsed objects with a secret under a sensitive key or in a string', parsedCase],
  ])(`%s (${RUNS} runs)`, (_what, cases) => {
    fc.assert(
      fc.property(cases as fc.Arbitrary<Case>, ({ entry, forbidden, kept }) => {
        const clean = sanitizeEntry(entry);
        expectNoSecret(clean, forbidden);
        for (const text of kept) expect(clean.data.raw).toContain(text);
      }),
      { numRuns: RUNS },
    );
  });

  it(`job events with a secret in the data, jobId or status (${RUNS} runs)`, () => {
    const where = fc.constantFrom('member', 'jobId', 'status');
    fc.assert(
      fc.property(plantedObject, secretString, where, fc.stringMatching(/^job-[0-9]{1,6}$/), fc.constantFrom('active', 'completed', 'failed'), (planted, inLine, at, jobId, status) => {
        const event = {
          ...(at === 'member' ? planted.value : {}),
          userId: 'user-1',
          jobId: at === 'jobId' ? inLine.text : jobId,
          status: at === 'status' ? inLine.text : status,
        };
        const clean = sanitizeJobEvent(event);
        expectNoSecret(clean, at === 'member' ? planted.forbidden : inLine.forbidden);
        expect(clean.userId).toBe('user-1');
        if (at !== 'jobId') expect(clean.jobId).toBe(jobId);
        if (at !== 'status') expect(clean.status).toBe(status);
      }),
      { numRuns: RUNS },
    );
  });
});
