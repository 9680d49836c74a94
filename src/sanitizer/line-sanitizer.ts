import { endsAtom, isBlank, isBreak, lineEnd, literalAt, nextLine, readArgument, readQuoted, skipBlanks } from './imap-syntax.js';
import { base64SaslSecrets, responseSecrets } from './sasl.js';
import { isSensitiveKey } from './sensitive-keys.js';

/** What replaces a secret. */
export const MASK = '****';
/** What replaces message contents. */
export const CONTENT_REDACTED = '[MESSAGE CONTENT REDACTED]';

/**
 * Secrets found by their key (`password=…` in text, a sensitive key in an object) are scrubbed from the
 * rest of the entry only from this length on: such keys also hold short values that are no secret
 * (`tokenType: Bearer`, `authMethod: PLAIN`) and would mangle unrelated text.
 */
export const MIN_KEYED_SECRET = 8;

/** A mechanism name as a capability lists it (`AUTH=PLAIN`, `AUTH=SCRAM-SHA-256`): not a secret. */
const MECHANISM_NAME = /^[A-Z0-9_-]{1,20}$/;
/** HTTP authentication schemes that precede a credential (`auth=Bearer <token>` in XOAUTH2). */
const AUTH_SCHEME = /^(?:bearer|basic|mac|token|oauth)$/i;
/** A server's tagged status or greeting word, alone on a line: ends a SASL exchange. */
const STATUS_WORD = /^(?:OK|NO|BAD|BYE|PREAUTH)$/i;

/**
 * Where the sanitizer looks closer, found in one pass (explicit letter cases instead of the `i` flag, and
 * no lookbehind: this runs over every string of every entry, and these forms let the engine skip ahead).
 * Groups: 1 a command word, 2 a message-content item word, 3 `Bearer`, 4 `=`, 5 `:`, 6 a NUL, 7 the start
 * of a base64 PLAIN (empty authzid), XOAUTH2 (`user=`) or OAUTHBEARER (`n,` `y,` `p=`) message.
 */
const TRIGGER = new RegExp(
  [
    String.raw`([Ll][Oo][Gg][Ii][Nn]|[Aa][Uu][Tt][Hh][Ee][Nn][Tt][Ii][Cc][Aa][Tt][Ee]|[Aa][Pp][Pp][Ee][Nn][Dd])`,
    String.raw`([Bb][Oo][Dd][Yy]|[Bb][Ii][Nn][Aa][Rr][Yy]|[Rr][Ff][Cc]822)`,
    String.raw`([Bb][Ee][Aa][Rr][Ee][Rr])`,
    '(=)',
    '(:)',
    String.raw`(\x00)`,
    String.raw`((?:A[A-P]|dXNlcj|bi[w-z]|eS[w-z]|cD)[A-Za-z0-9+/]{14})`,
  ].join('|'),
  'g',
);
/** What must follow a command word: blanks (then its arguments). */
const BLANKS = /[ \t]+/y;
/**
 * A message-content item from its first letter, up to its value (sticky). Sections are bounded (the
 * longest real ones list header fields) so a flood of `BODY[` without `]` costs linear time.
 */
const CONTENT_ITEM = /(?:BODY(?:\.PEEK)?\[[^\]\r\n]{0,1024}\]|BINARY(?:\.PEEK)?\[[^\]\r\n]{0,1024}\]|RFC822(?:\.TEXT|\.HEADER)?)(?:<[\d.]{1,24}>)?[ \t]+/iy;
/** Keys in text are at most this long (longer runs are read by their end). */
const MAX_KEY = 64;

export interface LineOptions {
  /**
   * The text may start inside an AUTHENTICATE exchange (the response or continuation of an entry whose
   * command is AUTHENTICATE): its leading client responses are masked too.
   */
  sasl?: boolean;
  /** The exchange's mechanism, when known (LOGIN's second response is the password itself). */
  mechanism?: string;
}

export interface LineResult {
  text: string;
  /** The secrets masked in the line, to scrub wherever else they appear in the entry. */
  secrets: readonly string[];
  /** The mechanism of an AUTHENTICATE command found in the line. */
  mechanism?: string;
}

/** The pieces of the sanitized text, built left to right from the original. */
class Rewrite {
  private out = '';
  private from = 0;
  readonly secrets: string[] = [];
  mechanism: string | undefined;
  constructor(readonly text: string) {}

  /** Replaces `[start, end)` (never before an earlier replacement's end). */
  replace(start: number, end: number, replacement: string): void {
    this.out += this.text.slice(this.from, start) + replacement;
    this.from = end;
  }

  /** Masks `[start, end)` and keeps what it held as a secret. */
  mask(start: number, end: number): void {
    this.secrets.push(this.text.slice(start, end));
    this.replace(start, end, MASK);
  }

  result(): string {
    return this.from === 0 ? this.text : this.out + this.text.slice(this.from);
  }

  private bracket = -1;
  /** The index of the first `]` after `at` (the end of the text if none), remembered across calls. */
  closingBracketAfter(at: number): number {
    if (this.bracket <= at) {
      const found = this.text.indexOf(']', at);
      this.bracket = found < 0 ? this.text.length : found;
    }
    return this.bracket;
  }
}

/**
 * `LOGIN <user> <password>`: masks the password and whatever follows it on its line (junk after the
 * password, or the rest of a malformed line, may be the password or part of it).
 */
function login(r: Rewrite, at: number): number {
  const { text } = r;
  const user = readArgument(text, at, true);
  if (!user) return at;
  if (!user.complete) {
    // A user literal or quoted string that runs past its line swallows the password: hide it all.
    r.mask(at, user.end);
    return user.end;
  }
  if (user.end >= text.length || isBreak(text.charCodeAt(user.end))) return user.end;
  const start = skipBlanks(text, user.end);
  const password = readArgument(text, start, true);
  if (!password) return start;
  const end = lineEnd(text, password.end);
  if (password.complete && text.slice(password.end, end).trim() === '') r.secrets.push(password.value);
  r.mask(start, end);
  return end;
}

/**
 * `AUTHENTICATE <mechanism> [<initial response>]` and the client responses on the lines after it (an
 * initial response of `=`, meaning empty, stays).
 */
function authenticate(r: Rewrite, at: number): number {
  const { text } = r;
  let end = at;
  while (!endsAtom(text, end)) end++;
  if (end === at) return at;
  const mechanism = text.slice(at, end).toUpperCase();
  r.mechanism = mechanism;
  let responses = 0;
  const start = skipBlanks(text, end);
  const initial = readArgument(text, start);
  if (initial) {
    end = lineEnd(text, initial.end);
    if (initial.value !== '=') {
      r.secrets.push(initial.value, ...responseSecrets(initial.value, mechanism, 0));
      r.mask(start, end);
    }
    responses = 1;
  } else {
    end = start;
  }
  const following = nextLine(text, end);
  return following < 0 ? end : saslResponses(r, following, mechanism, responses);
}

/**
 * The client's side of a SASL exchange from the line at `at`: each line that is one word (base64) is a
 * client response and is masked; server challenges (`+ …`) stay; the exchange ends at the first other
 * line (a tagged status, a new command), where scanning resumes.
 */
function saslResponses(r: Rewrite, at: number, mechanism: string | undefined, index: number): number {
  const { text } = r;
  let start = at;
  for (;;) {
    const lineFeed = text.indexOf('\n', start);
    const end = lineFeed < 0 ? text.length : lineFeed > start && text.charCodeAt(lineFeed - 1) === 0x0d ? lineFeed - 1 : lineFeed;
    if (end > start && text.charCodeAt(start) !== 0x2b /* + */) {
      const line = text.slice(start, end);
      if (/[ \t]/.test(line) || STATUS_WORD.test(line)) return start;
      if (line !== '*') {
        r.secrets.push(...responseSecrets(line, mechanism, index++));
        r.mask(start, end);
      }
    }
    if (lineFeed < 0) return text.length;
    start = lineFeed + 1;
  }
}

/** `APPEND <mailbox> [flags] [date] <literal>…`: every literal after the mailbox is a message. */
function append(r: Rewrite, at: number): number {
  const { text } = r;
  const mailbox = readArgument(text, at);
  if (!mailbox) return at;
  let i = mailbox.end;
  while (i < text.length) {
    const code = text.charCodeAt(i);
    if (isBreak(code)) return i;
    if (code === 0x22 /* " */) {
      i = readQuoted(text, i).end;
      continue;
    }
    const literal = literalAt(text, i);
    if (literal) {
      r.replace(literal.contentStart, literal.end, CONTENT_REDACTED);
      i = literal.end;
      continue;
    }
    i++;
  }
  return i;
}

/** The value of `BODY[…]`, `BINARY[…]`, `RFC822…`: a literal's content or a quoted string is redacted; NIL stays. */
function messageContent(r: Rewrite, at: number): number {
  const literal = literalAt(r.text, at);
  if (literal) {
    r.replace(literal.contentStart, literal.end, CONTENT_REDACTED);
    return literal.end;
  }
  if (r.text.charCodeAt(at) !== 0x22) return at;
  const quoted = readQuoted(r.text, at);
  r.replace(at, quoted.end, `"${CONTENT_REDACTED}"`);
  return quoted.end;
}

/** Characters that end a bare value: `"'&;,)]}` and `^A` (blanks and line breaks too). */
const VALUE_END = new Set([0x22, 0x27, 0x26, 0x3b, 0x2c, 0x29, 0x5d, 0x7d, 0x01]);

/** Where a value that stops at separators ends: a blank, a line break, `^A` or one of `"'&;,)]}`. */
function tokenEnd(text: string, i: number): number {
  while (i < text.length) {
    const code = text.charCodeAt(i);
    if (isBlank(code) || isBreak(code) || VALUE_END.has(code)) break;
    i++;
  }
  return i;
}

/**
 * `AUTH=<value>`: a mechanism name (`AUTH=PLAIN` in a capability list) stays; `auth=Bearer <token>` (the
 * decoded XOAUTH2 form) has its token masked; any other value (base64 data) is masked.
 */
function authEquals(r: Rewrite, at: number): number {
  const { text } = r;
  const end = tokenEnd(text, at);
  const value = text.slice(at, end);
  if (AUTH_SCHEME.test(value)) {
    const start = skipBlanks(text, end);
    if (start === end) return end;
    return bearer(r, start);
  }
  if (value === '' || MECHANISM_NAME.test(value)) return end;
  r.mask(at, end);
  return end;
}

/** The credential after `Bearer `. */
function bearer(r: Rewrite, at: number): number {
  const end = tokenEnd(r.text, at);
  if (end > at) r.mask(at, end);
  return end;
}

/** `scheme://user:password@host`, from just after `://`: the password. */
function urlPassword(r: Rewrite, at: number): number {
  const { text } = r;
  let colon = -1;
  for (let i = at; i < text.length; i++) {
    const c = text[i]!;
    if (c === ':' && colon < 0) colon = i;
    else if (c === '@') {
      if (colon >= 0 && i > colon + 1) r.mask(colon + 1, i);
      return i;
    } else if (c === '/' || c === '?' || c === '#' || endsAtom(text, i)) return i;
  }
  return text.length;
}

/**
 * `key=value`, `key: value`, `"key":"value"` (also JSON escaped inside a string) where the key is
 * sensitive: the value is masked: a quoted value to its closing quote; `key: value` with a bare key, as
 * in a header, to the end of its line; otherwise up to a separator.
 */
function assignment(r: Rewrite, at: number, key: string, quote: string | undefined, separator: string): number {
  if (!isSensitiveKey(key)) return at;
  const { text } = r;
  const start = skipBlanks(text, at);
  let end: number;
  let valueStart = start;
  const escaped = text[start] === '\\' && (text[start + 1] === '"' || text[start + 1] === "'");
  const open = escaped ? text.slice(start, start + 2) : text[start];
  if (open === '"' || open === "'" || escaped) {
    valueStart = start + open!.length;
    end = closingQuote(text, valueStart, open!);
  } else if (separator === ':' && quote === undefined) {
    end = lineEnd(text, start);
    while (end > start && isBlank(text.charCodeAt(end - 1))) end--;
  } else {
    end = tokenEnd(text, start);
  }
  if (end <= valueStart) return start;
  const value = text.slice(valueStart, end);
  r.replace(valueStart, end, MASK);
  if (value.length >= MIN_KEYED_SECRET) r.secrets.push(value);
  // A value quoted in JSON text may hold escapes; the secret itself is the unescaped text.
  if (value.includes('\\') && value.length >= MIN_KEYED_SECRET) r.secrets.push(value.replace(/\\(.)/g, '$1'));
  return end;
}

/**
 * Where a quoted value that starts at `from` ends: at its closing quote (backslash escapes skipped), or
 * at the end of its line when it has none. `open` is the quote, or an escaped quote (`\"`, JSON inside a string).
 */
function closingQuote(text: string, from: number, open: string): number {
  const quote = open[open.length - 1];
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === '\r' || c === '\n') return i;
    if (open.length === 2 ? c === '\\' && text[i + 1] === quote : c === quote) return i;
    if (c === '\\' && open.length === 1) i++;
  }
  return text.length;
}

/** A decoded PLAIN message, `[authzid] NUL authcid NUL password`: the password, up to the end of its line. */
function plainPassword(r: Rewrite, at: number): number {
  const { text } = r;
  let second = at + 1;
  while (second < text.length && text.charCodeAt(second) !== 0) {
    if (isBreak(text.charCodeAt(second))) return second;
    second++;
  }
  if (second >= text.length) return second;
  let end = second + 1;
  while (end < text.length && text.charCodeAt(end) !== 0 && !isBreak(text.charCodeAt(end))) end++;
  if (end === second + 1) return second; // an empty password: the second NUL may start the next message
  r.mask(second + 1, end);
  return end;
}

/** A base64 token that decodes to a PLAIN, XOAUTH2 or OAUTHBEARER message. */
function base64Message(r: Rewrite, at: number, token: string): number {
  const secrets = base64SaslSecrets(token);
  if (secrets) {
    r.secrets.push(...secrets);
    r.mask(at, at + token.length);
  }
  return at + token.length;
}

const isWordCode = (code: number) =>
  (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || code === 0x5f;
const isLetterCode = (code: number) => (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
const isKeyCode = (code: number) => isWordCode(code) || code === 0x2d /* - */ || code === 0x2e /* . */;
const isBase64Code = (code: number) => isWordCode(code) ? code !== 0x5f : code === 0x2b /* + */ || code === 0x2f /* / */;

/**
 * Where the key that ends just before `end` starts (`[\w.-]` back from `end`, at most MAX_KEY), or `end`
 * when there is none: a key starts with a letter (`21:52`, `1:*` have no key).
 */
function keyStart(text: string, end: number): number {
  let start = end;
  while (start > 0 && end - start < MAX_KEY && isKeyCode(text.charCodeAt(start - 1))) start--;
  while (start < end && !isLetterCode(text.charCodeAt(start))) start++;
  return start;
}

/** Whether a word starts at `i`: the text starts there or the character before is no word character. */
const wordStartsAt = (text: string, i: number) => i === 0 || !isWordCode(text.charCodeAt(i - 1));

/** What may stand before a command word: a blank, a line break, or one of `"'(:`. */
const BEFORE_COMMAND = new Set([0x20, 0x09, 0x0d, 0x0a, 0x22, 0x27, 0x28, 0x3a]);

/** A command word at `at` counts when it stands where a command stands: at the start, after a blank or one of `"'(:`. */
function commandAt(r: Rewrite, at: number, word: string): number {
  const { text } = r;
  if (at > 0 && !BEFORE_COMMAND.has(text.charCodeAt(at - 1))) return at + 1;
  BLANKS.lastIndex = at + word.length;
  if (!BLANKS.test(text)) return at + 1;
  const args = BLANKS.lastIndex;
  const command = word.toUpperCase();
  return command === 'LOGIN' ? login(r, args) : command === 'AUTHENTICATE' ? authenticate(r, args) : append(r, args);
}

function contentItemAt(r: Rewrite, at: number, word: string): number {
  if (!wordStartsAt(r.text, at)) return at + 1;
  // BODY and BINARY go on with `[` or `.PEEK[`: not BODYSTRUCTURE, nor BODY alone (its short form).
  const after = r.text.charCodeAt(at + word.length);
  if ((word[0] === 'B' || word[0] === 'b') && after !== 0x5b /* [ */ && after !== 0x2e /* . */) return at + 1;
  // BODY[ and BINARY[ need their `]` near: found once per text, not once per hit.
  const rfc822 = (r.text.charCodeAt(at) | 0x20) === 0x72; /* r */
  if (!rfc822 && r.closingBracketAfter(at) - at > 1050) return at + 1;
  CONTENT_ITEM.lastIndex = at;
  if (!CONTENT_ITEM.test(r.text)) return at + 1;
  return messageContent(r, CONTENT_ITEM.lastIndex);
}

function bearerAt(r: Rewrite, at: number): number {
  if (!wordStartsAt(r.text, at)) return at + 1;
  BLANKS.lastIndex = at + 'Bearer'.length;
  return BLANKS.test(r.text) ? bearer(r, BLANKS.lastIndex) : at + 1;
}

/** `=`: `AUTH=…`, or `key=value`. */
function equalsAt(r: Rewrite, at: number): number {
  const start = keyStart(r.text, at);
  if (start === at) return at + 1;
  const key = r.text.slice(start, at);
  return key.toUpperCase() === 'AUTH' ? authEquals(r, at + 1) : assignment(r, at + 1, key, undefined, '=');
}

/** `:`: `scheme://user:password@`, or `key: value`, `"key": value` (the quote possibly escaped). */
function colonAt(r: Rewrite, at: number): number {
  const { text } = r;
  if (text.startsWith('//', at + 1)) return keyStart(text, at) < at ? urlPassword(r, at + 3) : at + 3;
  let end = at;
  while (end > 0 && at - end < MAX_KEY && isBlank(text.charCodeAt(end - 1))) end--;
  let quote: string | undefined;
  if (end > 0 && (text[end - 1] === '"' || text[end - 1] === "'")) {
    quote = text[end - 1];
    end--;
    if (end > 0 && text[end - 1] === '\\') end--;
  }
  const start = keyStart(text, end);
  if (start === end) return at + 1;
  return assignment(r, at + 1, text.slice(start, end), quote, ':');
}

function base64At(r: Rewrite, at: number): number {
  const { text } = r;
  if (at > 0 && isBase64Code(text.charCodeAt(at - 1))) return at + 1;
  let end = at;
  while (end < text.length && isBase64Code(text.charCodeAt(end))) end++;
  if (text[end] === '=') end += text[end + 1] === '=' ? 2 : 1;
  if (end < text.length && (isBase64Code(text.charCodeAt(end)) || text[end] === '=')) return end;
  return base64Message(r, at, text.slice(at, end));
}

function scan(r: Rewrite, options: LineOptions): void {
  const { text } = r;
  let position = options.sasl ? saslResponses(r, 0, options.mechanism, 0) : 0;
  while (position < text.length) {
    TRIGGER.lastIndex = position;
    const m = TRIGGER.exec(text);
    if (!m) return;
    const at = m.index;
    let next: number;
    if (m[1] !== undefined) next = commandAt(r, at, m[1]);
    else if (m[2] !== undefined) next = contentItemAt(r, at, m[2]);
    else if (m[3] !== undefined) next = bearerAt(r, at);
    else if (m[4] !== undefined) next = equalsAt(r, at);
    else if (m[5] !== undefined) next = colonAt(r, at);
    else if (m[6] !== undefined) next = plainPassword(r, at);
    else next = base64At(r, at);
    position = Math.max(next, at + 1);
  }
}

const NO_OPTIONS: LineOptions = {};
const NO_SECRETS: readonly string[] = Object.freeze([]);

/** Sanitizes one protocol line or text (a raw command, a response, an error, a string inside `parsed`). */
export function sanitizeLine(line: string, options: LineOptions = NO_OPTIONS): LineResult {
  if (!options.sasl) {
    // Most texts hold nothing to look at: answer without building anything.
    TRIGGER.lastIndex = 0;
    if (!TRIGGER.test(line)) return { text: line, secrets: NO_SECRETS };
  }
  const rewrite = new Rewrite(line);
  scan(rewrite, options);
  const secrets = rewrite.secrets.filter((s) => s.length > 0);
  return rewrite.mechanism === undefined ? { text: rewrite.result(), secrets } : { text: rewrite.result(), secrets, mechanism: rewrite.mechanism };
}
